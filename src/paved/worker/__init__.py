"""Managed workers: bootstrap from specs, tuned temporalio Workers, health and metrics,
and the ``paved new worker`` scaffolder."""

from paved.worker._http import derived_metrics
from paved.worker._runtime import (
    SANDBOX_PASSTHROUGH,
    Bootstrap,
    bootstrap,
    build_workers,
    run,
)
from paved.worker._scaffold import ScaffoldRequest, ScaffoldResult, render_k8s, scaffold_worker

__all__ = [
    "SANDBOX_PASSTHROUGH",
    "Bootstrap",
    "ScaffoldRequest",
    "ScaffoldResult",
    "bootstrap",
    "build_workers",
    "derived_metrics",
    "render_k8s",
    "run",
    "scaffold_worker",
]
