"""A Kubernetes API stand-in for the operator's tests: kmock's emulator, plus two rules.

No API server can run on this machine, so the Kubernetes target is tested at the
HTTP level against ``kmock.KubernetesEmulator`` (an in-memory object store
behind real HTTP on loopback). What kmock leaves out, and this adds:

- **An apply creates.** A server-side apply (``PATCH`` with
  ``application/apply-patch+yaml``) of a missing object creates it, as a real API
  server does; kmock answers 404.
- **Refusals on demand.** ``refuse(plural, name, status)`` makes the next write to
  that object fail with a Kubernetes ``Status`` (409 Conflict by default)
  *without* changing the stored object, to test per-object errors.

What it still does not do (and the tests therefore do not claim): field
ownership and ``managedFields`` (an apply is a dict merge), label-selector
filtering of lists (every object of the kind is returned), defaulting,
validation, ``resourceVersion`` conflicts, garbage collection of dependents.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp.web
import kmock

RESOURCES: dict[str, tuple[str, bool]] = {
    # "group/version/plural": (kind, namespaced)
    "apps/v1/deployments": ("Deployment", True),
    "v1/serviceaccounts": ("ServiceAccount", True),
    "v1/configmaps": ("ConfigMap", True),
    "v1/secrets": ("Secret", True),
    "autoscaling/v2/horizontalpodautoscalers": ("HorizontalPodAutoscaler", True),
    "keda.sh/v1alpha1/scaledobjects": ("ScaledObject", True),
    "keda.sh/v1alpha1/triggerauthentications": ("TriggerAuthentication", True),
}
APPLY = "application/apply-patch+yaml"


class ApplyEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    """See the module docstring."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._refusals: dict[tuple[str, str], list[int]] = {}
        for path, (kind, namespaced) in RESOURCES.items():
            self.resources[path] = kmock.ResourceInfo(kind=kind, namespaced=namespaced)

    def refuse(self, plural: str, name: str, status: int = 409, times: int = 1) -> None:
        self._refusals.setdefault((plural, name), []).extend([status] * times)

    async def _handle(self, request: Any) -> aiohttp.web.StreamResponse:
        res = request.resource
        if res is not None and request.name and request.method in ("PATCH", "PUT", "DELETE"):
            queue = self._refusals.get((res.plural, request.name))
            if queue:
                status = queue.pop(0)
                self._requests.append(request)
                return aiohttp.web.json_response(
                    {
                        "apiVersion": "v1",
                        "kind": "Status",
                        "status": "Failure",
                        "code": status,
                        "reason": "Conflict" if status == 409 else "Refused",
                        "message": f"refused by the test ({status})",
                    },
                    status=status,
                )
        if (
            res is not None
            and request.method == "PATCH"
            and request.name
            and request.headers.get("Content-Type", "").startswith(APPLY)
        ):
            key = (res, request.namespace, request.name)
            if key not in self.objects:
                self.objects[key] = request.data
            elif self.objects[key].deleted:
                self.objects[key].create(request.data)
        return await super()._handle(request)


def kubeconfig(url: str, context: str) -> dict[str, Any]:
    """A kubeconfig naming one cluster at ``url`` as ``context`` (token auth)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": url}}],
        "users": [{"name": "operator", "user": {"token": "test-token"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": "operator"}}],
        "current-context": context,
    }


def writes(emulator: ApplyEmulator) -> list[Any]:
    """The write requests (POST/PUT/PATCH/DELETE) the emulator received, in order."""
    return [r for r in list(emulator) if r.method in ("POST", "PUT", "PATCH", "DELETE")]


def body(request: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(request.body)
    return data


def stored(
    emulator: ApplyEmulator, plural: str, namespace: str, name: str
) -> dict[str, Any] | None:
    """The stored object, or None if absent or deleted."""
    for (res, ns, n), obj in emulator.objects.items():
        if res.plural == plural and ns == namespace and n == name and not obj.deleted:
            raw: dict[str, Any] = obj.raw
            return raw
    return None
