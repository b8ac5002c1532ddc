"""Target: the physical namespaces of one Temporal cluster (dev server or self-hosted).

Desired: one namespace per route (logical x region x environment, from
``Routes``, the one mapping) whose region and environment this cluster serves,
with its retention, description and owner data; one search attribute object
per declared attribute. Read with ``ListNamespaces`` (paged), ``ListSearchAttributes``
(only for namespaces that declare or own attributes) and, for owned namespaces
that left the specs, ``CountWorkflowExecutions`` of running workflows.

Writes: ``RegisterNamespace``, ``UpdateNamespace`` (retention, description,
data: ownership and deprecation marks, see ``_marks.py``), OperatorService
``AddSearchAttributes``/``RemoveSearchAttributes`` and ``DeleteNamespace``.
Every write goes through ``_write`` and is counted in ``writes`` (the no-op
pass test asserts zero).

Crash safety: a search attribute is recorded as the operator's in the namespace
data *before* it is added and forgotten only *after* it is removed, so a kill
between the two steps never leaves an attribute the operator added but does not
know it owns. A deletion re-reads ownership, the mark and the running count
just before ``DeleteNamespace``.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType, NamespaceState
from temporalio.api.namespace.v1 import NamespaceConfig, UpdateNamespaceInfo
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    DeleteNamespaceRequest,
    ListSearchAttributesRequest,
    RemoveSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeNamespaceRequest,
    DescribeNamespaceResponse,
    ListNamespacesRequest,
    RegisterNamespaceRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client
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
from paved.specs import Route, Routes

NAMESPACE = "namespace"
SEARCH_ATTRIBUTE = "search-attribute"
_TYPES = {
    "Text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}
_TYPE_NAMES = {v: k for k, v in _TYPES.items()}
_RUNNING = 'ExecutionStatus="Running"'
# Server answers that retrying the same request cannot fix.
_TERMINAL = {RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.PERMISSION_DENIED}


def namespace_objects(
    inputs: Inputs, select: Callable[[Route], bool] | None = None
) -> list[Desired]:
    """Desired namespaces and search attributes of ``inputs`` (pure; shared with Cloud)."""
    specs = {ns.name: ns for ns in inputs.specs.namespaces.namespaces}
    out: list[Desired] = []
    for route in sorted(Routes.from_specs(specs.values()).all(), key=lambda r: r.physical):
        if select is not None and not select(route):
            continue
        ns = specs[route.logical]
        out.append(
            Desired(
                NAMESPACE,
                route.physical,
                {
                    "retention_days": ns.retention_days,
                    "description": ns.description
                    or f"{route.logical} ({route.region}, {route.environment}), owner {ns.owner}",
                    "owner": ns.owner,
                    "logical": route.logical,
                    "region": route.region,
                    "environment": route.environment,
                    "tier": ns.tier,
                },
            )
        )
        for attr, typ in sorted(ns.search_attributes.items()):
            out.append(
                Desired(
                    SEARCH_ATTRIBUTE,
                    f"{route.physical}/{attr}",
                    {"type": typ},
                    parent=(NAMESPACE, route.physical),
                )
            )
    return out


class TemporalNamespaces:
    """The ``Target`` for one Temporal cluster.

    Args:
        project: the project name; the ownership mark is ``paved-operator/<project>``.
        connect: returns a connected client (called lazily, again after a failure).
        name: target name (one per cluster: "temporal", "temporal:eu", ...).
        select: which routes live on this cluster (default: all).
        fence: the current lease's fencing token (0 = no lease).
        concurrency: parallel reads.
        timeout: per RPC.
        adopt: treat a desired namespace without any ``managed-by`` mark as the
            operator's (it is then marked). For ``paved dev``'s private dev server,
            whose database older versions filled without marks; never for a shared cluster.
        wait_usable: after creating a namespace, wait (up to 30 s) until the frontend
            serves it (its namespace cache refreshes), so workers started next do not
            crash on "namespace not found" (``paved dev``).
    """

    kinds = (NAMESPACE, SEARCH_ATTRIBUTE)
    deprecate_first = frozenset({NAMESPACE})
    cache_desired = True  # desired() reads the inputs only

    def __init__(
        self,
        project: str,
        connect: Callable[[], Awaitable[Client]],
        *,
        name: str = "temporal",
        select: Callable[[Route], bool] | None = None,
        fence: Callable[[], int] = lambda: 0,
        concurrency: int = 16,
        timeout: float = 10.0,
        adopt: bool = False,
        wait_usable: bool = False,
    ) -> None:
        self.name = name
        self.project = project
        self._connect = connect
        self._client: Client | None = None
        self._select = select
        self._fence = fence
        self._adopt = adopt
        self._wait_usable = wait_usable
        self._sem = asyncio.Semaphore(concurrency)
        self._timeout = timedelta(seconds=timeout)
        self._locks: dict[str, asyncio.Lock] = {}
        self._write_lock = asyncio.Lock()
        self._marked: dict[str, set[str]] = {}  # namespace -> desired search attributes
        # the last pass's read: per namespace (its bytes, wanted?, its objects), the snapshot
        self._seen: dict[str, tuple[bytes, bool, list[Observed]]] = {}
        self._last_snapshot: Snapshot | None = None
        self.writes: Counter[str] = Counter()

    @classmethod
    def at(cls, project: str, address: str, **kw: Any) -> TemporalNamespaces:
        """A target for the cluster at ``address`` (plain gRPC; pass ``connect`` for TLS/keys)."""

        async def connect() -> Client:
            return await Client.connect(address, namespace="default")

        return cls(project, connect, **kw)

    async def client(self) -> Client:
        if self._client is None:
            self._client = await self._connect()
        return self._client

    # ----- desired ----------------------------------------------------------------------

    def desired(self, inputs: Inputs) -> list[Desired]:
        return namespace_objects(inputs, self._select)

    # ----- observe ----------------------------------------------------------------------

    async def observe(self, desired: Sequence[Desired]) -> Snapshot:
        try:
            client = await self.client()
            infos = await self._list_namespaces(client)
        except Exception:
            self._client = None  # reconnect next pass
            raise
        wanted = {d.name: d for d in desired if d.kind == NAMESPACE}
        sa_wanted: dict[str, list[Desired]] = {}
        for d in desired:
            if d.kind == SEARCH_ATTRIBUTE and d.parent is not None:
                sa_wanted.setdefault(d.parent[1], []).append(d)
        self._marked = {ns: {d.name.rpartition("/")[2] for d in ds} for ns, ds in sa_wanted.items()}
        objects: list[Observed] = []
        errors: dict[Key, str] = {}
        jobs: list[Awaitable[None]] = []
        # Every pass reads every namespace (drift is found by reading), but only a
        # namespace whose description changed since the last pass is turned into
        # objects again: its bytes are compared with the last pass's. When nothing
        # changed, the last snapshot itself is returned (the reconciler then reuses
        # its diff): what made a 700-namespace no-op pass slow was this Python work.
        seen: dict[str, tuple[bytes, bool, list[Observed]]] = {}
        unchanged = self._last_snapshot is not None and len(infos) == len(self._seen)

        for ns_name, resp in infos.items():
            raw = resp.SerializeToString(deterministic=True)
            is_wanted = ns_name in wanted
            hit = self._seen.get(ns_name)
            if hit is not None and hit[0] == raw and hit[1] == is_wanted:
                seen[ns_name] = hit
                objects.extend(hit[2])
                continue
            unchanged = False
            before, queued = len(objects), len(jobs)
            self._observe_one(client, ns_name, resp, wanted, sa_wanted, objects, errors, jobs)
            if len(jobs) == queued:  # no further read: cacheable
                seen[ns_name] = (raw, is_wanted, objects[before:])
        if unchanged and not jobs and self._last_snapshot is not None:
            return self._last_snapshot
        await asyncio.gather(*jobs)
        snapshot = Snapshot(objects, errors)
        self._seen = seen
        self._last_snapshot = snapshot if not jobs and not errors else None
        return snapshot

    def _observe_one(
        self,
        client: Client,
        ns_name: str,
        resp: DescribeNamespaceResponse,
        wanted: dict[str, Desired],
        sa_wanted: dict[str, list[Desired]],
        objects: list[Observed],
        errors: dict[Key, str],
        jobs: list[Awaitable[None]],
    ) -> None:
        """The objects of one listed namespace (or the reads still needed for them)."""
        data = dict(resp.namespace_info.data)
        owned = marks.owned(data, self.project) or (
            self._adopt and ns_name in wanted and marks.MANAGED_BY not in data
        )
        if not owned and ns_name not in wanted:
            return  # someone else's: not even read further
        obs = _observed_namespace(ns_name, resp, owned)
        if owned and ns_name not in wanted:
            jobs.append(self._count_into(client, ns_name, obs, objects, errors))
        else:
            objects.append(obs)
        mine = marks.search_attributes(data) if owned else set()
        aliases = _aliased(resp)
        if owned and aliases is not None:
            objects.extend(_attributes(ns_name, aliases, mine))
        elif owned and (sa_wanted.get(ns_name) or mine):
            jobs.append(
                self._read_attributes(
                    client, ns_name, mine, sa_wanted.get(ns_name, []), objects, errors
                )
            )

    async def _list_namespaces(self, client: Client) -> dict[str, DescribeNamespaceResponse]:
        out: dict[str, DescribeNamespaceResponse] = {}
        token = b""
        while True:
            page = await client.workflow_service.list_namespaces(
                ListNamespacesRequest(page_size=1000, next_page_token=token),
                timeout=self._timeout,
            )
            for ns in page.namespaces:
                if ns.namespace_info.state != NamespaceState.NAMESPACE_STATE_DELETED:
                    out[ns.namespace_info.name] = ns
            token = page.next_page_token
            if not token:
                return out

    async def _count_into(
        self,
        client: Client,
        ns: str,
        obs: Observed,
        objects: list[Observed],
        errors: dict[Key, str],
    ) -> None:
        async with self._sem:
            try:
                n: int | None = await self._running(client, ns)
            except RPCError as e:
                n = None
                errors[(NAMESPACE, ns)] = (
                    f"counting open workflows failed: {e.status.name}: {e.message}"
                )
        objects.append(
            Observed(obs.kind, obs.name, obs.spec, obs.owned, obs.deprecated_since, n, obs.parent)
        )

    async def _until_served(self, client: Client, ns: str, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                await self._running(client, ns)
                return
            except RPCError as e:
                if e.status != RPCStatusCode.NOT_FOUND:
                    raise
                if asyncio.get_running_loop().time() > deadline:
                    raise OperatorError(
                        f"namespace {ns} was registered but is not served after {timeout:.0f}s",
                        code="PAVED-OPERATOR-TEMPORAL",
                    ) from e
            await asyncio.sleep(0.2)

    async def _running(self, client: Client, ns: str) -> int:
        r = await client.workflow_service.count_workflow_executions(
            CountWorkflowExecutionsRequest(namespace=ns, query=_RUNNING), timeout=self._timeout
        )
        return int(r.count)

    async def _read_attributes(
        self,
        client: Client,
        ns: str,
        mine: set[str],
        wanted: list[Desired],
        objects: list[Observed],
        errors: dict[Key, str],
    ) -> None:
        async with self._sem:
            try:
                r = await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=ns), timeout=self._timeout
                )
            except RPCError as e:
                why = f"ListSearchAttributes failed: {e.status.name}: {e.message}"
                for d in wanted:
                    errors[d.key] = why
                for attr in mine:
                    errors[(SEARCH_ATTRIBUTE, f"{ns}/{attr}")] = why
                return
        types = {a: _TYPE_NAMES.get(t, str(t)) for a, t in r.custom_attributes.items()}
        objects.extend(_attributes(ns, types, mine))

    # ----- apply ------------------------------------------------------------------------

    async def apply(self, change: Change) -> None:
        client = await self.client()
        try:
            if change.kind == NAMESPACE:
                await self._apply_namespace(client, change)
            elif change.kind == SEARCH_ATTRIBUTE:
                ns, _, attr = change.name.rpartition("/")
                async with self._locks.setdefault(ns, asyncio.Lock()):
                    await self._apply_attribute(client, change, ns, attr)
            else:
                raise TerminalError(f"{self.name}: unknown kind {change.kind!r}")
        except RPCError as e:
            if e.status == RPCStatusCode.UNAVAILABLE:
                self._client = None
            err = TerminalError if e.status in _TERMINAL else OperatorError
            raise err(
                f"{change.op.value} {change.kind} {change.name}: {e.status.name}: {e.message}",
                code="PAVED-OPERATOR-TEMPORAL",
            ) from e

    def _data(self, spec: Any, *, deprecated: str = "") -> dict[str, str]:
        return {
            marks.MANAGED_BY: marks.manager(self.project),
            marks.OWNER: str(spec["owner"]),
            marks.LOGICAL: str(spec["logical"]),
            marks.REGION: str(spec["region"]),
            marks.ENVIRONMENT: str(spec["environment"]),
            marks.TIER: str(spec["tier"]),
            marks.DEPRECATED_AT: deprecated,
            marks.FENCE: str(self._fence()),
        }

    def _check_fence(self, change: Change) -> None:
        seen = int(change.observed.spec.get("fence", 0)) if change.observed else 0
        if seen > self._fence() > 0:
            raise OperatorError(
                f"{change.kind} {change.name} was last written by a newer lease holder "
                f"(fence {seen} > ours {self._fence()}); this operator has lost its lease",
                code="PAVED-OPERATOR-FENCED",
                fix="nothing: the other operator owns the reconcile now",
            )

    async def _write(self, rpc: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """One counted write. Writes to a cluster are serialized: the server versions
        namespace metadata globally, so parallel updates of *different* namespaces fail
        with "conditional update error"; search-attribute saves are rate-limited, so a
        "rate limit exceeded" is retried here a few times before counting as an error."""
        async with self._write_lock:
            for attempt in range(6):
                self.writes[rpc] += 1
                try:
                    return await call()
                except RPCError as e:
                    busy = e.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.RESOURCE_EXHAUSTED)
                    if not busy or "rate limit" not in e.message or attempt == 5:
                        raise
                await asyncio.sleep(0.05 * 2**attempt)

    async def _apply_namespace(self, client: Client, change: Change) -> None:
        ws = client.workflow_service
        self._check_fence(change)
        if change.op == Op.CREATE:
            assert change.desired is not None
            spec = change.desired.spec
            try:
                await self._write(
                    "RegisterNamespace",
                    lambda: ws.register_namespace(
                        RegisterNamespaceRequest(
                            namespace=change.name,
                            description=str(spec["description"]),
                            workflow_execution_retention_period=_days(spec["retention_days"]),
                            # The attributes it is about to add, marked first (see module doc).
                            data=self._data(spec)
                            | {
                                marks.SEARCH_ATTRIBUTES: marks.join(
                                    self._marked.get(change.name, set())
                                )
                            },
                        ),
                        timeout=self._timeout,
                    ),
                )
            except RPCError as e:
                if e.status != RPCStatusCode.ALREADY_EXISTS:
                    raise  # exists: the next pass reads it (owned or not) and decides
            if self._wait_usable:
                await self._until_served(client, change.name)
        elif change.op == Op.UPDATE:
            assert change.desired is not None
            spec = change.desired.spec
            await self._write(
                "UpdateNamespace",
                lambda: ws.update_namespace(
                    UpdateNamespaceRequest(
                        namespace=change.name,
                        update_info=UpdateNamespaceInfo(
                            description=str(spec["description"]), data=self._data(spec)
                        ),
                        config=NamespaceConfig(
                            workflow_execution_retention_ttl=_days(spec["retention_days"])
                        ),
                    ),
                    timeout=self._timeout,
                ),
            )
        elif change.op == Op.DEPRECATE:
            await self._write(
                "UpdateNamespace",
                lambda: ws.update_namespace(
                    UpdateNamespaceRequest(
                        namespace=change.name,
                        update_info=UpdateNamespaceInfo(
                            data={
                                marks.DEPRECATED_AT: marks.stamp(),
                                marks.FENCE: str(self._fence()),
                            }
                        ),
                    ),
                    timeout=self._timeout,
                ),
            )
        elif change.op == Op.DELETE:
            await self._delete_namespace(client, change)

    async def _delete_namespace(self, client: Client, change: Change) -> None:
        """Re-check the guards on fresh reads, then delete (never on a failed read)."""
        d = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=change.name), timeout=self._timeout
        )
        data = dict(d.namespace_info.data)
        if not marks.owned(data, self.project) or marks.deprecated_since(data) is None:
            raise OperatorError(
                f"namespace {change.name} changed since it was read (ownership or deprecation mark); not deleted",
                code="PAVED-OPERATOR-DELETE-GUARD",
            )
        was = change.observed.in_use if change.observed else None
        if was == 0:  # not forced past open workflows: make sure none started since
            running = await self._running(client, change.name)
            if running:
                raise OperatorError(
                    f"namespace {change.name}: {running} workflow(s) started since the read; not deleted",
                    code="PAVED-OPERATOR-DELETE-GUARD",
                )
        await self._write(
            "DeleteNamespace",
            lambda: client.operator_service.delete_namespace(
                DeleteNamespaceRequest(namespace=change.name), timeout=self._timeout
            ),
        )

    async def _apply_attribute(self, client: Client, change: Change, ns: str, attr: str) -> None:
        ws, ops = client.workflow_service, client.operator_service
        if change.op == Op.UPDATE:
            have = change.observed.spec.get("type") if change.observed else "?"
            want = change.desired.spec.get("type") if change.desired else "?"
            raise TerminalError(
                f"search attribute {attr} of {ns} is {have} in Temporal and {want} in the specs; "
                "Temporal cannot change a type",
                code="PAVED-OPERATOR-SA-TYPE",
                fix=f"rename it in paved.yaml, or remove it from the specs first (the operator then removes {attr})",
            )
        current = await ws.describe_namespace(
            DescribeNamespaceRequest(namespace=ns), timeout=self._timeout
        )
        mine = marks.search_attributes(current.namespace_info.data)
        if change.op == Op.CREATE:
            assert change.desired is not None
            typ = str(change.desired.spec["type"])
            if attr not in mine:  # mark first: a crash after the add leaves it known as ours
                await self._write(
                    "UpdateNamespace", lambda: self._set_attributes(client, ns, mine | {attr})
                )
            try:
                await self._write(
                    "AddSearchAttributes",
                    lambda: ops.add_search_attributes(
                        AddSearchAttributesRequest(
                            namespace=ns, search_attributes={attr: _TYPES[typ]}
                        ),
                        timeout=self._timeout,
                    ),
                )
            except RPCError as e:
                if e.status != RPCStatusCode.ALREADY_EXISTS:
                    raise
        elif change.op == Op.DELETE:
            if attr not in mine:
                raise OperatorError(
                    f"search attribute {attr} of {ns} is no longer marked as the operator's; not removed",
                    code="PAVED-OPERATOR-DELETE-GUARD",
                )
            try:
                await self._write(
                    "RemoveSearchAttributes",
                    lambda: ops.remove_search_attributes(
                        RemoveSearchAttributesRequest(namespace=ns, search_attributes=[attr]),
                        timeout=self._timeout,
                    ),
                )
            except RPCError as e:
                if e.status != RPCStatusCode.NOT_FOUND:
                    raise
            await self._write(
                "UpdateNamespace", lambda: self._set_attributes(client, ns, mine - {attr})
            )

    def _set_attributes(self, client: Client, ns: str, names: set[str]) -> Awaitable[Any]:
        return client.workflow_service.update_namespace(
            UpdateNamespaceRequest(
                namespace=ns,
                update_info=UpdateNamespaceInfo(
                    data={
                        marks.SEARCH_ATTRIBUTES: marks.join(names),
                        marks.FENCE: str(self._fence()),
                    }
                ),
            ),
            timeout=self._timeout,
        )


_FIELD = re.compile(r"^([A-Za-z]+?)\d+$")


def _aliased(resp: DescribeNamespaceResponse) -> dict[str, str] | None:
    """Custom search attributes from the namespace itself, or None when it has none listed.

    With SQL visibility (the dev server's SQLite, MySQL, PostgreSQL) each namespace maps
    its attributes to typed database columns (``Keyword04 -> Color``) in
    ``config.custom_search_attribute_aliases``, which ``ListNamespaces`` returns: the
    no-op pass then needs no ``ListSearchAttributes`` per namespace (the server
    rate-limits those: 700 took ~14 s). Elasticsearch keeps attributes cluster-wide
    and leaves the map empty; so does a namespace with none yet: then the caller asks
    ``ListSearchAttributes``.
    """
    aliases = resp.config.custom_search_attribute_aliases
    if not aliases:
        return None
    out = {}
    for field, alias in aliases.items():
        m = _FIELD.match(field)
        out[alias] = m.group(1) if m else field
    return out


def _attributes(ns: str, types: dict[str, str], mine: set[str]) -> list[Observed]:
    return [
        Observed(
            SEARCH_ATTRIBUTE,
            f"{ns}/{attr}",
            {"type": typ},
            owned=attr in mine,
            parent=(NAMESPACE, ns),
        )
        for attr, typ in types.items()
    ]


def _days(n: object) -> Duration:
    return Duration(seconds=int(str(n)) * 86400)


def _observed_namespace(name: str, resp: DescribeNamespaceResponse, owned: bool) -> Observed:
    info, data = resp.namespace_info, dict(resp.namespace_info.data)
    tier = data.get(marks.TIER, "")
    spec: dict[str, Any] = {
        "retention_days": resp.config.workflow_execution_retention_ttl.seconds // 86400,
        "description": info.description,
        "owner": data.get(marks.OWNER),
        "logical": data.get(marks.LOGICAL),
        "region": data.get(marks.REGION),
        "environment": data.get(marks.ENVIRONMENT),
        "tier": int(tier) if tier.isdigit() else None,
        "fence": marks.fence(data),
    }
    return Observed(
        NAMESPACE,
        name,
        spec,
        owned=owned,
        deprecated_since=marks.deprecated_since(data) if owned else None,
        in_use=0,
    )
