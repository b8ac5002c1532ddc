"""A declared dependency capacity: at most N activities at once, a few more held ready.

``capacity: 8`` on a worker in ``paved.yaml`` is the one number a team sets for a
scarce dependency (a GPU fleet of 8 slots). The managed worker turns it into:

- a **gate**: an activity inbound interceptor holding an ``asyncio.Semaphore`` of
  ``ceil(capacity / replicas)`` permits (``WorkerSpec.capacity_permits``); an
  activity runs its body only with a permit, so the dependency never sees more
  than its capacity from this fleet;
- a **bounded prefetch**: the worker's activity slots are ``gate + prefetch``
  (``paved gen`` writes them as the worker's ``max_concurrent_activities``), so
  when a render finishes the next task is already in the process, waiting at the
  gate, instead of being asked for only then (a slot release, a poll and a match
  through a busy server: hundreds of milliseconds measured under load, during
  which a GPU slot idles);
- **heartbeats while waiting**: a task held at the gate heartbeats (when its call
  set a heartbeat timeout), so a worker that dies with tasks in hand gives them
  back after the heartbeat timeout, not after start-to-close.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)


class CapacityGate(Interceptor):
    """Run at most ``permits`` activity bodies at once in this process (see module doc)."""

    def __init__(self, permits: int) -> None:
        self.permits = permits
        self._sem: asyncio.Semaphore | None = None
        self.waiting = 0
        self.running = 0

    @property
    def semaphore(self) -> asyncio.Semaphore:
        if self._sem is None:  # made in the worker's event loop
            self._sem = asyncio.Semaphore(self.permits)
        return self._sem

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Gated(next, self)


class _Gated(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, gate: CapacityGate) -> None:
        super().__init__(next)
        self.gate = gate

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        gate = self.gate
        sem = gate.semaphore
        if sem.locked():
            gate.waiting += 1
            beat = asyncio.create_task(_heartbeat_while_waiting())
            try:
                await sem.acquire()
            finally:
                gate.waiting -= 1
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
        else:
            await sem.acquire()
        gate.running += 1
        try:
            return await self.next.execute_activity(input)
        finally:
            gate.running -= 1
            sem.release()


async def _heartbeat_while_waiting() -> None:
    try:
        timeout = activity.info().heartbeat_timeout
    except RuntimeError:  # not in an activity (a test driving the interceptor)
        return
    if not timeout:
        return
    every = max(0.2, min(1.0, timeout.total_seconds() / 3))
    while True:
        activity.heartbeat()
        await asyncio.sleep(every)
