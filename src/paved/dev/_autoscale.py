"""``paved dev``'s autoscaler loop, on the operator's local ``ReplicaSet``.

The wiring between :mod:`paved.autoscale` (signals, the decision, the loop)
and the operator's local ``ReplicaSet`` (the actuator), which are siblings that
never import each other. A worker is autoscaled locally when its policy in
``paved.yaml`` (``workers.<name>.autoscaler`` or the project's ``autoscaler``)
has a ``kind`` other than ``none`` -- the same policy the operator renders into
the worker's HPA or KEDA ScaledObject in Kubernetes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.client import Client

from paved import autoscale, specs
from paved.operator import ReplicaSet

HEARTBEAT_SECONDS = autoscale.HEARTBEAT_SECONDS


class ReplicaActuator:
    """The operator's ``ReplicaSet`` as the autoscaler's :class:`paved.autoscale.Actuator`."""

    def __init__(
        self, replicas: ReplicaSet, held: Callable[[str], bool] = lambda _w: False
    ) -> None:
        self.replicas_set = replicas
        self.held = held

    def replicas(self, worker: str) -> int | None:
        if self.held(worker):  # a crash loop paved dev holds at 0: not the autoscaler's to undo
            return None
        return self.replicas_set.desired().get(worker)

    def set_replicas(self, worker: str, replicas: int) -> None:
        self.replicas_set.set_desired(worker, replicas)

    def metrics_urls(self, worker: str) -> tuple[str, ...]:
        return tuple(
            s.health_url.replace("/healthz", "/metrics")
            for s in self.replicas_set.status(worker)
            if s.health_url and s.state in ("running", "draining")
        )


async def start_autoscaler(
    project: specs.Project,
    environment: str,
    temporal_address: str,
    replicas: ReplicaSet,
    *,
    proxy_metrics_url: str | None,
    echo: Any,
    held: Callable[[str], bool] = lambda _w: False,
) -> autoscale.Autoscaler | None:
    """The loop for ``paved dev`` (talking to Temporal directly), or None if no worker
    is autoscaled."""
    workers: dict[str, autoscale.ScaledWorker] = {}
    for w in autoscale.autoscaled_workers(project):
        sw = autoscale.scaled_worker(
            project, w, environment, via_proxy=False, proxy_metrics_url=proxy_metrics_url
        )
        if sw is not None:
            workers[w.name] = sw
    if not workers:
        return None
    client = await Client.connect(temporal_address)
    collector = autoscale.Collector(
        client, heartbeat_stale_seconds=max(10.0, 4 * HEARTBEAT_SECONDS)
    )
    interval = min(project.config.autoscaler_of(w).interval_seconds for w in workers)
    return autoscale.Autoscaler(
        collector,
        ReplicaActuator(replicas, held),
        workers,
        interval=interval,
        echo=echo,
        state_file=project.state_dir / autoscale.STATE_FILE,
        trace_file=project.state_dir / "logs" / "autoscale-trace.jsonl",
    )
