"""Autoscaling of managed workers on Temporal's own signals.

``collect`` reads a worker's signals (server first: ``DescribeTaskQueue`` stats
and worker heartbeats via ``ListWorkers``; then the replicas' ``/metrics`` and
the proxy's limiter); ``decide`` is the one pure decision (desired replicas and
the reason, or a hold that says why more replicas would not help); the
``Autoscaler`` loop runs both and sets the replicas through an actuator (the
operator's local ``ReplicaSet`` under ``paved dev``). In Kubernetes the same
policy (``paved.yaml``'s ``autoscaler:``) renders the HPA or KEDA ScaledObject
(``paved.operator``). ``explain`` is ``paved autoscale explain``. See docs/autoscale.md.
"""

from paved.autoscale._decide import decide, hold_reasons, slot_utilization
from paved.autoscale._explain import explain_lines
from paved.autoscale._loop import Actuator, Autoscaler, ScaledWorker, ScaleEvent
from paved.autoscale._model import (
    Decision,
    DecisionInput,
    Policy,
    QueueSignals,
    Signals,
    Step,
)
from paved.autoscale._project import (
    HEARTBEAT_SECONDS,
    STATE_FILE,
    autoscaled_workers,
    explain,
    read_state,
    scaled_worker,
)
from paved.autoscale._signals import (
    SIGNALS_DYNAMIC_CONFIG,
    Collector,
    Target,
    queue_kinds,
    slots_per_replica,
)

__all__ = [
    "HEARTBEAT_SECONDS",
    "SIGNALS_DYNAMIC_CONFIG",
    "STATE_FILE",
    "Actuator",
    "Autoscaler",
    "Collector",
    "Decision",
    "DecisionInput",
    "Policy",
    "QueueSignals",
    "ScaleEvent",
    "ScaledWorker",
    "Signals",
    "Step",
    "Target",
    "autoscaled_workers",
    "decide",
    "explain",
    "explain_lines",
    "hold_reasons",
    "queue_kinds",
    "read_state",
    "scaled_worker",
    "slot_utilization",
    "slots_per_replica",
]
