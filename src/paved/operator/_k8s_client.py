"""The Kubernetes API as the operator uses it: server-side apply, owned lists, prune.

A thin layer over lightkube's ``AsyncClient`` (httpx2, typed resources, native
server-side apply). One ``KubeApi`` per cluster; objects go in and come out as
plain dicts, so the operator's diff works on what the API server returns.

Writes are server-side apply (``PATCH`` with ``application/apply-patch+yaml``,
``fieldManager=paved``, ``force=true``): the operator is the authority over the
fields it sets, and fields it stops setting are released, never cleared by a
merge. Deletes use background propagation (the Deployment's ReplicaSets and
pods are collected by Kubernetes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx2
from lightkube import AsyncClient, KubeConfig
from lightkube.core.resource import NamespacedResource
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.core_v1 import ConfigMap, Secret, ServiceAccount
from lightkube.types import CascadeType, PatchType

from paved._errors import PavedError

FIELD_MANAGER: Final = "paved"
# Holds `replicas` for the moment a worker gains an autoscaler (see _k8s.handover).
HANDOVER_MANAGER: Final = "paved-replicas-handover"

ScaledObject = create_namespaced_resource("keda.sh", "v1alpha1", "ScaledObject", "scaledobjects")
TriggerAuthentication = create_namespaced_resource(
    "keda.sh", "v1alpha1", "TriggerAuthentication", "triggerauthentications"
)

# Every kind the operator writes, in apply order (what others refer to comes first).
KINDS: Final[dict[str, type[NamespacedResource]]] = {
    "ServiceAccount": ServiceAccount,
    "ConfigMap": ConfigMap,
    "TriggerAuthentication": TriggerAuthentication,
    "Deployment": Deployment,
    "HorizontalPodAutoscaler": HorizontalPodAutoscaler,
    "ScaledObject": ScaledObject,
}
AUTOSCALER_KINDS: Final = frozenset({"HorizontalPodAutoscaler", "ScaledObject"})
# KEDA's kinds exist only where KEDA is installed; a 404 on listing them means "none".
OPTIONAL_KINDS: Final = frozenset({"ScaledObject", "TriggerAuthentication"})


class KubeError(PavedError):
    """A Kubernetes API call failed (status and reason from the API server)."""

    code = "PAVED-K8S"

    def __init__(
        self, message: str, *, status: int, code: str | None = None, fix: str | None = None
    ):
        super().__init__(message, code=code, fix=fix)
        self.status = status


# HTTP status -> (stable code, fix). Codes are listed in docs/operator.md.
_STATUS: Final[dict[int, tuple[str, str]]] = {
    401: ("PAVED-K8S-FORBIDDEN", "check the cluster's credentials (kubeconfig user, token)"),
    403: (
        "PAVED-K8S-FORBIDDEN",
        "grant the operator's ServiceAccount this verb on this kind (docs/operator.md, RBAC)",
    ),
    404: (
        "PAVED-K8S-NOT-FOUND",
        "create the Kubernetes namespace, or install the CRD (KEDA) in this cluster",
    ),
    409: (
        "PAVED-K8S-CONFLICT",
        "another writer changed the object at the same time; the next pass retries",
    ),
    400: ("PAVED-K8S-INVALID", "the API server refused the manifest; report it (Paved renders it)"),
    422: ("PAVED-K8S-INVALID", "the API server refused the manifest; report it (Paved renders it)"),
}
_OTHER: Final = ("PAVED-K8S-API", "the next pass retries; check the API server's health")


def api_error(e: Exception, what: str) -> KubeError:
    """An httpx2/lightkube error as a ``KubeError`` that names ``what`` and the fix."""
    if isinstance(e, httpx2.HTTPStatusError):
        status = e.response.status_code
        try:
            body = e.response.json()
            reason, detail = body.get("reason", ""), body.get("message", "")
        except ValueError:
            reason, detail = e.response.reason_phrase, e.response.text[:200]
        code, fix = _STATUS.get(status, _OTHER)
        return KubeError(
            f"{what}: HTTP {status} {reason}: {detail}".rstrip(": "),
            status=status,
            code=code,
            fix=fix,
        )
    if isinstance(e, httpx2.TransportError):
        return KubeError(
            f"{what}: API server unreachable ({type(e).__name__}: {e})",
            status=0,
            code="PAVED-K8S-UNREACHABLE",
            fix="check the cluster address in the kubeconfig and the network; the next pass retries",
        )
    return KubeError(f"{what}: {type(e).__name__}: {e}", status=0, code="PAVED-K8S-API")


@dataclass(frozen=True)
class Connection:
    """How to reach one cluster's API server: a kubeconfig (file or dict) and a context."""

    kubeconfig: str | None = None
    context: str | None = None
    config_dict: dict[str, Any] | None = None

    def client(self) -> AsyncClient:
        if self.config_dict is not None:
            kc = KubeConfig.from_dict(self.config_dict)
        elif self.kubeconfig is not None:
            kc = KubeConfig.from_file(Path(self.kubeconfig).expanduser())
        else:
            kc = KubeConfig.from_env()
        return AsyncClient(
            config=kc.get(context_name=self.context),
            field_manager=FIELD_MANAGER,
            trust_env=False,
            timeout=httpx2.Timeout(15.0),
        )


def _as_dict(o: Any) -> dict[str, Any]:
    """A lightkube object (typed model or generic dict) as a plain dict."""
    d: dict[str, Any] = o.to_dict() if hasattr(o, "to_dict") else dict(o)
    return d


class KubeApi:
    """One cluster's API, as dicts. Raises ``KubeError`` on every failure.

    The client is made on first use, so a missing kubeconfig is an error of this
    cluster's pass (shown in the status), not of the operator's start.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._client: AsyncClient | None = None

    @property
    def _c(self) -> AsyncClient:
        if self._client is None:
            try:
                self._client = self.connection.client()
            except Exception as e:
                where = self.connection.context or self.connection.kubeconfig or "default"
                raise KubeError(
                    f"kubeconfig for cluster context {where!r} cannot be loaded: {e}",
                    status=0,
                    code="PAVED-K8S-CONFIG",
                    fix="set clusters.<name>.kubernetes.kubeconfig/context in paved.yaml, or "
                    "run the operator in the cluster with a ServiceAccount",
                ) from None
        return self._client

    async def list_owned(self, kind: str, selector: dict[str, str]) -> list[dict[str, Any]]:
        """Every object of ``kind`` in all namespaces whose labels match ``selector``."""
        try:
            labels: dict[str, Any] = dict(selector)
            return [
                _as_dict(o) async for o in self._c.list(KINDS[kind], namespace="*", labels=labels)
            ]
        except httpx2.HTTPStatusError as e:
            if e.response.status_code == 404 and kind in OPTIONAL_KINDS:
                return []
            raise api_error(e, f"list {kind}") from None
        except Exception as e:  # transport errors, or a list the client cannot decode
            raise api_error(e, f"list {kind}") from None

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            o = await self._c.get(KINDS[kind], name, namespace=namespace)
        except httpx2.HTTPStatusError as e:
            if e.response.status_code == 404:
                return None
            raise api_error(e, f"get {kind} {namespace}/{name}") from None
        except Exception as e:
            raise api_error(e, f"get {kind} {namespace}/{name}") from None
        return _as_dict(o)

    async def secret_exists(self, namespace: str, name: str) -> bool:
        """Whether a Secret exists (its data is never read into the operator's logs)."""
        try:
            await self._c.get(Secret, name, namespace=namespace)
        except httpx2.HTTPStatusError as e:
            if e.response.status_code == 404:
                return False
            raise api_error(e, f"get Secret {namespace}/{name}") from None
        except httpx2.HTTPError as e:
            raise api_error(e, f"get Secret {namespace}/{name}") from None
        return True

    async def apply(self, manifest: dict[str, Any], *, manager: str = FIELD_MANAGER) -> None:
        """Server-side apply of ``manifest`` (creates it when missing)."""
        kind, meta = manifest["kind"], manifest["metadata"]
        try:
            await self._c.patch(
                KINDS[kind],
                meta["name"],
                manifest,
                namespace=meta["namespace"],
                patch_type=PatchType.APPLY,
                field_manager=manager,
                force=True,
            )
        except httpx2.HTTPError as e:
            raise api_error(e, f"apply {kind} {meta['namespace']}/{meta['name']}") from None

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        try:
            await self._c.delete(
                KINDS[kind], name, namespace=namespace, cascade=CascadeType.BACKGROUND
            )
        except httpx2.HTTPStatusError as e:
            if e.response.status_code == 404:
                return  # already gone: the goal is reached
            raise api_error(e, f"delete {kind} {namespace}/{name}") from None
        except httpx2.HTTPError as e:
            raise api_error(e, f"delete {kind} {namespace}/{name}") from None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
