"""The local replica-set target: every managed unit's replicas as real child processes.

A *unit* is one managed worker (``paved worker run NAME``) or, for ``paved dev``,
another process of the platform (the proxy, the codec server, a service of
``paved.yaml``). A ``ReplicaSet`` holds, per unit, a frozen
:class:`ProcessTemplate` and a desired replica count, and its loop
(:meth:`ReplicaSet.run`) makes the running processes match, level-based:

- a missing replica is started (``{port}`` in the template becomes a fresh free
  port at each start, so replicas never share a health port);
- a replica that dies is restarted with exponential backoff (:class:`RestartBackoff`);
  a replica that ran a while before dying starts a new backoff series;
- replicas above the desired count are drained: SIGTERM (a managed worker stops
  polling and lets in-flight activities finish), SIGKILL only after
  ``drain_seconds``;
- a unit whose template changes is restarted replica by replica.

Who calls it: ``paved dev`` (``paved.dev``) runs every worker of the specs through
it; the operator's local worker target calls :meth:`ReplicaSet.define` /
:meth:`ReplicaSet.remove` from the specs; the autoscaler and the operator call
:meth:`ReplicaSet.set_desired`; the inner loop calls :meth:`ReplicaSet.restart`
for the workers whose code changed. Those methods only record the wish (they
are thread-safe); the loop, on the thread that runs it, starts and signals the
processes. :meth:`ReplicaSet.status` is what ``paved status`` and the operator
report: per replica its pid, state, restarts, last exit code and last error line.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from paved import specs
from paved._errors import RuntimeSetupError
from paved._net import free_port, http_ok
from paved._proc import Proc, signal_group, spawn
from paved._zygote import ForkedProcess
from paved._zygote import Zygote as Zygote  # re-exported by paved.operator

State = Literal["starting", "running", "backoff", "draining", "stopped"]
Echo = Callable[[str], None]

_ERROR_LINE = re.compile(r"(?i)error|exception|traceback|fatal|PAVED-[A-Z]")


@dataclass(frozen=True)
class RestartBackoff:
    """Restart delays: ``first * factor**n`` seconds for the n-th crash in a row, at most
    ``maximum``; a replica that ran ``reset_after`` seconds before dying starts over."""

    first: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    reset_after: float = 60.0

    def delay(self, streak: int) -> float:
        return float(min(self.maximum, self.first * self.factor ** min(streak, 32)))


@dataclass(frozen=True)
class ProcessTemplate:
    """How to start one replica of a unit.

    Attributes:
        argv: the command; every ``{port}`` becomes a free port chosen at each start.
        env: the complete environment of the process.
        cwd: working directory.
        health_url: answers 200 once the replica is ready (``{port}`` as in argv);
            None: ready as soon as it runs.
        drain_seconds: after SIGTERM, how long the replica may take to exit
            before SIGKILL (a worker's graceful shutdown plus a margin).
    """

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    health_url: str | None = None
    drain_seconds: float = 30.0
    forkable: bool = False  # may start as a fork of the set's zygote (argv: python -m MODULE)


def worker_template(
    project: specs.Project,
    worker: specs.WorkerSpec,
    *,
    region: str,
    environment: str,
    env: Mapping[str, str],
    drain_margin: float = 10.0,
) -> ProcessTemplate:
    """One replica of managed worker ``worker``: ``paved worker run NAME --http-port {port}``
    (as ``python -m paved.worker run``, which imports the worker alone).

    ``env`` is the base environment (``PAVED_ADDRESS``, credentials); the
    worker's region and environment select its physical namespace (through the
    specs' ``Routes``, in the worker). A replica may take its graceful shutdown
    plus ``drain_margin`` seconds to drain before it is killed.

    Every replica runs on this host, so a declared ``capacity`` is shared through
    slot files under the project's state directory (``PAVED_CAPACITY_DIR`` =
    ``.paved/capacity``; ``paved.worker._capacity``), whatever the replica count
    the autoscaler sets, unless ``env`` names a Redis for it.
    """
    full = dict(env)
    full.update(
        PAVED_PROJECT=str(project.root),
        PAVED_REGION=region,
        PAVED_ENV=environment,
        PYTHONUNBUFFERED="1",
    )
    if worker.capacity is not None:
        full.setdefault(specs.CAPACITY_DIR_ENV, str(project.state_dir / "capacity"))
    # `python -m paved.worker run`: `paved worker run` without importing the whole CLI.
    argv = [sys.executable, "-m", "paved.worker", "run", worker.name,
            "--project", str(project.root), "--http-port", "{port}"]  # fmt: skip
    return ProcessTemplate(
        argv=tuple(argv),
        env=full,
        cwd=project.root,
        health_url="http://127.0.0.1:{port}/healthz",
        drain_seconds=worker.tuning.graceful_shutdown_seconds + drain_margin,
        forkable=True,
    )


@dataclass(frozen=True)
class ReplicaStatus:
    """One replica as the loop last saw it."""

    unit: str
    index: int
    name: str
    state: State
    pid: int | None
    restarts: int
    last_exit: int | None
    last_error: str | None
    health_url: str | None
    log_path: Path
    forked: bool = False  # started by the zygote (else a plain process)
    log_offset: int = 0  # where the output of its current (or last) run starts in log_path


@dataclass
class _Replica:
    unit: str
    index: int
    name: str
    log_path: Path
    template: ProcessTemplate
    state: State = "starting"
    proc: Proc | None = None
    health_url: str | None = None
    restarts: int = 0
    streak: int = 0
    last_exit: int | None = None
    last_error: str | None = None
    started_at: float = 0.0
    next_start: float = 0.0
    drain_deadline: float = 0.0
    start_again: bool = False  # draining for a restart, not for a scale-down
    log_offset: int = 0

    def snapshot(self) -> ReplicaStatus:
        return ReplicaStatus(
            unit=self.unit,
            index=self.index,
            name=self.name,
            state=self.state,
            pid=self.proc.pid if self.proc is not None and self.state != "stopped" else None,
            restarts=self.restarts,
            last_exit=self.last_exit,
            last_error=self.last_error,
            health_url=self.health_url,
            log_path=self.log_path,
            forked=isinstance(self.proc, ForkedProcess),
            log_offset=self.log_offset,
        )


@dataclass
class _Unit:
    template: ProcessTemplate
    desired: int
    removed: bool = False
    generation: int = 0  # bumped by restart() and template changes


class ReplicaSet:
    """Runs each unit's replicas as child processes and keeps them at the desired count.

    Args:
        log_dir: each replica's output goes to ``<log_dir>/<kind>-<unit>[-<index>].log``.
        kind: prefix of replica names and log files (``"worker"``: ``worker imagegen-gpu``).
        echo: where lifecycle lines go (started, exited, restarting, drained).
        backoff: restart delays after crashes.
        on_change: called on the loop's thread after a process starts or stops.
        interval: seconds between passes of the loop.
        zygote: starts the units whose template is ``forkable`` as forks of one
            pre-imported process (:mod:`paved._zygote`); the others, and every start
            while it is unavailable, are plain processes. Stopped by :meth:`stop`.
    """

    def __init__(
        self,
        log_dir: Path,
        *,
        kind: str = "",
        echo: Echo | None = None,
        backoff: RestartBackoff = RestartBackoff(),
        on_change: Callable[[], None] | None = None,
        interval: float = 0.2,
        zygote: Zygote | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.kind = kind
        self.echo: Echo = echo or (lambda _line: None)
        self.backoff = backoff
        self.on_change = on_change
        self.interval = interval
        self.zygote = zygote
        self._lock = threading.RLock()  # on_change may read status()
        self._units: dict[str, _Unit] = {}
        self._replicas: dict[str, list[_Replica]] = {}
        self._generation: dict[tuple[str, int], int] = {}

    # ----- desired state (any thread) ------------------------------------------------

    def define(self, unit: str, template: ProcessTemplate, replicas: int | None = None) -> None:
        """Add ``unit`` or update it; a changed template restarts its replicas.

        ``replicas`` None keeps the current desired count (1 for a new unit).
        """
        with self._lock:
            current = self._units.get(unit)
            if current is None or current.removed:
                self._units[unit] = _Unit(template, 1 if replicas is None else max(0, replicas))
                return
            if template != current.template:
                current.template = template
                current.generation += 1
            if replicas is not None:
                current.desired = max(0, replicas)

    def set_desired(self, unit: str, replicas: int) -> None:
        """Run ``replicas`` replicas of ``unit`` (the autoscaler's and the operator's knob)."""
        if replicas < 0:
            raise ValueError(f"replicas must be >= 0, not {replicas}")
        with self._lock:
            if unit not in self._units or self._units[unit].removed:
                raise KeyError(f"unknown unit {unit!r}: define() it first")
            self._units[unit].desired = replicas

    def remove(self, unit: str) -> None:
        """Drain every replica of ``unit``, then forget it."""
        with self._lock:
            if unit in self._units:
                self._units[unit].desired = 0
                self._units[unit].removed = True

    def restart(self, unit: str) -> None:
        """Restart the replicas of ``unit`` (new code): each drains, then starts again at once."""
        with self._lock:
            if unit in self._units:
                self._units[unit].generation += 1

    def desired(self) -> dict[str, int]:
        with self._lock:
            return {u: s.desired for u, s in self._units.items() if not s.removed}

    # ----- observed state --------------------------------------------------------------

    def status(self, unit: str | None = None) -> list[ReplicaStatus]:
        """Every replica (or those of ``unit``), drained ones included until their slot is reused."""
        with self._lock:
            reps = [r for u, rs in sorted(self._replicas.items()) if unit in (None, u) for r in rs]
            return [r.snapshot() for r in reps]

    def pids(self) -> dict[str, int]:
        """Running replicas by name (``worker imagegen-gpu``, ``worker imagegen-gpu#1``)."""
        return {s.name: s.pid for s in self.status() if s.pid is not None}

    def processes(self) -> int:
        return sum(1 for s in self.status() if s.state != "stopped")

    # ----- the loop (one thread) -------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile every ``interval`` seconds until ``stop`` is set (does not stop the replicas)."""
        while not stop.is_set():
            await self.reconcile()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def reconcile(self) -> None:
        """One pass: start what is missing, restart what died, drain what is too many,
        probe the health of starting replicas."""
        with self._lock:
            changed = self._step(time.monotonic())
        changed |= await self._probe()
        if changed and self.on_change is not None:
            self.on_change()

    def _step(self, now: float) -> bool:
        changed = False
        for unit, spec in list(self._units.items()):
            reps = self._replicas.setdefault(unit, [])
            for r in reps:
                changed |= self._observe(r, now)
            for i in range(spec.desired):
                if i == len(reps):
                    reps.append(self._new_replica(unit, i, spec.template))
                    self._generation[(unit, i)] = spec.generation
                r = reps[i]
                if self._generation.get((unit, i)) != spec.generation:
                    self._generation[(unit, i)] = spec.generation
                    r.template = spec.template
                    if r.state in ("starting", "running"):
                        self._drain(r, now, start_again=True)
                    elif r.state == "backoff":
                        r.next_start = now
                if r.state == "stopped":
                    reps[i] = r = self._new_replica(unit, i, spec.template)
                if r.proc is None or (r.state == "backoff" and now >= r.next_start):
                    self._start(r, now)
                    changed = True
            for r in reps[spec.desired :]:
                if r.state in ("starting", "running"):
                    self._drain(r, now, start_again=False)
                elif r.state == "backoff":
                    r.state = "stopped"
                    changed = True
            if spec.removed and all(r.state == "stopped" for r in reps):
                del self._units[unit]
                del self._replicas[unit]
                for i in range(len(reps)):
                    self._generation.pop((unit, i), None)
        return changed

    def _new_replica(self, unit: str, index: int, template: ProcessTemplate) -> _Replica:
        base = f"{self.kind} {unit}" if self.kind else unit
        name = base if index == 0 else f"{base}#{index}"
        stem = base.replace(" ", "-") + ("" if index == 0 else f"-{index}")
        return _Replica(unit, index, name, self.log_dir / f"{stem}.log", template)

    def _start(self, r: _Replica, now: float) -> None:
        t = r.template
        zygote = self.zygote if t.forkable else None
        if zygote is not None and zygote.ready() is False:
            return  # the zygote is still importing (first start only): next pass
        port = str(free_port()) if any("{port}" in a for a in (*t.argv, t.health_url or "")) else ""
        argv = [a.replace("{port}", port) for a in t.argv]
        r.health_url = t.health_url.replace("{port}", port) if t.health_url else None
        r.log_offset = r.log_path.stat().st_size if r.log_path.exists() else 0
        first = r.proc is None and r.restarts == 0
        forked = None
        if zygote is not None:
            forked = zygote.fork(argv, env=t.env, cwd=t.cwd, log_path=r.log_path, name=r.unit)
        r.proc = forked or spawn(argv, log_path=r.log_path, env=t.env, cwd=t.cwd)
        r.state = "starting" if r.health_url else "running"
        r.started_at = now
        r.start_again = False
        verb = "started" if first else "restarted"
        where = f"; log {r.log_path}" if first else ""
        self.echo(f"  {verb} {r.name} (pid {r.proc.pid}{where})")

    def _drain(self, r: _Replica, now: float, *, start_again: bool) -> None:
        signal_group(r.proc, signal.SIGTERM)
        r.state = "draining"
        r.start_again = start_again
        r.drain_deadline = now + r.template.drain_seconds
        why = "restarting" if start_again else "draining"
        self.echo(f"  {why} {r.name} (SIGTERM, up to {r.template.drain_seconds:.0f}s)")

    def _observe(self, r: _Replica, now: float) -> bool:
        """Notice a replica that exited; return True if something changed."""
        if r.proc is None or r.state in ("stopped", "backoff"):
            return False
        code = r.proc.poll()
        if code is None:
            if r.state == "draining" and now >= r.drain_deadline:
                self.echo(f"  {r.name} did not drain in time; SIGKILL")
                signal_group(r.proc, signal.SIGKILL)
            return False
        r.last_exit = code
        r.last_error = _last_error_line(r.log_path, r.log_offset)
        if r.state == "draining":
            if r.start_again:
                self._start(r, now)
                return True
            r.state = "stopped"
            self.echo(f"  drained {r.name} (exit code {code})")
            return True
        if now - r.started_at >= self.backoff.reset_after:
            r.streak = 0
        delay = self.backoff.delay(r.streak)
        r.streak += 1
        r.restarts += 1
        r.state = "backoff"
        r.next_start = now + delay
        self.echo(f"  {r.name} exited (code {code}); restarting in {delay:.1f}s (see {r.log_path})")
        return True

    async def _probe(self) -> bool:
        """Probe starting replicas' health; True if one became ready."""
        with self._lock:
            starting = [
                r
                for reps in self._replicas.values()
                for r in reps
                if r.state == "starting" and r.proc is not None  # None: start deferred
            ]
        if not starting:
            return False
        results = await asyncio.gather(
            *(asyncio.to_thread(http_ok, r.health_url or "", 0.5) for r in starting)
        )
        ready = False
        with self._lock:
            for r, ok in zip(starting, results, strict=True):
                if ok and r.state == "starting" and r.proc is not None and r.proc.poll() is None:
                    r.state = "running"
                    ready = True
        return ready

    # ----- waiting and stopping --------------------------------------------------------

    async def wait_healthy(
        self, units: Sequence[str] | None = None, *, timeout: float = 60.0, fail_fast: bool = False
    ) -> float:
        """Wait until every desired replica (of ``units``) runs and is healthy; return seconds.

        Needs :meth:`run` going. ``fail_fast``: a replica that exits while
        starting is an error at once (processes every later step depends on).
        """
        t0 = time.monotonic()
        while True:
            want = {u: n for u, n in self.desired().items() if units is None or u in units}
            reps = [s for s in self.status() if s.unit in want and s.index < want[s.unit]]
            if len(reps) == sum(want.values()) and all(s.state == "running" for s in reps):
                return time.monotonic() - t0
            crashed = [s for s in reps if s.restarts > 0 or s.state == "backoff"]
            if fail_fast and crashed:
                s = crashed[0]
                raise RuntimeSetupError(
                    f"{s.name} exited at start (code {s.last_exit}): {s.last_error or 'no output'}",
                    code="PAVED-SETUP-UNHEALTHY",
                    fix=f"see {s.log_path}",
                )
            if time.monotonic() - t0 > timeout:
                sick = sorted({s.name for s in reps if s.state != "running"} or set(want))
                detail = "; ".join(
                    f"{s.name}: {s.last_error}" for s in reps if s.last_error and s.name in sick
                )
                raise RuntimeSetupError(
                    f"not healthy after {timeout:.0f}s: {', '.join(sick)}"
                    + (f" ({detail})" if detail else ""),
                    code="PAVED-SETUP-UNHEALTHY",
                    fix=f"see the logs in {self.log_dir}",
                )
            await asyncio.sleep(0.1)

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM every replica, wait for each (its ``drain_seconds`` or ``timeout``), SIGKILL
        stragglers. Call after the loop has stopped."""
        with self._lock:
            live = [r for reps in self._replicas.values() for r in reps if r.proc is not None]
        for r in live:
            signal_group(r.proc, signal.SIGTERM)
        start = time.monotonic()
        for r in live:
            assert r.proc is not None
            limit = r.template.drain_seconds if timeout is None else timeout
            try:
                r.proc.wait(max(0.1, start + limit - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_group(r.proc, signal.SIGKILL)
                r.proc.wait()
            if r.state != "stopped":
                r.last_exit = r.proc.returncode
            r.state = "stopped"
        if self.zygote is not None:
            self.zygote.shutdown()


def _last_error_line(path: Path, offset: int, tail: int = 16384) -> str | None:
    """The last line of this run's output that looks like an error (else its last line)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            end = f.tell()
            f.seek(max(offset, end - tail))
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return None
    errors = [ln for ln in lines if _ERROR_LINE.search(ln)]
    return (errors or lines)[-1][:300]
