"""A worker's Kubernetes manifests, rendered from its ``WorkerSpec``.

Called by ``paved new worker`` (through the CLI, which hands the result to
``paved.scaffold``) and by the operator's Kubernetes target. The Jinja
templates are under ``templates/k8s``: a Deployment, its ServiceAccount and a
HorizontalPodAutoscaler. Every object carries the worker's owner and tier as
labels, so alerts page the owning team.
"""

from __future__ import annotations

import re
from typing import Any, Final

import jinja2
import yaml

from paved import specs

MANIFEST_FILES: Final = ("deployment.yaml", "service-account.yaml", "hpa.yaml")
# A Kubernetes label value (the owner is put on every object for paging).
LABEL_VALUE_RE: Final = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def _env() -> jinja2.Environment:
    # Strings are quoted with `tojson`: a JSON string is a YAML string.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("paved.operator", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def label_value(text: str) -> str:
    """``text`` made a valid Kubernetes label value (unchanged when it already is)."""
    if LABEL_VALUE_RE.match(text):
        return text
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:63].strip("._-") or "unknown"


def render_k8s(
    spec: specs.WorkerSpec,
    *,
    project: str,
    image: str | None = None,
    k8s_namespace: str | None = None,
) -> dict[str, str]:
    """The worker's Kubernetes manifests, ``{file name: YAML}``, from its spec.

    Replicas, owner, tier, queues and graceful shutdown come from ``spec``; the
    image defaults to ``spec.image`` or ``<worker>:latest``; the Kubernetes
    namespace defaults to the logical namespace.
    """
    min_replicas = max(1, spec.replicas)
    ctx: dict[str, Any] = {
        **_common(spec, project=project, name=spec.name, image=image),
        "k8s_namespace": k8s_namespace or spec.namespace,
        "replicas": spec.replicas,
        "cluster": None,
        "specs_configmap": None,
        "specs_digest": None,
        "min_replicas": min_replicas,
        "max_replicas": max(10, 4 * min_replicas),
        "cpu_target": 70,
        "slot_target": "800m",
        "behavior": behavior(specs.AutoscalerConfig()),
        "capacity_redis_url": None,
    }
    env = _env()
    return {f: env.get_template(f"k8s/{f}.j2").render(**ctx) for f in MANIFEST_FILES}


def secret_name(name: str) -> str:
    """The Secret holding the API key of the worker's pods (key ``api-key``); never rendered."""
    return f"{name}-paved"


def _common(
    spec: specs.WorkerSpec, *, project: str, name: str, image: str | None
) -> dict[str, Any]:
    return {
        "spec": spec,
        "project": project,
        "name": name,
        "secret_name": secret_name(name),
        "image": image or spec.image or f"{spec.name}:latest",
        "owner_label": label_value(spec.owner),
        "http_port": specs.WORKER_HTTP_PORT,
        "uid": specs.WORKER_UID,
        "grace_seconds": int(spec.tuning.graceful_shutdown_seconds) + 10,
        "cpu_request": "250m",
        "memory_request": "256Mi",
        "memory_limit": "1Gi",
        "specs_mount": "/app/specs",
        "capacity_env": specs.CAPACITY_REDIS_ENV,
    }


def _quantity(fraction: float) -> str:
    """0.8 -> "800m": a Kubernetes quantity the API server keeps as written."""
    return f"{round(fraction * 1000)}m"


def behavior(autoscaler: specs.AutoscalerConfig) -> dict[str, Any]:
    """The HPA ``behavior`` of the policy: what ``paved.autoscale.decide`` does locally.

    Up at once (no stabilisation), at most ``max_scale_up_factor`` times the
    replicas per ``interval_seconds``; down only after ``scale_down_after_seconds``
    of lower recommendations (the quiet window), then to the recommendation at once.
    """
    period = max(1, round(autoscaler.interval_seconds))
    up_percent = max(1, round((autoscaler.max_scale_up_factor - 1.0) * 100))
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": up_percent, "periodSeconds": period},
                {"type": "Pods", "value": 1, "periodSeconds": period},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": min(3600, round(autoscaler.scale_down_after_seconds)),
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": period}],
        },
    }


def _target_backlog(
    spec: specs.WorkerSpec, queue: specs.QueueSpec, autoscaler: specs.AutoscalerConfig
) -> int:
    """KEDA's targetQueueSize for one queue: explicit, else slots x target utilisation."""
    if autoscaler.target_backlog_per_replica is not None:
        return autoscaler.target_backlog_per_replica
    slots = (
        spec.tuning.max_concurrent_workflow_tasks
        if queue.kind == "workflow"
        else spec.tuning.max_concurrent_activities
    )
    return max(1, round(slots * autoscaler.target_slot_utilization))


def worker_objects(
    spec: specs.WorkerSpec,
    *,
    project: str,
    name: str,
    k8s_namespace: str,
    region: str,
    environment: str,
    proxy_address: str,
    autoscaler: specs.AutoscalerConfig,
    spec_files: dict[str, str],
    specs_dir: str = "specs",
    specs_digest: str = "",
    proxy_tls: bool = False,
    image: str | None = None,
    capacity_redis_url: str | None = None,
) -> list[dict[str, Any]]:
    """The objects the operator applies for one worker in one cluster, as dicts, in apply order.

    A ServiceAccount, a ConfigMap with ``spec_files`` (mounted over the image's
    ``specs_dir``), the Deployment (``replicas`` only when ``autoscaler.kind`` is
    ``none``), then the autoscaler: an HPA (``hpa``) or a KEDA TriggerAuthentication
    and ScaledObject (``keda``). A worker with a declared ``capacity`` gets
    ``capacity_redis_url`` as ``PAVED_CAPACITY_REDIS_URL``: its replicas share the
    permits there (``paved.worker._capacity``).
    """
    ctx: dict[str, Any] = {
        **_common(spec, project=project, name=name, image=image),
        "k8s_namespace": k8s_namespace,
        "cluster": {"region": region, "environment": environment, "proxy_address": proxy_address},
        "replicas": spec.replicas if autoscaler.kind == "none" else None,
        "specs_configmap": f"{name}-specs",
        "specs_mount": f"/app/{specs_dir.strip('/')}",
        "specs_digest": specs_digest or None,
        "spec_files": spec_files,
        "min_replicas": autoscaler.min_replicas,
        "max_replicas": autoscaler.max_replicas,
        "cpu_target": 70,
        "slot_target": _quantity(autoscaler.target_slot_utilization),
        "target_backlog": {q.name: _target_backlog(spec, q, autoscaler) for q in spec.queues},
        "behavior": behavior(autoscaler),
        "polling_seconds": max(1, round(autoscaler.interval_seconds)),
        "cooldown_seconds": round(autoscaler.scale_down_after_seconds),
        "proxy_tls": proxy_tls,
        "capacity_redis_url": capacity_redis_url if spec.capacity is not None else None,
    }
    files = ["service-account.yaml", "configmap.yaml", "deployment.yaml"]
    if autoscaler.kind == "hpa":
        files.append("hpa.yaml")
    elif autoscaler.kind == "keda":
        files += ["trigger-authentication.yaml", "scaled-object.yaml"]
    env = _env()
    out = []
    for f in files:
        obj = yaml.safe_load(env.get_template(f"k8s/{f}.j2").render(**ctx))
        assert isinstance(obj, dict), f
        out.append(obj)
    return out
