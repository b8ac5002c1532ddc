"""Managed workers: bootstrap from specs, tuned temporalio Workers, health and metrics."""

from paved.worker._capacity import CapacityGate, SharedCapacityGate
from paved.worker._http import derived_metrics
from paved.worker._http import serve as serve_http
from paved.worker._permits import CapacityStoreError, FileSlots, RedisSlots
from paved.worker._runtime import (
    SANDBOX_PASSTHROUGH,
    Bootstrap,
    bootstrap,
    build_id,
    build_workers,
    run,
    serve_forever,
)

__all__ = [
    "SANDBOX_PASSTHROUGH",
    "Bootstrap",
    "CapacityGate",
    "CapacityStoreError",
    "FileSlots",
    "RedisSlots",
    "SharedCapacityGate",
    "bootstrap",
    "build_id",
    "build_workers",
    "derived_metrics",
    "run",
    "serve_forever",
    "serve_http",
]
