"""Target: Temporal Cloud namespaces, through the Cloud Operations API.

The same desired namespaces as the self-hosted target (one per route the
account serves), written with ``temporalio.client.CloudOperationsClient``:
``GetNamespaces`` to read, ``CreateNamespace`` (region, retention, API-key
auth, search attributes), ``UpdateNamespace`` with the ``resource_version``
just read, ``UpdateNamespaceTags`` for the ownership and deprecation marks
(Cloud namespaces have tags, not a data map), ``DeleteNamespace``.

Cloud specifics, and what they mean here:

- Every change is an *async operation*: the namespace shows a non-active state
  until it finishes. Such a namespace is reported as "operation in progress" and
  gets no write in that pass (the next pass sees the result). Creates carry an
  ``async_operation_id`` derived from the project, name and spec, the API's
  idempotency key, so a create retried after a crash is not run twice.
- Cloud cannot remove a search attribute; an attribute removed from the specs
  stays (only desired attributes are compared).
- Whether a Cloud namespace still has open workflows is a data-plane question;
  without a ``count_open`` function (a client on the namespace's endpoint) use is
  unknown and the namespace is never deleted (deprecated only).

No Temporal Cloud is reachable from this machine: the target is tested at the
request level against an in-process gRPC implementation of ``CloudService``
(``tests/operator/cloud_fake.py``), with the real protos and the real client.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.api.cloud.cloudservice.v1 import (
    CreateNamespaceRequest,
    DeleteNamespaceRequest,
    GetNamespaceRequest,
    GetNamespacesRequest,
    UpdateNamespaceRequest,
    UpdateNamespaceTagsRequest,
)
from temporalio.api.cloud.namespace.v1 import ApiKeyAuthSpec, Namespace, NamespaceSpec
from temporalio.api.cloud.resource.v1 import ResourceState
from temporalio.client import CloudOperationsClient
from temporalio.service import RPCError, RPCStatusCode

from paved.operator import _marks as marks
from paved.operator._target import (
    Change,
    Desired,
    Inputs,
    Key,
    Observed,
    Op,
    OperatorError,
    Snapshot,
    TerminalError,
)
from paved.operator._temporal import NAMESPACE, SEARCH_ATTRIBUTE, namespace_objects
from paved.specs import Route

_SA = NamespaceSpec.SearchAttributeType
_TYPES = {
    "Text": _SA.SEARCH_ATTRIBUTE_TYPE_TEXT,
    "Keyword": _SA.SEARCH_ATTRIBUTE_TYPE_KEYWORD,
    "Int": _SA.SEARCH_ATTRIBUTE_TYPE_INT,
    "Double": _SA.SEARCH_ATTRIBUTE_TYPE_DOUBLE,
    "Bool": _SA.SEARCH_ATTRIBUTE_TYPE_BOOL,
    "Datetime": _SA.SEARCH_ATTRIBUTE_TYPE_DATETIME,
    "KeywordList": _SA.SEARCH_ATTRIBUTE_TYPE_KEYWORD_LIST,
}
_TYPE_NAMES = {v: k for k, v in _TYPES.items()}
_BUSY = {
    ResourceState.RESOURCE_STATE_ACTIVATING,
    ResourceState.RESOURCE_STATE_UPDATING,
    ResourceState.RESOURCE_STATE_DELETING,
}


def _k(mark: str) -> str:
    """Cloud tag key of a mark: ``paved.io/owner`` -> ``paved-owner``. Conservative
    (lowercase, digits, '-'), as Cloud's tag rules could not be checked from here."""
    return mark.replace(marks.PREFIX, "paved-")


def _deprecated_since(tags: dict[str, str]) -> float | None:
    v = tags.get(_k(marks.DEPRECATED_AT), "")
    return float(v) if v.isdigit() else None


class CloudNamespaces:
    """The ``Target`` for the namespaces of one Temporal Cloud account.

    Args:
        project: the project name (ownership tag ``paved-operator/<project>``).
        connect: returns a ``CloudOperationsClient`` (lazily; again after a failure).
        cloud_region: Paved region -> Cloud region (``{"eu": "aws-eu-west-1"}``).
        select: which routes live in this account (default: all).
        count_open: open workflows of a namespace (data plane); None: unknown, never deleted.
    """

    kinds = (NAMESPACE,)
    deprecate_first = frozenset({NAMESPACE})
    cache_desired = True  # desired() reads the inputs only

    def __init__(
        self,
        project: str,
        connect: Callable[[], Awaitable[CloudOperationsClient]],
        *,
        cloud_region: dict[str, str],
        name: str = "cloud",
        select: Callable[[Route], bool] | None = None,
        count_open: Callable[[str], Awaitable[int]] | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.project = project
        self._connect = connect
        self._client: CloudOperationsClient | None = None
        self._regions = cloud_region
        self._select = select
        self._count_open = count_open
        self._timeout = timedelta(seconds=timeout)
        self._ids: dict[str, str] = {}  # name -> account-qualified namespace id
        self._manager = f"paved-operator-{project}"
        self.writes: Counter[str] = Counter()

    async def client(self) -> CloudOperationsClient:
        if self._client is None:
            self._client = await self._connect()
        return self._client

    def desired(self, inputs: Inputs) -> list[Desired]:
        objs = namespace_objects(inputs, self._select)
        attrs: dict[str, dict[str, str]] = {}
        for d in objs:
            if d.kind == SEARCH_ATTRIBUTE and d.parent is not None:
                attrs.setdefault(d.parent[1], {})[d.name.rpartition("/")[2]] = str(d.spec["type"])
        out = []
        for d in objs:
            if d.kind != NAMESPACE:
                continue
            spec = dict(d.spec)
            spec.pop("description", None)  # Cloud namespaces have none
            region = str(spec["region"])
            if region not in self._regions:
                raise TerminalError(
                    f"{self.name}: region {region!r} has no Cloud region",
                    code="PAVED-OPERATOR-CLOUD-REGION",
                    fix=f"map it: cloud_region={{{region!r}: 'aws-...'}}",
                )
            spec["cloud_region"] = self._regions[region]
            spec["search_attributes"] = attrs.get(d.name, {})
            out.append(Desired(NAMESPACE, d.name, spec))
        return out

    async def observe(self, desired: Sequence[Desired]) -> Snapshot:
        try:
            client = await self.client()
            found = await self._list(client)
        except Exception:
            self._client = None
            raise
        wanted = {d.name: d for d in desired}
        objects: list[Observed] = []
        errors: dict[Key, str] = {}
        for name, ns in found.items():
            tags = dict(ns.tags)
            owned = tags.get(_k(marks.MANAGED_BY)) == self._manager
            if not owned and name not in wanted:
                continue
            self._ids[name] = ns.namespace
            if ns.state in _BUSY:
                state = ResourceState.Name(ns.state).removeprefix("RESOURCE_STATE_").lower()
                errors[(NAMESPACE, name)] = f"operation in progress ({state})"
            in_use: int | None = 0
            if owned and name not in wanted:
                in_use = None
                if self._count_open is not None:
                    try:
                        in_use = await self._count_open(ns.namespace)
                    except Exception as e:
                        errors[(NAMESPACE, name)] = f"counting open workflows failed: {e}"
            want_attrs = wanted[name].spec.get("search_attributes", {}) if name in wanted else {}
            have = {k: _TYPE_NAMES.get(v, str(v)) for k, v in ns.spec.search_attributes.items()}
            spec: dict[str, Any] = {
                "retention_days": ns.spec.retention_days,
                "cloud_region": ns.spec.regions[0] if ns.spec.regions else None,
                "search_attributes": {k: v for k, v in have.items() if k in want_attrs},
                "owner": tags.get(_k(marks.OWNER)),
                "logical": tags.get(_k(marks.LOGICAL)),
                "region": tags.get(_k(marks.REGION)),
                "environment": tags.get(_k(marks.ENVIRONMENT)),
                "tier": int(tags[_k(marks.TIER)])
                if tags.get(_k(marks.TIER), "").isdigit()
                else None,
            }
            objects.append(
                Observed(
                    NAMESPACE,
                    name,
                    spec,
                    owned=owned,
                    deprecated_since=_deprecated_since(tags) if owned else None,
                    in_use=in_use,
                )
            )
        return Snapshot(objects, errors)

    async def _list(self, client: CloudOperationsClient) -> dict[str, Namespace]:
        out: dict[str, Namespace] = {}
        token = ""
        while True:
            page = await client.cloud_service.get_namespaces(
                GetNamespacesRequest(page_size=1000, page_token=token), timeout=self._timeout
            )
            for ns in page.namespaces:
                if ns.state != ResourceState.RESOURCE_STATE_DELETED:
                    out[ns.spec.name] = ns
            token = page.next_page_token
            if not token:
                return out

    # ----- apply ------------------------------------------------------------------------

    async def apply(self, change: Change) -> None:
        client = await self.client()
        svc = client.cloud_service
        try:
            if change.op == Op.CREATE:
                assert change.desired is not None
                spec = change.desired.spec
                op_id = hashlib.sha256(
                    f"{self.project}/{change.name}/{sorted(spec.items())}".encode()
                ).hexdigest()[:32]
                await self._write(
                    "CreateNamespace",
                    svc.create_namespace(
                        CreateNamespaceRequest(
                            spec=self._spec(change.name, spec),
                            tags=self._tags(spec),
                            async_operation_id=op_id,
                        ),
                        timeout=self._timeout,
                    ),
                )
            elif change.op == Op.UPDATE:
                assert change.desired is not None
                await self._update(change)
            elif change.op == Op.DEPRECATE:
                await self._write(
                    "UpdateNamespaceTags",
                    svc.update_namespace_tags(
                        UpdateNamespaceTagsRequest(
                            namespace=self._id(change.name),
                            tags_to_upsert={_k(marks.DEPRECATED_AT): str(int(time.time()))},
                        ),
                        timeout=self._timeout,
                    ),
                )
            elif change.op == Op.DELETE:
                current = await self._get(change.name)
                tags = dict(current.tags)
                if (
                    tags.get(_k(marks.MANAGED_BY)) != self._manager
                    or _deprecated_since(tags) is None
                ):
                    raise OperatorError(
                        f"Cloud namespace {change.name} changed since it was read; not deleted",
                        code="PAVED-OPERATOR-DELETE-GUARD",
                    )
                await self._write(
                    "DeleteNamespace",
                    svc.delete_namespace(
                        DeleteNamespaceRequest(
                            namespace=current.namespace, resource_version=current.resource_version
                        ),
                        timeout=self._timeout,
                    ),
                )
        except RPCError as e:
            if e.status == RPCStatusCode.UNAVAILABLE:
                self._client = None
            terminal = e.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.PERMISSION_DENIED)
            if e.status == RPCStatusCode.ALREADY_EXISTS and change.op == Op.CREATE:
                return  # the next pass reads it (owned or not) and decides
            raise (TerminalError if terminal else OperatorError)(
                f"{change.op.value} Cloud namespace {change.name}: {e.status.name}: {e.message}",
                code="PAVED-OPERATOR-CLOUD",
            ) from e

    async def _update(self, change: Change) -> None:
        assert change.desired is not None
        svc = (await self.client()).cloud_service
        current = await self._get(change.name)
        fields = {f.field for f in change.fields}
        if fields & {"retention_days", "search_attributes", "cloud_region"}:
            spec = NamespaceSpec()
            spec.CopyFrom(current.spec)
            spec.retention_days = int(change.desired.spec["retention_days"])
            for k, v in dict(change.desired.spec["search_attributes"]).items():
                spec.search_attributes[k] = _TYPES[str(v)]
            await self._write(
                "UpdateNamespace",
                svc.update_namespace(
                    UpdateNamespaceRequest(
                        namespace=current.namespace,
                        spec=spec,
                        resource_version=current.resource_version,
                    ),
                    timeout=self._timeout,
                ),
            )
        if fields & {"owner", "logical", "region", "environment", "tier", "deprecated"}:
            await self._write(
                "UpdateNamespaceTags",
                svc.update_namespace_tags(
                    UpdateNamespaceTagsRequest(
                        namespace=current.namespace,
                        tags_to_upsert=self._tags(change.desired.spec),
                        tags_to_remove=[_k(marks.DEPRECATED_AT)]
                        if _k(marks.DEPRECATED_AT) in current.tags
                        else [],
                    ),
                    timeout=self._timeout,
                ),
            )

    async def _get(self, name: str) -> Namespace:
        client = await self.client()
        r = await client.cloud_service.get_namespace(
            GetNamespaceRequest(namespace=self._id(name)), timeout=self._timeout
        )
        return r.namespace

    def _id(self, name: str) -> str:
        return self._ids.get(name, name)

    async def _write(self, rpc: str, call: Awaitable[Any]) -> Any:
        self.writes[rpc] += 1
        return await call

    def _spec(self, name: str, spec: Any) -> NamespaceSpec:
        return NamespaceSpec(
            name=name,
            regions=[str(spec["cloud_region"])],
            retention_days=int(spec["retention_days"]),
            api_key_auth=ApiKeyAuthSpec(enabled=True),
            search_attributes={
                k: _TYPES[str(v)] for k, v in dict(spec["search_attributes"]).items()
            },
        )

    def _tags(self, spec: Any) -> dict[str, str]:
        return {
            _k(marks.MANAGED_BY): self._manager,
            _k(marks.OWNER): str(spec["owner"]),
            _k(marks.LOGICAL): str(spec["logical"]),
            _k(marks.REGION): str(spec["region"]),
            _k(marks.ENVIRONMENT): str(spec["environment"]),
            _k(marks.TIER): str(spec["tier"]),
        }


CLOUD_API = "saas-api.tmprl.cloud:443"
_REGIONAL = re.compile(
    r"^(?P<region>[a-z0-9-]+)\.(?P<provider>aws|gcp|azure)\.api\.temporal\.io(:\d+)?$"
)


def cloud_region_of(address: str) -> str | None:
    """Cloud region of a regional endpoint: ``eu-west-1.aws.api.temporal.io:7233`` -> ``aws-eu-west-1``."""
    m = _REGIONAL.match(address)
    return f"{m['provider']}-{m['region']}" if m else None


def cloud_target(
    project: str,
    cluster: str,
    region: str,
    address: str,
    api_key: Callable[[], str | None],
    *,
    select: Callable[[Route], bool] | None = None,
) -> CloudNamespaces:
    """The Cloud target of a ``paved.yaml`` cluster with ``temporal.cloud: true``.

    The Cloud region comes from the cluster's regional endpoint (``address``); the
    Operations API is ``$PAVED_CLOUD_API`` (default ``saas-api.tmprl.cloud:443``,
    TLS; a ``http://`` prefix means plaintext, for a local stand-in); the API key is
    the cluster's.
    """
    cloud_region = cloud_region_of(address)
    if cloud_region is None:
        raise TerminalError(
            f"cluster {cluster}: {address} is not a Temporal Cloud regional endpoint",
            code="PAVED-OPERATOR-CLOUD-REGION",
            fix="use <region>.<provider>.api.temporal.io:7233 as clusters.<name>.temporal.address",
        )
    api = os.environ.get("PAVED_CLOUD_API", CLOUD_API)
    plain = api.startswith("http://")

    async def connect() -> CloudOperationsClient:
        return await CloudOperationsClient.connect(
            api_key=api_key(), target_host=api.removeprefix("http://"), tls=not plain
        )

    return CloudNamespaces(
        project,
        connect,
        cloud_region={region: cloud_region},
        name=f"cloud:{cluster}",
        select=select,
    )
