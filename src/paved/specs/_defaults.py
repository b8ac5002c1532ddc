"""Defaults and conventions that several services share, each written once.

``paved.yaml`` falls back to these (``NamespaceConfig``), ``paved new worker``
offers them, the operator's manifests and the scaffolded Dockerfile agree on
the worker image's port and user through them. The name rule and the tiers
(``DEFAULT_TIER``, ``TIERS``) live one layer down, in ``paved.sdk``, because the
decorators use them first.
"""

from __future__ import annotations

from typing import Final

# A namespace's history retention when paved.yaml does not give one.
DEFAULT_RETENTION: Final = "7d"

# The worker image's contract: the health/metrics port `paved worker run` listens
# on inside the container, and the fixed non-root uid it runs as (runAsNonRoot).
WORKER_HTTP_PORT: Final = 8080
WORKER_UID: Final = 10001

# Where a worker with a declared `capacity` shares its permits with its other
# replicas (paved.worker._capacity): a directory of slot files on this host (set by
# the local replica sets of `paved dev`), or a Redis for replicas on several hosts
# (rendered into the Deployment by the operator).
CAPACITY_DIR_ENV: Final = "PAVED_CAPACITY_DIR"
CAPACITY_REDIS_ENV: Final = "PAVED_CAPACITY_REDIS_URL"
