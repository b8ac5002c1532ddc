"""Child processes: starting them, signalling them, and stopping on a signal.

The one place Paved starts a long-lived child process (the Temporal dev server,
``paved dev``'s proxy, codec server and workers, the operator's local replicas)
and the one place a command turns SIGINT/SIGTERM into a stop event.

Children never outlive their parent. Ctrl-C stops them cleanly; this covers the
case where the parent itself is killed (kill -9, a CI timeout): on Linux the
kernel sends the child SIGTERM when the parent dies (``PR_SET_PDEATHSIG``), so
nothing is left running. Elsewhere it does nothing.

Caveat (Linux semantics): the signal follows the *thread* that forked the
child, so start long-lived children from the main thread, as Paved does.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class Proc(Protocol):
    """A child process as the supervisors use it: ``subprocess.Popen`` or a forked one
    (:class:`paved._zygote.ForkedProcess`)."""

    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, sig: int) -> None: ...


def die_with_parent() -> None:
    """``preexec_fn`` for ``subprocess.Popen``: SIGTERM this child when the parent dies."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def paved_command(*args: str) -> list[str]:
    """``paved ARGS...`` as argv, run by this interpreter (works in any venv, no PATH needed)."""
    return [sys.executable, "-m", "paved.cli", *args]


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child in its own process group, output appended to ``log_path``.

    The child dies with this process (see the module docstring) and reads no
    stdin. ``log_path`` None discards its output.
    """
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    target = log_path if log_path is not None else Path(os.devnull)
    with open(target, "ab") as log:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


def signal_group(proc: Proc | None, sig: int) -> None:
    """Send ``sig`` to the child's process group, if it is still running."""
    if proc is not None and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM the child's group, wait ``timeout`` seconds, then SIGKILL; always reaps it."""
    if proc is None:
        return
    signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        signal_group(proc, signal.SIGKILL)
        proc.wait()


def stop_on_signals(
    stop: asyncio.Event | None = None,
    signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM),
) -> asyncio.Event:
    """An event the running loop sets on SIGINT/SIGTERM (for ``await stop.wait()``).

    Where signal handlers cannot be installed (not the main thread, Windows)
    the event is returned without them: the caller then stops by setting it.
    """
    import asyncio

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    return stop
