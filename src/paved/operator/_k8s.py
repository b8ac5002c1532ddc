"""The Kubernetes target: each managed worker's objects in each cluster the project names.

One ``KubernetesTarget`` per cluster with a ``kubernetes:`` section in
``paved.yaml``. For every worker whose logical namespace has a physical
namespace in that cluster's region and environment it wants, in one Kubernetes
namespace: a ServiceAccount, a ConfigMap holding the specs, a Deployment that
mounts them and references the Secret with the worker's API key, and the
autoscaler the worker chose (an HPA on slot utilisation, or a KEDA
ScaledObject with the Temporal scaler and its TriggerAuthentication).

Rules this target keeps (tested against the kmock API emulator):

- **Ownership.** Every object carries ``app.kubernetes.io/managed-by: paved`` and
  ``paved.dev/project: <project>``. Only objects with both labels (checked here,
  not only by the server's label selector) are ever updated or pruned; an object
  with a desired name that lacks them is held, untouched.
- **Server-side apply** for every write (``fieldManager=paved``): creates and
  updates are one idempotent request; fields the operator stops setting are
  released, not cleared.
- **Replicas.** When a worker has an autoscaler, ``replicas`` is absent from the
  applied Deployment, so the autoscaler alone owns it. When a Deployment that
  the operator sized gains an autoscaler, ownership of ``replicas`` is first
  handed to a separate field manager at its current value (the Kubernetes docs'
  recipe: otherwise the field would be reset to 1 the moment the operator stops
  applying it). A Deployment with fixed replicas is never written with
  ``replicas`` while an autoscaler object of the same name exists.
- **Secret reference.** The Secret ``<worker>-paved`` (key ``api-key``) is never
  written or read by the operator, only checked for existence; a missing one is
  an error with the command that creates it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from paved import specs
from paved.operator import _k8s_fields as fields
from paved.operator import _manifests as manifests
from paved.operator._k8s_client import (
    AUTOSCALER_KINDS,
    FIELD_MANAGER,
    HANDOVER_MANAGER,
    KINDS,
    KubeApi,
    KubeError,
)
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

MANAGED_BY: Final = "app.kubernetes.io/managed-by"
PROJECT_LABEL: Final = "paved.dev/project"
SECRET_REF: Final = "SecretRef"
# Apply order, parents first; deletions run in reverse (autoscalers go first).
KIND_ORDER: Final = (SECRET_REF, *KINDS)
# Meta fields compared by the diff but never applied (they start with "~").
REPLICAS_OWNER: Final = "~replicas-owner"
_LIVE_REPLICAS: Final = "~live-replicas"


@dataclass(frozen=True)
class WorkerPlacement:
    """One worker in one cluster: everything its objects are rendered from."""

    worker: specs.WorkerSpec
    object_name: str
    k8s_namespace: str
    region: str
    environment: str
    proxy_address: str
    proxy_tls: bool
    autoscaler: specs.AutoscalerConfig
    capacity_redis_url: str | None = None


def placements(inputs: Inputs, cluster: str) -> list[WorkerPlacement]:
    """The workers that run in ``cluster``: one per (worker, environment) it serves.

    Pure. A cluster serving two environments of a region gets one Deployment per
    environment, named ``<worker>-<environment>``; otherwise the name is the worker's.
    """
    c = inputs.config.clusters[cluster]
    if c.kubernetes is None:
        return []
    ns_specs = {n.name: n for n in inputs.specs.namespaces.namespaces}
    out: list[WorkerPlacement] = []
    for w in inputs.specs.workers.workers:
        ns = ns_specs.get(w.namespace)
        if ns is None:
            continue
        envs = sorted({p.environment for p in ns.physical if c.serves(p.region, p.environment)})
        for env in envs:
            out.append(
                WorkerPlacement(
                    worker=w,
                    object_name=w.name if len(envs) == 1 else f"{w.name}-{env}",
                    k8s_namespace=c.kubernetes.namespace or w.namespace,
                    region=c.region,
                    environment=env,
                    proxy_address=c.kubernetes.proxy_address,
                    proxy_tls=c.kubernetes.proxy_tls,
                    autoscaler=inputs.config.autoscaler_of(w.name),
                    capacity_redis_url=c.kubernetes.capacity_redis_url,
                )
            )
    return out


def owner_labels(project: str) -> dict[str, str]:
    """The labels that mark an object as this project's (and the prune selector)."""
    return {MANAGED_BY: "paved", PROJECT_LABEL: project}


def is_owned(obj: Mapping[str, Any], project: str) -> bool:
    """Both ownership labels, and no controller of its own.

    KEDA copies a ScaledObject's labels onto the HPA it creates
    (``keda-hpa-<name>``, with a controller ``ownerReference`` to the ScaledObject):
    such an object belongs to its controller, so the operator neither updates nor
    prunes it (pruning it would start a fight with KEDA every pass).
    """
    meta = obj.get("metadata") or {}
    if any(ref.get("controller") for ref in meta.get("ownerReferences") or ()):
        return False
    labels = meta.get("labels") or {}
    return all(labels.get(k) == v for k, v in owner_labels(project).items())


def paved_owns_replicas(live: Mapping[str, Any]) -> bool | None:
    """Whether field manager ``paved`` (Apply) owns ``spec.replicas``; None if unknown."""
    entries = (live.get("metadata") or {}).get("managedFields")
    if not entries:
        return None
    for e in entries:
        if e.get("manager") == FIELD_MANAGER and e.get("operation") == "Apply":
            spec = (e.get("fieldsV1") or {}).get("f:spec") or {}
            if "f:replicas" in spec:
                return True
    return False


def _key_name(manifest: Mapping[str, Any]) -> str:
    meta = manifest["metadata"]
    return f"{meta['namespace']}/{meta['name']}"


def desired_objects(inputs: Inputs, cluster: str) -> list[Desired]:
    """Every object the specs want in ``cluster``, flattened for the diff. Pure."""
    spec_files = {
        "namespaces.yaml": specs.dump(inputs.specs.namespaces.model_dump(mode="json")),
        "workflows.yaml": specs.dump(inputs.specs.workflows.model_dump(mode="json")),
        "workers.yaml": specs.dump(inputs.specs.workers.model_dump(mode="json")),
    }
    digest = hashlib.sha256(
        "".join(f"{k}\n{v}" for k, v in sorted(spec_files.items())).encode()
    ).hexdigest()[:16]
    out: list[Desired] = []
    for p in placements(inputs, cluster):
        objs = manifests.worker_objects(
            p.worker,
            project=inputs.project,
            name=p.object_name,
            k8s_namespace=p.k8s_namespace,
            region=p.region,
            environment=p.environment,
            proxy_address=p.proxy_address,
            proxy_tls=p.proxy_tls,
            autoscaler=p.autoscaler,
            spec_files=spec_files,
            specs_dir=inputs.config.specs_dir,
            specs_digest=digest,
            capacity_redis_url=p.capacity_redis_url,
        )
        for m in objs:
            flat = fields.flatten(m)
            if m["kind"] == "Deployment":
                flat[REPLICAS_OWNER] = "autoscaler" if "spec/replicas" not in flat else "paved"
            out.append(Desired(m["kind"], _key_name(m), flat))
        secret = manifests.secret_name(p.object_name)
        out.append(
            Desired(SECRET_REF, f"{p.k8s_namespace}/{secret}", {"exists": True}, parent=None)
        )
    return out


class KubernetesTarget:
    """The worker objects of one Kubernetes cluster (``Target`` of ``paved.operator``)."""

    kinds: tuple[str, ...] = KIND_ORDER
    deprecate_first: frozenset[str] = frozenset()
    cache_desired = True  # desired() reads the inputs only

    def __init__(self, cluster: str, project: str, api: KubeApi) -> None:
        self.name = f"k8s:{cluster}"
        self.cluster = cluster
        self.project = project
        self.api = api

    # ----- desired: pure -----------------------------------------------------------

    def desired(self, inputs: Inputs) -> list[Desired]:
        return desired_objects(inputs, self.cluster)

    # ----- observe: reads only -----------------------------------------------------

    async def observe(self, desired: Sequence[Desired]) -> Snapshot:
        want: dict[Key, Desired] = {d.key: d for d in desired}
        seen: dict[Key, Observed] = {}
        errors: dict[Key, str] = {}
        selector = owner_labels(self.project)
        for kind in KINDS:
            # A failed listing raises: absence would prove nothing, so nothing is pruned.
            for live in await self.api.list_owned(kind, selector):
                if not is_owned(live, self.project):
                    continue  # the server's selector is not trusted alone
                key = (kind, _key_name(live))
                seen[key] = self._observed(key, live, want.get(key), owned=True)
        for key, d in want.items():
            if key in seen:
                continue
            kind, name = key
            ns, obj_name = name.split("/", 1)
            try:
                if kind == SECRET_REF:
                    if await self.api.secret_exists(ns, obj_name):
                        seen[key] = Observed(kind, name, {"exists": True}, owned=True)
                    continue
                found = await self.api.get(kind, ns, obj_name)
            except KubeError as e:
                errors[key] = e.message
                continue
            if found is not None:  # there, but not ours (or another project's): hands off
                seen[key] = self._observed(key, found, d, owned=is_owned(found, self.project))
        return Snapshot(objects=list(seen.values()), errors=errors)

    def _observed(
        self, key: Key, live: Mapping[str, Any], d: Desired | None, *, owned: bool
    ) -> Observed:
        kind, name = key
        if d is None:
            return Observed(kind, name, {}, owned=owned)
        spec: dict[str, Any] = fields.project(
            live, {k: v for k, v in d.spec.items() if not k.startswith("~")}
        )
        if kind == "Deployment":
            owns = paved_owns_replicas(live)
            spec[REPLICAS_OWNER] = (
                d.spec.get(REPLICAS_OWNER) if owns is None else ("paved" if owns else "autoscaler")
            )
            spec[_LIVE_REPLICAS] = (live.get("spec") or {}).get("replicas")
        return Observed(kind, name, spec, owned=owned)

    # ----- apply: one write ---------------------------------------------------------

    async def apply(self, change: Change) -> None:
        ns, obj_name = change.name.split("/", 1)
        try:
            if change.op is Op.DELETE:
                if change.observed is None or not change.observed.owned:
                    raise TerminalError(
                        f"refusing to delete {change.kind} {change.name}: not owned"
                    )
                if change.kind != SECRET_REF:
                    await self.api.delete(change.kind, ns, obj_name)
                return
            if change.op not in (Op.CREATE, Op.UPDATE) or change.desired is None:
                return
            if change.kind == SECRET_REF:
                raise TerminalError(
                    f"Secret {change.name} (the worker's API key, key `api-key`) does not exist "
                    f"in cluster {self.cluster}",
                    code="PAVED-K8S-SECRET-MISSING",
                    fix=f"kubectl -n {ns} create secret generic {obj_name} "
                    "--from-literal=api-key=<key from `paved policy new-key`>",
                )
            manifest = fields.unflatten(
                {k: v for k, v in change.desired.spec.items() if not k.startswith("~")}
            )
            if change.kind == "Deployment":
                manifest = await self._replicas_rule(change, manifest, ns, obj_name)
            await self.api.apply(manifest)
        except KubeError as e:
            if e.status in (400, 422):
                raise TerminalError(e.message, code=e.code, fix=e.fix) from None
            raise OperatorError(e.message, code=e.code, fix=e.fix) from None

    async def _replicas_rule(
        self, change: Change, manifest: dict[str, Any], ns: str, name: str
    ) -> dict[str, Any]:
        """Never write replicas next to an autoscaler; hand them over when one arrives."""
        spec = manifest.get("spec") or {}
        if "replicas" in spec:
            for kind in sorted(AUTOSCALER_KINDS):
                if await self.api.get(kind, ns, name) is not None:
                    spec = {k: v for k, v in spec.items() if k != "replicas"}
                    return {**manifest, "spec": spec}
            return manifest
        o = change.observed
        if o is not None and o.spec.get(REPLICAS_OWNER) == "paved":
            current = o.spec.get(_LIVE_REPLICAS)
            await self.api.apply(
                {
                    "apiVersion": manifest["apiVersion"],
                    "kind": "Deployment",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {"replicas": current if isinstance(current, int) else 1},
                },
                manager=HANDOVER_MANAGER,
            )
        return manifest
