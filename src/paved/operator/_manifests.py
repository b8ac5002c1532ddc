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
        "spec": spec,
        "project": project,
        "image": image or spec.image or f"{spec.name}:latest",
        "k8s_namespace": k8s_namespace or spec.namespace,
        "owner_label": label_value(spec.owner),
        "http_port": specs.WORKER_HTTP_PORT,
        "uid": specs.WORKER_UID,
        "grace_seconds": int(spec.tuning.graceful_shutdown_seconds) + 10,
        "cpu_request": "250m",
        "memory_request": "256Mi",
        "memory_limit": "1Gi",
        "min_replicas": min_replicas,
        "max_replicas": max(10, 4 * min_replicas),
        "cpu_target": 70,
        "slot_target": "800m",
    }
    env = _env()
    return {f: env.get_template(f"k8s/{f}.j2").render(**ctx) for f in MANIFEST_FILES}
