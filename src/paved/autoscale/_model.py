"""What the autoscaling decision reads and returns: plain frozen data, JSON in and out.

One :class:`DecisionInput` holds everything :func:`paved.autoscale.decide` may
look at (the signals, the current replicas, the policy, recent history and the
clock), so the decision is a pure function that a test drives from a recorded
trace (``tests/autoscale/traces/*.json``). The collector (``_signals.py``) fills
:class:`Signals`; a value it could not read, or read too old, is ``None`` and
named in :attr:`Signals.missing` -- the decision then says so instead of
guessing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from paved import specs

QueueKind = Literal["workflow", "activity"]
Action = Literal["up", "down", "hold", "wait", "steady"]


@dataclass(frozen=True)
class QueueSignals:
    """One task queue of the worker, summed over its replicas.

    Attributes:
        task_queue: the queue's name.
        kind: ``activity`` or ``workflow`` (which slots serve it).
        slots_per_replica: the worker's slot limit for this kind (from its tuning).
        backlog: tasks waiting (``DescribeTaskQueue`` stats, approximate).
        backlog_age_seconds: age of the oldest waiting task.
        add_rate: tasks added per second (server's moving average).
        dispatch_rate: tasks handed to workers per second.
        slots_used: slots busy, all replicas together (worker heartbeats, else /metrics).
        slots_available: slots free, all replicas together.
        mean_task_seconds: mean time a task holds a slot (activity latency
            histogram of the workers, else slots_used / dispatch_rate).
        rate_limiting_active: the server throttles dispatch on this queue.
    """

    task_queue: str
    kind: QueueKind
    slots_per_replica: int
    backlog: int | None = None
    backlog_age_seconds: float | None = None
    add_rate: float | None = None
    dispatch_rate: float | None = None
    slots_used: int | None = None
    slots_available: int | None = None
    mean_task_seconds: float | None = None
    rate_limiting_active: bool | None = None


@dataclass(frozen=True)
class Signals:
    """Everything measured about one worker at one moment.

    Attributes:
        worker: the managed worker's name.
        at: when the signals were read (seconds, the collector's clock).
        queues: one entry per task queue the worker polls.
        replicas_reporting: replicas whose /metrics answered.
        cpu: mean CPU of the replicas, in cores (1.0 = one core busy), over the
            last interval; None until two samples exist.
        namespace_limited: the proxy refused calls of this namespace for its rate
            limit during the last interval (or Temporal reports rate limiting).
        namespace_usage: actions per second over the namespace's limit (0..1+), if known.
        dependency_refusals: activity failures per second that carry a rate-limit
            marker (HTTP 429, ``*Busy``, ``RateLimited``...): the dependency is refusing.
        sources: where each signal came from (``backlog: server``, ``slots: heartbeats``).
        missing: ``name: why`` of every signal that could not be read or was stale.
    """

    worker: str
    at: float
    queues: tuple[QueueSignals, ...] = ()
    replicas_reporting: int = 0
    cpu: float | None = None
    namespace_limited: bool | None = None
    namespace_usage: float | None = None
    dependency_refusals: float | None = None
    sources: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signals:
        d = dict(data)
        d["queues"] = tuple(QueueSignals(**q) for q in d.get("queues", ()))
        d["sources"] = tuple(d.get("sources", ()))
        d["missing"] = tuple(d.get("missing", ()))
        return cls(**d)


@dataclass(frozen=True)
class Policy:
    """The limits of one worker's autoscaling (from ``paved.yaml``'s ``autoscaler:``).

    The same numbers render the Kubernetes HPA / KEDA ScaledObject
    (``paved.operator``), so local and cluster scaling behave alike.
    """

    min_replicas: int = 1
    max_replicas: int = 10
    target_utilization: float = 0.8
    scale_down_after_seconds: float = 300.0
    max_scale_up_factor: float = 2.0
    cpu_saturation: float = 0.9
    namespace_headroom: float = 0.9  # usage above this fraction of the limit: hold
    # The dependency's declared concurrency (``workers.<name>.capacity``): demand above it
    # is not served faster by more replicas.
    dependency_capacity: int | None = None

    @classmethod
    def of(cls, config: specs.AutoscalerConfig, capacity: int | None = None) -> Policy:
        return cls(
            dependency_capacity=capacity,
            min_replicas=config.min_replicas,
            max_replicas=config.max_replicas,
            target_utilization=config.target_slot_utilization,
            scale_down_after_seconds=config.scale_down_after_seconds,
            max_scale_up_factor=config.max_scale_up_factor,
            cpu_saturation=config.cpu_saturation,
        )


@dataclass(frozen=True)
class Step:
    """One past decision, as the loop remembers it (for the quiet window)."""

    at: float
    wanted: int  # what demand asked for (clamped, before step limits and holds)
    desired: int  # what was decided


@dataclass(frozen=True)
class DecisionInput:
    """The one input of :func:`decide`."""

    signals: Signals
    current: int
    policy: Policy
    history: tuple[Step, ...] = ()
    now: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DecisionInput:
        return cls(
            signals=Signals.from_json(data["signals"]),
            current=int(data["current"]),
            policy=Policy(**data.get("policy", {})),
            history=tuple(Step(**s) for s in data.get("history", ())),
            now=float(data.get("now", data["signals"]["at"])),
        )


@dataclass(frozen=True)
class Decision:
    """What to do and why.

    Attributes:
        desired: the replica count to run (equal to ``current`` unless ``up``/``down``).
        current: the replica count the decision started from.
        action: ``up``/``down`` (scale), ``hold`` (more replicas would not help:
            see ``holds``), ``wait`` (demand fell, the quiet window has not
            passed), ``steady`` (nothing to do).
        wanted: the replicas demand asks for, clamped to min/max (None: unknown).
        demand: slots wanted (backlog + slots in use, or add rate x task time).
        reason: one line a person reads.
        holds: why scaling up was withheld (each a short sentence).
        missing: signals that were missing or stale.
        driver: the queue that set the demand.
    """

    desired: int
    current: int
    action: Action
    reason: str
    wanted: int | None = None
    demand: float | None = None
    holds: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    driver: str | None = None
    details: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
