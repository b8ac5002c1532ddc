"""The autoscaler loop: collect, decide, actuate, remember -- every ``interval`` seconds.

``paved dev`` runs one :class:`Autoscaler` in-process for the workers whose
``autoscaler.kind`` is not ``none``; the actuator is the operator's local
``ReplicaSet`` (real ``paved worker run`` processes, drained on scale-down),
reached through the small :class:`Actuator` protocol so that this package
never imports the operator. In Kubernetes the HPA or KEDA does this job, from
the same policy.

State it owns: per worker the recent :class:`~paved.autoscale.Step` history
(the quiet window), the last signals and decision, and the scale events. It
writes them to ``state_file`` (``.paved/autoscale.json``) after each pass for
``paved autoscale explain`` and ``paved status``, and appends every decision
input and result to ``trace_file`` (JSON lines) when one is given: a recorded
trace that a table test can replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from paved.autoscale._decide import decide
from paved.autoscale._model import Decision, DecisionInput, Policy, Signals, Step
from paved.autoscale._signals import Collector, Target

Echo = Callable[[str], None]


class Actuator(Protocol):
    """What the loop needs from whatever runs the replicas."""

    def replicas(self, worker: str) -> int | None:
        """The replica count currently asked for (None: the worker is not running here)."""

    def set_replicas(self, worker: str, replicas: int) -> None:
        """Run ``replicas`` replicas (scale-down drains: in-flight work finishes)."""

    def metrics_urls(self, worker: str) -> tuple[str, ...]:
        """The ``/metrics`` URL of every running replica."""


@dataclass(frozen=True)
class ScaledWorker:
    """One worker under the loop: where its signals are and its policy."""

    target: Target
    policy: Policy


@dataclass(frozen=True)
class ScaleEvent:
    at: float
    worker: str
    before: int
    after: int
    reason: str


class Autoscaler:
    """Runs the decision for every worker it scales and applies it.

    Args:
        collector: reads signals.
        actuator: sets replicas.
        workers: ``{worker name: ScaledWorker}``.
        interval: seconds between passes.
        echo: where scale events are said.
        state_file: last signals, decisions and events (JSON), rewritten each pass.
        trace_file: every decision input and result appended (JSON lines).
        clock: wall clock; tests may pass their own.
    """

    def __init__(
        self,
        collector: Collector,
        actuator: Actuator,
        workers: dict[str, ScaledWorker],
        *,
        interval: float = 15.0,
        echo: Echo | None = None,
        state_file: Path | None = None,
        trace_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.collector = collector
        self.actuator = actuator
        self.workers = dict(workers)
        self.interval = interval
        self.echo: Echo = echo or (lambda _line: None)
        self.state_file = state_file
        self.trace_file = trace_file
        self.clock = clock
        self.history: dict[str, deque[Step]] = {w: deque(maxlen=2000) for w in workers}
        self.last: dict[str, tuple[Signals, Decision]] = {}
        self.events: list[ScaleEvent] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Pass every ``interval`` seconds until ``stop`` is set; a failing pass is said, not fatal."""
        while not stop.is_set():
            try:
                await self.step()
            except Exception as e:  # the loop must outlive one bad reading
                self.echo(f"  autoscaler: pass failed: {type(e).__name__}: {e}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
        await self.collector.close()

    async def step(self) -> dict[str, Decision]:
        """One pass over every worker: collect, decide, actuate. Returns the decisions."""
        out: dict[str, Decision] = {}
        for name, sw in self.workers.items():
            current = self.actuator.replicas(name)
            if current is None:
                continue
            target = Target(
                worker=sw.target.worker,
                namespace=sw.target.namespace,
                metrics_urls=self.actuator.metrics_urls(name),
                proxy_metrics_url=sw.target.proxy_metrics_url,
                physical_namespace=sw.target.physical_namespace,
                rate_limit=sw.target.rate_limit,
            )
            signals = await self.collector.collect(target)
            hist = self.history[name]
            window = max(sw.policy.scale_down_after_seconds * 2, 60.0)
            while hist and hist[0].at < signals.at - window:
                hist.popleft()
            inp = DecisionInput(signals, current, sw.policy, tuple(hist), signals.at)
            d = decide(inp)
            hist.append(Step(signals.at, d.wanted if d.wanted is not None else current, d.desired))
            self.last[name] = (signals, d)
            out[name] = d
            if d.desired != current:
                self.actuator.set_replicas(name, d.desired)
                self.events.append(ScaleEvent(signals.at, name, current, d.desired, d.reason))
                self.echo(f"  autoscaler: {name}: {d.reason}")
            if self.trace_file is not None:
                with open(self.trace_file, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"input": inp.to_json(), "decision": d.to_json()}) + "\n")
        self.write_state()
        return out

    def write_state(self) -> None:
        if self.state_file is None:
            return
        data = {
            "at": self.clock(),
            "interval": self.interval,
            "workers": {
                name: {
                    "signals": s.to_json(),
                    "decision": d.to_json(),
                    "history": [vars(st) for st in self.history[name]],
                }
                for name, (s, d) in self.last.items()
            },
            "events": [vars(e) for e in self.events[-200:]],
        }
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.state_file)
