"""A declared dependency capacity: at most N activities at once fleet-wide, a few more held ready.

``capacity: 8`` on a worker in ``paved.yaml`` is the one number a team sets for a
scarce dependency (a GPU fleet of 8 slots): the dependency never sees more than 8
at once from this worker's fleet, whatever the replica count (fixed, or set by
the autoscaler). The managed worker turns it into:

- a **gate**: an activity inbound interceptor; an activity runs its body only
  with a permit. Where the permits live is decided once, at start, by
  :func:`plan_gate` (one pure function):

  ========================  =============================================  ==========
  the worker is given       gate                                           permits
  ========================  =============================================  ==========
  ``PAVED_CAPACITY_REDIS_`` :class:`SharedCapacityGate` on ``RedisSlots``  capacity,
  ``URL``                   (leases in Redis: replicas on many hosts)      fleet-wide
  ``PAVED_CAPACITY_DIR``    :class:`SharedCapacityGate` on ``FileSlots``   capacity,
                            (``flock`` slot files: one host; set by        fleet-wide
                            ``paved dev`` and the local replica sets)
  neither, one replica at   :class:`CapacityGate`: an ``asyncio.Semaphore``  capacity
  most (no autoscaler)      in the process (the fast path, no I/O)
  neither, more replicas    :class:`CapacityGate` with a static share,     capacity //
  possible                  and ``PAVED-CAPACITY-UNSHARED`` said at start  max replicas
  ========================  =============================================  ==========

  (The last row never exceeds the capacity unless max replicas > capacity, which
  the warning names; it wastes what idle replicas leave unused: configure a store.)
- a **bounded prefetch**: a replica's activity slots are ``capacity + prefetch``
  (``paved gen`` writes them as the worker's ``max_concurrent_activities``,
  ``specs.capacity_slots``), so one replica alone can use the whole capacity, and
  when a render finishes the next task is already in the process, waiting at the
  gate, instead of being asked for only then (a slot release, a poll and a match
  through a busy server: hundreds of milliseconds measured under load, during
  which a GPU slot idles). A permit freed in this process wakes its next waiter at
  once; permits freed by other replicas are seen within the store's poll interval
  (10 ms for slot files, 50 ms for Redis), one poller per process;
- **heartbeats while waiting**: a task held at the gate heartbeats (when its call
  set a heartbeat timeout), so a worker that dies with tasks in hand gives them
  back after the heartbeat timeout, not after start-to-close.

**When the store cannot answer, the gate fails closed** (unlike the proxy's rate
limiter, which fails open): no new body starts, held tasks keep waiting and
heartbeating, bodies already running finish, and the worker logs
``PAVED-CAPACITY-STORE`` at once and every 30 s while it lasts (with the count
of held tasks). The capacity is a promise to a dependency that falls over above
it (the example's GPU answers 429 and fails); work waiting in Temporal's queue is
safe, work piled on a saturated dependency is not. When the store answers again
the gate resumes by itself; leases of bodies that ran meanwhile are taken back
if there is room, else reported (``PAVED-CAPACITY-LEASE-LOST``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from paved._errors import ProjectError
from paved.worker import _permits as permits_mod

log = logging.getLogger("paved.worker")

_STORE_DOWN_EVERY = 30.0  # seconds between two PAVED-CAPACITY-STORE lines while it lasts
LEASE_LOST = "PAVED-CAPACITY-LEASE-LOST"


class CapacityGate(Interceptor):
    """Run at most ``permits`` activity bodies at once in this process (see module doc).

    The fast path: one replica, no store; its cost is one uncontended semaphore."""

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

    def exposition(self, worker: str) -> str:
        """The gate's gauges for the worker's ``/metrics``."""
        return _exposition(worker, "memory", self.permits, self.running, self.waiting)


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


def _exposition(worker: str, store: str, permits: int, running: int, waiting: int) -> str:
    labels = f'worker="{worker}",store="{store}"'
    return (
        "# HELP paved_capacity_permits Permits of the declared capacity this replica's gate "
        "uses (fleet-wide for a shared store).\n"
        "# TYPE paved_capacity_permits gauge\n"
        f"paved_capacity_permits{{{labels}}} {permits}\n"
        "# HELP paved_capacity_running Activity bodies of this replica running with a permit.\n"
        "# TYPE paved_capacity_running gauge\n"
        f"paved_capacity_running{{{labels}}} {running}\n"
        "# HELP paved_capacity_waiting Tasks of this replica held at the gate (the prefetch).\n"
        "# TYPE paved_capacity_waiting gauge\n"
        f"paved_capacity_waiting{{{labels}}} {waiting}\n"
    )


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


class SharedCapacityGate(Interceptor):
    """Run an activity body only with a permit of ``store``, shared by the whole fleet.

    One gate per worker process (every activity queue of the worker shares it).
    Waiting tasks queue in the process (FIFO); only the first polls the store, so
    a busy fleet asks the store about once per poll interval per replica. Held
    leases (Redis) are renewed by one background task.
    """

    def __init__(self, store: permits_mod.PermitStore) -> None:
        self.store = store
        self.permits = store.capacity
        self.waiting = 0
        self.running = 0
        self.store_errors = 0
        self.lost = 0
        self._held: set[str] = set()
        self._releasing: set[asyncio.Future[None]] = set()
        self._turn: asyncio.Lock | None = None  # made in the worker's event loop
        self._freed: asyncio.Event | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._down_since: float | None = None
        self._last_said = 0.0

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _SharedGated(next, self)

    def exposition(self, worker: str) -> str:
        """The gate's gauges and counters for the worker's ``/metrics``."""
        kind = "redis" if self.store.lease_seconds is not None else "files"
        text = _exposition(worker, kind, self.permits, self.running, self.waiting)
        return text + (
            "# HELP paved_capacity_store_errors_total Calls to the shared capacity store that "
            "failed (the gate fails closed meanwhile).\n"
            "# TYPE paved_capacity_store_errors_total counter\n"
            f'paved_capacity_store_errors_total{{worker="{worker}"}} {self.store_errors}\n'
            "# HELP paved_capacity_leases_lost_total Leases that expired while their activity ran.\n"
            "# TYPE paved_capacity_leases_lost_total counter\n"
            f'paved_capacity_leases_lost_total{{worker="{worker}"}} {self.lost}\n'
        )

    async def acquire(self) -> str:
        """A permit of the fleet; waits (heartbeating) for one, however long that takes."""
        if self._turn is None or self._freed is None:
            self._turn, self._freed = asyncio.Lock(), asyncio.Event()
        if not self._turn.locked():
            token = await self._try()
            if token is not None:
                return token
        self.waiting += 1
        beat = asyncio.create_task(_heartbeat_while_waiting())
        try:
            async with self._turn:
                while True:
                    self._freed.clear()
                    token = await self._try()
                    if token is not None:
                        return token
                    delay = self.store.poll if self._down_since is None else 1.0
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._freed.wait(), delay)
        finally:
            self.waiting -= 1
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def release(self, token: str) -> None:
        self._held.discard(token)
        try:
            await self.store.release(token)
        except permits_mod.CapacityStoreError as e:
            self._store_down(e)
        if self._freed is not None:
            self._freed.set()  # this process's next waiter tries at once

    async def _try(self) -> str | None:
        # Shielded: a task cancelled while the store grants it a permit gives it back.
        attempt = asyncio.ensure_future(self.store.try_acquire())
        try:
            token = await asyncio.shield(attempt)
        except asyncio.CancelledError:
            attempt.add_done_callback(self._give_back)
            raise
        except permits_mod.CapacityStoreError as e:
            self._store_down(e)
            return None
        if self._down_since is not None:
            log.warning(
                "capacity store %s answers again after %.0fs: activities start again",
                self.store.where,
                time.monotonic() - self._down_since,
            )
            self._down_since = None
        if token is not None:
            self._held.add(token)
            if self.store.lease_seconds is not None and self._renewer is None:
                self._renewer = asyncio.create_task(self._renew_forever(self.store.lease_seconds))
        return token

    def _give_back(self, attempt: asyncio.Future[str | None]) -> None:
        if attempt.cancelled() or attempt.exception() is not None:
            return
        token = attempt.result()
        if token is not None:
            self._held.add(token)
            task = asyncio.ensure_future(self.release(token))
            self._releasing.add(task)  # kept until done (the loop holds tasks weakly)
            task.add_done_callback(self._releasing.discard)

    async def _renew_forever(self, lease: float) -> None:
        while True:
            await asyncio.sleep(lease / 3)
            held = sorted(self._held)
            try:
                lost = await self.store.renew(held)
                # Released while the renewal was on its way: a renewal that arrived after
                # the release took the permit back; give it back again.
                for token in [t for t in held if t not in self._held]:
                    await self.store.release(token)
            except permits_mod.CapacityStoreError as e:
                self._store_down(e)
                continue
            for token in lost:
                if token in self._held:
                    self.lost += 1
                    log.error(
                        "[%s] capacity lease %s expired while its activity "
                        "ran and its permit was given to another holder: the dependency may see "
                        "one more than its capacity until this activity ends\n  fix: keep the "
                        "worker's event loop responsive (blocking work in threads) and the store "
                        "reachable; the lease is %.0fs, renewed every %.1fs",
                        LEASE_LOST,
                        token,
                        lease,
                        lease / 3,
                    )
                    self._held.discard(token)

    def _store_down(self, e: permits_mod.CapacityStoreError) -> None:
        self.store_errors += 1
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        if now - self._last_said >= _STORE_DOWN_EVERY or self._last_said == 0.0:
            self._last_said = now
            log.error(
                "[%s] %s; failing closed: %d activities wait at the gate, %d running, none "
                "starts until the store answers (down for %.0fs)\n  fix: %s",
                e.code,
                e.message,
                self.waiting,
                self.running,
                now - self._down_since,
                e.fix,
            )

    async def close(self) -> None:
        """Give back every permit and stop renewing (tests; a worker process just exits)."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        for token in sorted(self._held):
            with contextlib.suppress(permits_mod.CapacityStoreError):
                await self.store.release(token)
        self._held.clear()
        await self.store.close()


class _SharedGated(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, gate: SharedCapacityGate) -> None:
        super().__init__(next)
        self.gate = gate

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        gate = self.gate
        token = await gate.acquire()
        gate.running += 1
        try:
            return await self.next.execute_activity(input)
        finally:
            gate.running -= 1
            await gate.release(token)


Store = Literal["memory", "files", "redis"]


@dataclass(frozen=True)
class GateInput:
    """What :func:`plan_gate` decides from.

    Attributes:
        worker: the worker's name (for messages).
        capacity: its declared ``capacity`` (None: no gate).
        max_replicas: how many replicas may run at once: the autoscaler's
            ``max_replicas``, else the spec's ``replicas``.
        fleet: what shares the permits, ``<project>:<worker>:<region>:<environment>``.
        redis_url: ``PAVED_CAPACITY_REDIS_URL`` (replicas on several hosts).
        slot_dir: ``PAVED_CAPACITY_DIR`` (every replica on this host).
    """

    worker: str
    capacity: int | None
    max_replicas: int = 1
    fleet: str = ""
    redis_url: str | None = None
    slot_dir: str | None = None


@dataclass(frozen=True)
class GatePlan:
    """Which gate a worker process runs (see the module doc's table)."""

    store: Store
    permits: int
    where: str = ""  # the slot directory or the Redis URL
    fleet: str = ""
    warning: ProjectError | None = None


def plan_gate(inp: GateInput) -> GatePlan | None:
    """The gate of a worker process: a pure function of its capacity, replicas and settings."""
    cap = inp.capacity
    if cap is None:
        return None
    if inp.redis_url:
        return GatePlan("redis", cap, inp.redis_url, inp.fleet)
    if inp.slot_dir:
        path = Path(inp.slot_dir) / inp.fleet.replace(":", ".").replace("/", "_")
        return GatePlan("files", cap, str(path), inp.fleet)
    if inp.max_replicas <= 1:
        return GatePlan("memory", cap)
    share = max(1, cap // inp.max_replicas)
    over = (
        f"; with {inp.max_replicas} replicas of at least 1 permit each the dependency may see "
        f"{inp.max_replicas}, MORE than its capacity {cap}"
        if share * inp.max_replicas > cap
        else ""
    )
    warning = ProjectError(
        f"worker {inp.worker!r}: capacity {cap} and up to {inp.max_replicas} replicas, but no "
        f"store shared by the replicas (PAVED_CAPACITY_REDIS_URL / PAVED_CAPACITY_DIR): each "
        f"replica gets a static {share} permit(s), and permits of absent replicas go unused" + over,
        code="PAVED-CAPACITY-UNSHARED",
        fix="set clusters.<name>.kubernetes.capacity_redis_url in paved.yaml (the operator "
        "gives it to the pods), or PAVED_CAPACITY_REDIS_URL for replicas you run yourself",
    )
    return GatePlan("memory", share, warning=warning)


def make_gate(plan: GatePlan) -> CapacityGate | SharedCapacityGate:
    """The interceptor for ``plan`` (raises ``PAVED-CAPACITY-STORE`` for an unusable directory)."""
    if plan.store == "memory":
        return CapacityGate(plan.permits)
    if plan.store == "files":
        return SharedCapacityGate(permits_mod.FileSlots(Path(plan.where), plan.permits))
    return SharedCapacityGate(permits_mod.RedisSlots(plan.where, plan.fleet, plan.permits))
