"""Autoscaling of managed workers on Temporal's own signals.

``collect`` reads a worker's signals (server first: ``DescribeTaskQueue`` stats
and worker heartbeats via ``ListWorkers``; then the replicas' ``/metrics`` and
the proxy's limiter); ``decide`` is the one pure decision (desired replicas and
the reason, or a hold that says why more replicas would not help); the
``Autoscaler`` loop runs both and sets the replicas through an actuator (the
operator's local ``ReplicaSet`` under ``paved dev``). In Kubernetes the same
policy (``paved.yaml``'s ``autoscaler:``) renders the HPA or KEDA ScaledObject
(``paved.operator``). See docs/autoscale.md.
"""

from paved.autoscale._decide import decide, hold_reasons, slot_utilization
from paved.autoscale._model import (
    Decision,
    DecisionInput,
    Policy,
    QueueSignals,
    Signals,
    Step,
)

__all__ = [
    "Decision",
    "DecisionInput",
    "Policy",
    "QueueSignals",
    "Signals",
    "Step",
    "decide",
    "hold_reasons",
    "slot_utilization",
]
