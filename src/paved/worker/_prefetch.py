"""Activity slots of a worker with a declared capacity: a prefetch sized by Little's law.

A worker with ``capacity:`` runs at most ``gate`` activity bodies at once
(``_capacity.py``); its activity *slots* (what temporalio lets it hold: tasks
running, tasks waiting at the gate, and polls in flight) are ``gate + prefetch``.
The prefetch is what keeps the dependency busy: when a body finishes, the next
task must already be in the process. A fixed prefetch covers a fixed dispatch
latency; measured (``bench/bench_burst.py``), a busy server answers polls in a
few hundred milliseconds normally but in one to two seconds during a burst's
first seconds, while the burst's starts and first workflow tasks saturate it, and
a prefetch of ``gate / 2`` then leaves GPU slots idle (in flight 4.7-6.3 of 8
during the first 20 s of a 1,000-request burst).

So the slots follow Little's law on the dispatch pipe: tasks in transit = rate x
latency. ``PrefetchSlots`` (a temporalio ``CustomSlotSupplier``) measures both:

- **rate**: tasks finished per second over the last ``WINDOW_S`` seconds (or since
  the first finish, when work began less than that ago);
- **latency** of the two trips a slot makes besides the work itself:
  - *dispatch*: from a slot's reservation (just before the worker polls with it)
    to the task arriving on it, the median of the last ``SAMPLES`` polls that were
    issued while the worker had work in hand (a poll issued by an idle worker
    measures how long no work came, not dispatch), each capped at ``MAX_LATENCY_S``;
  - *report*: the slot is released only once the server has the result, so a
    busy server holds it after the body ended too: the mean time a task held its
    slot minus the mean time it spent in the activity (waiting at the gate and
    running; ``PrefetchSlots`` is also the outermost activity interceptor, to time
    that), over the last ``SAMPLES`` tasks;

and allows ``prefetch = ceil(rate x (dispatch + report) x HEADROOM)``, never below the
declared floor (``specs.capacity_prefetch``, what ``paved gen`` writes) and never
above ``ceiling``, so one replica cannot hoard a fleet's backlog. Idle, the rate
falls to zero and the prefetch returns to the floor.

The supplier's methods are called by the Core SDK: ``reserve_slot`` on the
worker's event loop, the others possibly from Core's threads, so counters sit
behind a lock and waiters are woken with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio.worker import (
    ActivityInboundInterceptor,
    CustomSlotSupplier,
    ExecuteActivityInput,
    Interceptor,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
)

WINDOW_S = 5.0
SAMPLES = 32
MAX_LATENCY_S = 5.0
HEADROOM = 1.25


def prefetch_for(rate: float, latency: float, floor: int, ceiling: int) -> int:
    """Tasks to hold in transit: ``rate`` per second x ``latency`` seconds, with headroom."""
    want = math.ceil(rate * latency * HEADROOM) if rate > 0 and latency > 0 else 0
    return max(floor, min(ceiling, want))


@dataclass(eq=False)
class _Permit(SlotPermit):
    reserved_at: float
    busy_at_reserve: bool
    used_at: float | None = field(default=None)


class PrefetchSlots(CustomSlotSupplier, Interceptor):
    """Activity slots ``gate + prefetch``, the prefetch following rate x transit latency.

    Also an activity interceptor: put it before the gate, it times each task's stay in
    the activity (gate wait + body), which the report latency is measured against."""

    def __init__(
        self,
        gate: int,
        floor: int,
        ceiling: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gate = gate
        self.floor = floor
        self.ceiling = max(floor, ceiling)
        self.prefetch = floor
        self._clock = clock
        self._lock = threading.Lock()
        self._held = 0  # reserved slots: polling, waiting at the gate or running
        self._used = 0  # slots holding a task
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._latencies: deque[float] = deque(maxlen=SAMPLES)
        self._held_for: deque[float] = deque(maxlen=SAMPLES)  # slot used -> released
        self._inside: deque[float] = deque(maxlen=SAMPLES)  # in the activity (gate + body)
        self._done: deque[float] = deque()
        self._since: float | None = None  # the first finish after WINDOW_S without any
        self.peak_held = 0

    @property
    def limit(self) -> int:
        return self.gate + self.prefetch

    @property
    def held(self) -> int:
        return self._held

    def stats(self) -> dict[str, float]:
        """What ``/metrics`` shows: the adaptive prefetch and what it was computed from."""
        with self._lock:
            self._adapt(self._clock())
            return {
                "prefetch": self.prefetch,
                "slots_held": self._held,
                "slots_used": self._used,
                "rate_per_second": self._rate(self._clock()),
                "dispatch_latency_seconds": self._dispatch(),
                "report_latency_seconds": self._report(),
            }

    def exposition(self, worker: str, task_queue: str) -> str:
        """Prometheus text for ``paved_capacity_*`` gauges of this queue."""
        labels = f'worker="{worker}",task_queue="{task_queue}"'
        lines = []
        for key, value in self.stats().items():
            metric = f"paved_capacity_{key}"
            lines.append(f"# TYPE {metric} gauge")
            lines.append(f"{metric}{{{labels}}} {value:g}")
        return "\n".join(lines) + "\n"

    # ----- temporalio's CustomSlotSupplier ----------------------------------------------

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                permit = self._take()
                if permit is not None:
                    return permit
                fut: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, fut))
            try:
                await fut
            except asyncio.CancelledError:
                with self._lock:
                    if (loop, fut) in self._waiters:
                        self._waiters.remove((loop, fut))
                    else:  # woken for a free slot it will not take: pass the wake on
                        self._wake()
                raise

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        with self._lock:
            return self._take()

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        permit = ctx.permit
        now = self._clock()
        with self._lock:
            self._used += 1
            if isinstance(permit, _Permit):
                permit.used_at = now
                if permit.busy_at_reserve:
                    self._latencies.append(min(MAX_LATENCY_S, now - permit.reserved_at))
            self._adapt(now)
            self._wake()  # a grown prefetch lets waiting pollers go

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        permit = ctx.permit
        now = self._clock()
        with self._lock:
            self._held -= 1
            if isinstance(permit, _Permit) and permit.used_at is not None:
                self._used -= 1
                self._held_for.append(now - permit.used_at)
                if not self._rate(now):  # nothing finished for WINDOW_S: work begins now
                    self._since = now
                self._done.append(now)
            self._adapt(now)
            self._wake()

    # ----- inside the lock --------------------------------------------------------------

    def _take(self) -> _Permit | None:
        if self._held >= self.limit:
            return None
        self._held += 1
        self.peak_held = max(self.peak_held, self._held)
        return _Permit(reserved_at=self._clock(), busy_at_reserve=self._used > 0)

    def _rate(self, now: float) -> float:
        """Tasks finished per second over the last ``WINDOW_S``, or since the work began
        when that is more recent (a burst's first seconds must not read as slow)."""
        while self._done and self._done[0] < now - WINDOW_S:
            self._done.popleft()
        if not self._done or self._since is None:
            return 0.0
        return len(self._done) / min(WINDOW_S, max(1.0, now - self._since))

    def _dispatch(self) -> float:
        return statistics.median(self._latencies) if self._latencies else 0.0

    def _report(self) -> float:
        if not self._held_for or not self._inside:
            return 0.0
        gap = statistics.fmean(self._held_for) - statistics.fmean(self._inside)
        return min(MAX_LATENCY_S, max(0.0, gap))

    def _adapt(self, now: float) -> None:
        latency = self._dispatch() + self._report()
        self.prefetch = prefetch_for(self._rate(now), latency, self.floor, self.ceiling)

    # ----- the activity interceptor ------------------------------------------------------

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Timed(next, self)

    def _record_inside(self, seconds: float) -> None:
        with self._lock:
            self._inside.append(seconds)

    def _wake(self) -> None:
        free = self.limit - self._held
        while free > 0 and self._waiters:
            loop, fut = self._waiters.popleft()
            loop.call_soon_threadsafe(_resolve, fut)
            free -= 1


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _Timed(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, slots: PrefetchSlots) -> None:
        super().__init__(next)
        self.slots = slots

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        t0 = self.slots._clock()
        try:
            return await self.next.execute_activity(input)
        finally:
            self.slots._record_inside(self.slots._clock() - t0)
