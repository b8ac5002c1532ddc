"""Errors where the developer looks: a child that fails to start gets its Paved error in the console.

The replica sets restart a process that dies; this watcher, run by the
platform next to them, reads *why* it died and says so where the developer
looks (the ``paved dev`` console), not only in ``.paved/logs/``:

- after each exit it parses the last ``[PAVED-...]`` block of that run's log
  (code, message with the ``file:line`` the error names, ``fix:``); without one,
  the last error-looking line (a traceback's last line);
- each distinct error of a unit is printed once, however often it repeats;
- after ``max_failed_starts`` exits in a row (a replica that ran for
  ``healthy_after`` seconds starts the count over) it stops restarting that
  unit (desired count 0), prints ``PAVED-SETUP-UNHEALTHY`` with the error and
  keeps everything else running;
- a held unit starts again once a file of the project changes (the reloader,
  :mod:`paved.dev._reload`, calls :meth:`CrashWatch.release` on every save: save
  the fix, the worker comes back).

``paved status`` shows each replica's last parsed error and whether it is held
(:meth:`CrashWatch.replica_fields`, written into ``.paved/dev.json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from paved.operator import ReplicaSet, ReplicaStatus

Echo = Callable[[str], None]

_BLOCK = re.compile(r"\[(PAVED-[A-Z0-9-]+)\] ?(.*)")
_FIX = re.compile(r"^\s*fix: ?(.*)")
_PLACE = re.compile(r"((?:/|\.{0,2}[\w.-]+/)?[\w./-]+\.py):(\d+)")


@dataclass(frozen=True)
class ChildError:
    """Why a child process exited, as parsed from its log.

    Attributes:
        code: the Paved error code (``PAVED-DEF-UNKNOWN-NAMESPACE``), or None when the
            process printed none (then ``message`` is its last error line).
        message: the error's message (it names the file:line where the error has one).
        fix: the error's fix, if it printed one.
        place: ``file:line`` found in the message, if any.
    """

    code: str | None
    message: str
    fix: str | None = None
    place: str | None = None

    def lines(self) -> list[str]:
        head = f"[{self.code}] {self.message}" if self.code else self.message
        return [head] + ([f"fix: {self.fix}"] if self.fix else [])


def parse_error(text: str) -> ChildError | None:
    """The last Paved error block in ``text`` (a log), else its last error-looking line."""
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        m = _BLOCK.search(lines[i])
        if m is None:
            continue
        message = m.group(2).strip()
        fix = None
        if i + 1 < len(lines):
            f = _FIX.match(lines[i + 1])
            if f is not None:
                fix = f.group(1).strip()
        place = _PLACE.search(message)
        return ChildError(
            m.group(1), message, fix, f"{place.group(1)}:{place.group(2)}" if place else None
        )
    return None


def _read_from(path: Path, offset: int, tail: int = 65536) -> tuple[str, int]:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            end = f.tell()
            f.seek(max(offset if offset <= end else 0, end - tail))
            return f.read().decode(errors="replace"), end
    except OSError:
        return "", offset


@dataclass
class _Track:
    restarts: int = 0
    failed: int = 0
    running_since: float | None = None
    offset: int = 0
    error: ChildError | None = None
    held: bool = False
    shown: set[ChildError] = field(default_factory=set)


class CrashWatch:
    """Watches replica sets for exits; prints each distinct error once; holds crash loops.

    Args:
        sets: the replica sets to watch (workers, services).
        echo: the console.
        max_failed_starts: exits in a row after which a unit is held (not restarted).
        healthy_after: seconds of running after which the count starts over.
    """

    def __init__(
        self,
        sets: Iterable[ReplicaSet],
        *,
        echo: Echo,
        max_failed_starts: int = 5,
        healthy_after: float = 60.0,
    ) -> None:
        self.sets = tuple(sets)
        self.echo = echo
        self.max_failed_starts = max(1, max_failed_starts)
        self.healthy_after = healthy_after
        self._tracks: dict[str, _Track] = {}
        self._held: dict[tuple[int, str], int] = {}  # (set index, unit) -> desired before

    def _track(self, r: ReplicaStatus) -> _Track:
        t = self._tracks.get(r.name)
        if t is None:
            # Only this session's output counts: from where the replica's run began (not
            # the log's size now, which would skip what a run about to crash has printed).
            t = self._tracks[r.name] = _Track(offset=r.log_offset)
        return t

    def check(self) -> bool:
        """One pass over every replica; True if something changed (for ``dev.json``)."""
        changed = False
        now = time.monotonic()
        for index, rs in enumerate(self.sets):
            desired = rs.desired()
            for r in rs.status():
                if r.state == "stopped":  # drained or held: nothing more to learn
                    continue
                t = self._track(r)
                if r.state == "running":
                    t.running_since = t.running_since or now
                    if now - t.running_since >= self.healthy_after:
                        t.failed = 0
                else:
                    t.running_since = None
                if r.restarts <= t.restarts:
                    continue
                t.failed += r.restarts - t.restarts
                t.restarts = r.restarts
                text, t.offset = _read_from(r.log_path, t.offset)
                err = parse_error(text) or ChildError(None, r.last_error or "no output")
                t.error = err
                changed = True
                if err not in t.shown:
                    t.shown.add(err)
                    self.echo(f"  {r.name} exited (code {r.last_exit}) with:")
                    for line in err.lines():
                        self.echo(f"      {line}")
                    self.echo(f"      (log {r.log_path})")
                if t.failed >= self.max_failed_starts and desired.get(r.unit, 0) > 0:
                    self._hold(index, rs, r, t, desired[r.unit])
                    desired[r.unit] = 0
        return changed

    def _hold(self, index: int, rs: ReplicaSet, r: ReplicaStatus, t: _Track, desired: int) -> None:
        rs.set_desired(r.unit, 0)
        self._held[(index, r.unit)] = desired
        for other in rs.status(r.unit):
            self._track(other).held = True
        err = t.error or ChildError(None, "no output")
        self.echo(
            f"[PAVED-SETUP-UNHEALTHY] {r.name} failed {t.failed} starts in a row; not restarting it "
            "(everything else keeps running)"
        )
        for line in err.lines():
            self.echo(f"    {line}")
        self.echo(
            f"    then save: {r.name} starts again when a file of the project changes "
            f"(log {r.log_path})"
        )

    def held(self) -> list[str]:
        """Units held after a crash loop (``worker NAME``)."""
        return sorted(f"{self.sets[i].kind} {unit}".strip() for (i, unit) in self._held)

    def release(self) -> list[str]:
        """Start every held unit again (the code changed); return their names."""
        names = []
        for (i, unit), desired in list(self._held.items()):
            rs = self.sets[i]
            with contextlib.suppress(KeyError):
                rs.set_desired(unit, desired)
                for r in rs.status(unit):
                    self._tracks.pop(r.name, None)  # a fresh count for the new replicas
                names.append(f"{rs.kind} {unit}".strip())
            del self._held[(i, unit)]
        return names

    def replica_fields(self, name: str) -> dict[str, object]:
        """What ``.paved/dev.json`` records for replica ``name`` beyond the replica set's status."""
        t = self._tracks.get(name)
        if t is None:
            return {}
        out: dict[str, object] = {"held": t.held}
        if t.error is not None:
            out["error"] = {"code": t.error.code, "message": t.error.message, "fix": t.error.fix}
        return out

    async def run(
        self, stop: asyncio.Event, on_change: Callable[[], None], interval: float = 0.2
    ) -> None:
        while not stop.is_set():
            if self.check():
                on_change()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
