"""The reconciler: one level-based pass over every target (read, diff, apply, record).

Called by ``Operator`` (``paved operator run|plan|apply`` and ``paved dev``).
Every target is read first, all concurrently (one target's wait for its
Temporal overlaps the others' work); then per target, in order: ``diff``
(pure) -> ``apply`` of the writes, parents first, a phase per kind, objects of
a phase in parallel. A target whose ``desired`` depends on the inputs alone
(``cache_desired = True``) computes it once per inputs object (the operator
re-parses the inputs only when a file changed); a target whose ``observe``
returns the very snapshot of the last pass (nothing read differed) gets the last
diff again, unless a deprecated object made that diff depend on the clock. Each object fails on
its own: its error is recorded, it is retried with exponential backoff (base
doubling up to a cap, with jitter), and the rest of the pass goes on. A
``TerminalError`` waits until the object's desired spec changes. A target whose
read fails gets no write at all in that pass (its objects show the read error).

The outcome of every object (desired, actual, drift, last error, next retry)
goes to ``Status`` (``.paved/operator/status.json``, read by ``paved status``)
and to the Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from paved.operator._diff import Rules, diff
from paved.operator._metrics import Metrics
from paved.operator._target import (
    Change,
    Desired,
    Inputs,
    Key,
    Op,
    Snapshot,
    Target,
    TerminalError,
)

log = logging.getLogger("paved.operator")


@dataclass(frozen=True)
class Backoff:
    """Per-object retry delays: ``base * 2**(attempts-1)``, capped, with +-20% jitter."""

    base: float = 1.0
    cap: float = 300.0

    def delay(self, attempts: int) -> float:
        d: float = min(self.cap, self.base * 2.0 ** max(0, attempts - 1))
        return d * float(random.uniform(0.8, 1.2))


@dataclass
class _Retry:
    attempts: int
    next_at: float
    error: str
    terminal: bool
    fingerprint: str


@dataclass
class ObjectStatus:
    """What ``paved status`` shows for one object."""

    target: str
    kind: str
    name: str
    state: str  # in-sync | drift | applied | held | error | waiting
    op: str
    desired: dict[str, Any] | None = None
    actual: dict[str, Any] | None = None
    drift: list[str] = field(default_factory=list)
    reason: str = ""
    last_error: str = ""
    attempts: int = 0
    next_retry: float | None = None


@dataclass
class TargetResult:
    name: str
    changes: list[Change] = field(default_factory=list)
    objects: list[ObjectStatus] = field(default_factory=list)
    read_error: str = ""
    writes: int = 0
    errors: int = 0
    seconds: float = 0.0


@dataclass
class PassResult:
    """One pass over every target."""

    targets: list[TargetResult]
    seconds: float
    dry_run: bool

    @property
    def writes(self) -> int:
        return sum(t.writes for t in self.targets)

    @property
    def errors(self) -> int:
        return sum(t.errors + (1 if t.read_error else 0) for t in self.targets)

    @property
    def drift(self) -> list[Change]:
        """Changes that would write (or did): what ``plan`` reports."""
        return [c for t in self.targets for c in t.changes if c.is_write]

    @property
    def pending(self) -> int:
        """Objects not yet as desired because of an error or a retry wait."""
        return sum(1 for t in self.targets for o in t.objects if o.state in ("error", "waiting"))

    @property
    def converged(self) -> bool:
        return not self.drift and self.errors == 0 and self.pending == 0


def _fingerprint(d: Desired | None) -> str:
    return json.dumps(d.spec if d else None, sort_keys=True, default=str)


def _plain(spec: Any) -> dict[str, Any] | None:
    if spec is None:
        return None
    return {k: v for k, v in dict(spec).items()}


@dataclass
class _Read:
    """A target's desired objects and what its read found (before the diff)."""

    result: TargetResult
    desired: list[Desired] | None
    snapshot: Snapshot | None
    seconds: float


class Reconciler:
    """Drives ``targets``; keeps each object's retry state between passes.

    Args:
        targets: the targets, in the order they are reconciled.
        grace_seconds, force: deletion rules (see ``Rules``).
        backoff: per-object retry delays.
        concurrency: writes in parallel inside one phase of one target.
        may_write: asked before every write (the lease); False stops the pass's writes.
        clock: epoch seconds (tests move time).
    """

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        grace_seconds: float = 7 * 86400.0,
        force: bool = False,
        backoff: Backoff = Backoff(),
        concurrency: int = 16,
        may_write: Callable[[], bool] = lambda: True,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ValueError(f"target names must be unique: {names}")
        self.targets = list(targets)
        self.grace_seconds = grace_seconds
        self.force = force
        self.backoff = backoff
        self.concurrency = concurrency
        self.may_write = may_write
        self.metrics = metrics or Metrics()
        self.clock = clock
        self._retry: dict[tuple[str, Key], _Retry] = {}
        self._desired: dict[str, tuple[Inputs, list[Desired]]] = {}
        self._diffs: dict[str, tuple[list[Desired], Snapshot, list[Change]]] = {}

    def next_retry_in(self) -> float | None:
        """Seconds until the earliest non-terminal retry, or None."""
        pending = [r.next_at for r in self._retry.values() if not r.terminal]
        return max(0.0, min(pending) - self.clock()) if pending else None

    async def reconcile(self, inputs: Inputs, *, dry_run: bool = False) -> PassResult:
        """One pass over every target; writes nothing when ``dry_run``."""
        t0 = time.perf_counter()
        # Python's cyclic GC is paused while reading and diffing (it resumes for writes
        # and after the pass): a pass over 700 namespaces allocates ~100k objects, and
        # a full collection in a grown operator process took 0.1-0.3 s of a no-op pass
        # on the benchmark machine. No collection is skipped, only moved out of the pass.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            reads = await asyncio.gather(*(self._read(t, inputs) for t in self.targets))
            results = []
            for target, read in zip(self.targets, reads, strict=True):
                results.append(await self._settle(target, read, dry_run, gc_was_on))
        finally:
            if gc_was_on:
                gc.enable()
        result = PassResult(results, time.perf_counter() - t0, dry_run)
        if not dry_run:
            self.metrics.record(result)
        return result

    def _desired_of(self, target: Target, inputs: Inputs) -> list[Desired]:
        if not getattr(target, "cache_desired", False):
            return target.desired(inputs)
        cached = self._desired.get(target.name)
        if cached is not None and cached[0] is inputs:
            return cached[1]
        desired = target.desired(inputs)
        self._desired[target.name] = (inputs, desired)
        return desired

    async def _read(self, target: Target, inputs: Inputs) -> _Read:
        t0 = time.perf_counter()
        res = TargetResult(target.name)
        try:
            desired = self._desired_of(target, inputs)
        except Exception as e:  # a spec this target cannot express: nothing to do safely
            res.read_error = f"desired state: {type(e).__name__}: {e}"
            return _Read(res, None, None, time.perf_counter() - t0)
        try:
            snapshot = await target.observe(desired)
        except Exception as e:
            res.read_error = f"read failed: {_describe(e)}"
            log.warning("%s: %s", target.name, res.read_error)
            snapshot = Snapshot((), {d.key: res.read_error for d in desired}, complete=False)
        return _Read(res, desired, snapshot, time.perf_counter() - t0)

    async def _settle(
        self, target: Target, read: _Read, dry_run: bool, gc_on: bool = False
    ) -> TargetResult:
        t0 = time.perf_counter()
        res = read.result
        if read.desired is None or read.snapshot is None:
            res.seconds = read.seconds
            return res
        rules = Rules(
            now=self.clock(),
            grace_seconds=self.grace_seconds,
            force=self.force,
            deprecate_first=target.deprecate_first,
            kinds=target.kinds,
        )
        prev = self._diffs.get(target.name)
        if prev is not None and prev[0] is read.desired and prev[1] is read.snapshot:
            res.changes = list(prev[2])  # same inputs, same read: the same verdicts
        else:
            res.changes = diff(read.desired, read.snapshot, rules)
            # a deprecated object's verdict depends on the clock: such a diff is not kept
            if not any(o.deprecated_since is not None for o in read.snapshot.objects):
                self._diffs[target.name] = (read.desired, read.snapshot, res.changes)
            else:
                self._diffs.pop(target.name, None)
        statuses = {c.key: self._status(target.name, c) for c in res.changes}
        if not dry_run and any(c.is_write for c in res.changes):
            if gc_on:
                gc.enable()  # writes can take long: collect as usual meanwhile
            try:
                await self._apply(target, res, statuses)
            finally:
                if gc_on:
                    gc.disable()
        res.objects = list(statuses.values())
        res.seconds = read.seconds + time.perf_counter() - t0
        return res

    def _status(self, target: str, c: Change) -> ObjectStatus:
        if c.op == Op.NONE and not c.reason:  # the common case at scale: keep it cheap
            self._retry.pop((target, c.key), None)
            return ObjectStatus(target, c.kind, c.name, "in-sync", "in-sync")
        state = {Op.NONE: "in-sync", Op.HOLD: "held"}.get(c.op, "drift")
        if c.op == Op.HOLD and c.reason.startswith("read failed"):
            state = "error"
        s = ObjectStatus(
            target,
            c.kind,
            c.name,
            state,
            c.op.value,
            desired=_plain(c.desired.spec) if c.desired else None,
            actual=_plain(c.observed.spec) if c.observed else None,
            drift=[f"{f.field}: {f.actual!r} -> {f.desired!r}" for f in c.fields],
            reason=c.reason,
        )
        r = self._retry.get((target, c.key))
        if r is not None:
            s.last_error, s.attempts, s.next_retry = r.error, r.attempts, r.next_at
        if c.op == Op.NONE:
            self._retry.pop((target, c.key), None)
        return s

    async def _apply(
        self, target: Target, res: TargetResult, statuses: dict[Key, ObjectStatus]
    ) -> None:
        phases: list[list[Change]] = []
        last: tuple[bool, str] | None = None
        for c in res.changes:
            if not c.is_write:
                continue
            group = (c.op in (Op.DEPRECATE, Op.DELETE), c.kind)
            if group != last:
                phases.append([])
                last = group
            phases[-1].append(c)
        failed: set[Key] = set()
        sem = asyncio.Semaphore(self.concurrency)

        async def one(c: Change) -> None:
            key = (target.name, c.key)
            st = statuses[c.key]
            r = self._retry.get(key)
            now = self.clock()
            if r is not None:
                if r.terminal and r.fingerprint == _fingerprint(c.desired):
                    st.state = "error"
                    st.next_retry = None
                    return
                if not r.terminal and r.next_at > now:
                    st.state = "waiting"
                    return
            parent = c.desired.parent if c.desired else None
            if parent is not None and parent in failed:
                st.state, st.reason = "waiting", f"{parent[0]} {parent[1]} failed this pass"
                failed.add(c.key)
                return
            if not self.may_write():
                st.state, st.reason = "waiting", "lease lost: not writing"
                return
            async with sem:
                try:
                    res.writes += 1
                    await target.apply(c)
                except Exception as e:
                    failed.add(c.key)
                    res.errors += 1
                    attempts = (r.attempts if r else 0) + 1
                    terminal = isinstance(e, TerminalError)
                    delay = self.backoff.delay(attempts)
                    self._retry[key] = _Retry(
                        attempts, now + delay, _describe(e), terminal, _fingerprint(c.desired)
                    )
                    st.state, st.last_error, st.attempts = "error", _describe(e), attempts
                    st.next_retry = None if terminal else now + delay
                    self.metrics.errors.labels(target.name, c.kind).inc()
                    log.warning("%s: %s %s %s failed: %s", target.name, c.op, c.kind, c.name, e)
                    return
            self._retry.pop(key, None)
            self.metrics.writes.labels(target.name, c.kind, c.op.value).inc()
            st.state, st.last_error, st.attempts, st.next_retry = "applied", "", 0, None

        for phase in phases:
            if not self.may_write():
                for c in phase:
                    statuses[c.key].state = "waiting"
                    statuses[c.key].reason = "lease lost: not writing"
                continue
            await asyncio.gather(*(one(c) for c in phase))


def _describe(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0] if "\n  fix:" not in text else text
