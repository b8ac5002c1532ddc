"""The operator's Prometheus metrics (one private registry per operator).

``paved operator run --metrics-port N`` serves them on ``/metrics``:

- ``paved_operator_objects{target,kind,state}``: objects by state after the last pass
  (in-sync, drift, applied, held, error, waiting);
- ``paved_operator_reconcile_seconds{target}``: duration of each target's pass;
- ``paved_operator_errors_total{target,kind}``: failed writes and reads;
- ``paved_operator_writes_total{target,kind,op}``: writes done;
- ``paved_operator_passes_total`` and ``paved_operator_lease_held`` (1 when this
  operator holds the lease, 0 on standby).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PCounter

if TYPE_CHECKING:
    from paved.operator._reconcile import PassResult


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.objects = Gauge(
            "paved_operator_objects",
            "Objects by state after the last pass",
            ["target", "kind", "state"],
            registry=r,
        )
        self.seconds = Histogram(
            "paved_operator_reconcile_seconds",
            "Duration of one reconcile pass of one target",
            ["target"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.errors = PCounter(
            "paved_operator_errors",
            "Failed reads and writes",
            ["target", "kind"],
            registry=r,
        )
        self.writes = PCounter(
            "paved_operator_writes", "Writes done", ["target", "kind", "op"], registry=r
        )
        self.passes = PCounter("paved_operator_passes", "Reconcile passes", registry=r)
        self.lease_held = Gauge(
            "paved_operator_lease_held", "1 when this operator holds the lease", registry=r
        )

    def record(self, result: PassResult) -> None:
        self.passes.inc()
        self.objects.clear()
        for t in result.targets:
            self.seconds.labels(t.name).observe(t.seconds)
            if t.read_error:
                self.errors.labels(t.name, "*").inc()
            counts = Counter((o.kind, o.state) for o in t.objects)
            for (kind, state), n in counts.items():
                self.objects.labels(t.name, kind, state).set(n)
