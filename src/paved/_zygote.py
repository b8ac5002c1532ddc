"""A pre-imported parent that forks worker processes: a worker starts without importing temporalio.

Every managed worker of ``paved dev`` is a process of its own (a crash or a
restart touches that worker alone), and each used to be a fresh interpreter that
imported temporalio, pydantic and Paved's worker first: 1-1.5 s of CPU per
worker, 20-30 CPU-seconds for 20 workers on a 2-core machine. The *zygote*
imports those libraries once -- never the project's own modules, so a reload on
save still imports the saved code -- and forks one child per replica.

Protocol (``python -m paved._zygote MODULE...``, started by :class:`Zygote`):
the zygote imports the given modules, writes ``ready`` on stdout, then reads one
JSON request per line on stdin (``argv``, ``env``, ``cwd``, ``log``, ``name``)
and answers one JSON line (``{"pid": N}`` or ``{"error": "..."}``).

The zygote has started no thread and no Temporal runtime when it forks (it checks),
so the fork is safe; each child creates its own runtime and client. It forks
twice: the first fork exits at once and the worker is reparented to the process
that asked for it, which is a *child subreaper* (``PR_SET_CHILD_SUBREAPER``): that
process waits on the worker's pid as on any child (:class:`ForkedProcess`:
``poll``/``wait``/``send_signal``/``returncode``, as ``subprocess.Popen``) and
sees its exit code, and the workers outlive a killed zygote. The worker then
does what :func:`paved._proc.spawn` gives a child: a session of its own (signals
go to its group), stdin from /dev/null, stdout and stderr appended to its log,
SIGTERM when its (new) parent dies; it runs ``argv`` (``[python, -m, MODULE,
ARGS...]``) as ``python -m`` would, with the request's environment and working
directory, and exits with its code.

Linux only (the subreaper and the parent-death signal); elsewhere, or with
``PAVED_ZYGOTE=off``, or while the zygote is unavailable, replicas start as plain
processes (:func:`paved._proc.spawn`).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from paved._proc import _libc, die_with_parent

_PR_SET_NAME = 15
_PR_SET_CHILD_SUBREAPER = 36

# What every managed worker imports before the project's code (never the project's).
PRELOAD = (
    "temporalio.client",
    "temporalio.worker",
    "temporalio.runtime",
    "temporalio.worker.workflow_sandbox",
    "pydantic",
    "yaml",
    "paved",
    "paved.sdk",
    "paved.specs",
    "paved.worker._runtime",
    "paved.worker._http",
)


def enabled() -> bool:
    """Whether replicas may start through a zygote here (Linux, not ``PAVED_ZYGOTE=off``)."""
    flag = os.environ.get("PAVED_ZYGOTE", "on").strip().lower()
    return _libc is not None and flag not in ("0", "off", "no", "false")


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (the zygote's workers)."""
    if _libc is None:
        return False
    return bool(_libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


class ForkedProcess:
    """A child forked by the zygote and reparented to this process, used like ``Popen``."""

    def __init__(self, pid: int, args: Sequence[str]) -> None:
        self.pid = pid
        self.args = list(args)
        self.returncode: int | None = None
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is not None:
                return self.returncode
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # not (or no longer) our child: alive while it exists
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    self.returncode = 255
                except PermissionError:
                    pass
                return self.returncode
            if pid == 0:
                return None
            self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)


class Zygote:
    """The client side: starts the zygote and asks it for processes (one thread at a time).

    Args:
        log_path: the zygote's own output (and a worker's output before it opens its log).
        preload: modules the zygote imports once.
        warm_timeout: how long :meth:`ready` may say "warming" before giving up on it.
    """

    def __init__(
        self,
        log_path: Path,
        *,
        preload: Sequence[str] = PRELOAD,
        cwd: Path | None = None,
        warm_timeout: float = 120.0,
        reply_timeout: float = 30.0,
        max_starts: int = 10,
    ) -> None:
        self.log_path = log_path
        self.preload = tuple(preload)
        self.cwd = cwd
        self.warm_timeout = warm_timeout
        self.reply_timeout = reply_timeout
        self.max_starts = max_starts
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._ready = False
        self._ever_ready = False
        self._started_at = 0.0
        self._buf = b""
        self._subreaper: bool | None = None
        self._disabled = False

    available = staticmethod(enabled)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> bool:
        """Start the zygote if it is not running (call from the main thread: it dies with
        this process). False if it cannot be used here."""
        if self.proc is not None and self.proc.poll() is None:
            return True
        if self._disabled:
            return False
        if self._subreaper is None:
            self._subreaper = enabled() and become_subreaper()
        if not self._subreaper:
            return False
        self.close()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "paved._zygote", *self.preload],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=self.cwd,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.starts += 1
        self._ready = False
        self._buf = b""
        self._started_at = time.monotonic()
        return True

    def ready(self) -> bool | None:
        """True: forks on request. False: still importing, wait for it (only before it was
        ever ready, and for ``warm_timeout``). None: not usable now, start processes plainly
        (one that died after it was ready is replaced, up to ``max_starts`` times; one that
        never got ready is not tried again)."""
        if self._disabled:
            return None
        if self.proc is None and (self.starts >= self.max_starts or not self.start()):
            self._disabled = self.proc is None and not self._ever_ready
            return None
        assert self.proc is not None
        if not self._ready:
            line = self._readline(0.0)
            if line == b"ready":
                self._ready = self._ever_ready = True
            elif (
                line is not None
                or self.proc.poll() is not None
                or time.monotonic() - self._started_at > self.warm_timeout
            ):  # failed, died or stuck: plain processes
                self.kill()
                self._disabled = not self._ever_ready
                return None
            else:
                return None if self._ever_ready else False
        if self.proc.poll() is not None:  # died: replaced on the next call
            self.kill()
            return None
        return True

    def fork(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None,
        log_path: Path,
        name: str,
    ) -> ForkedProcess | None:
        """A new process running ``argv`` (``[python, -m, MODULE, ...]``), or None if the
        zygote could not make one (the caller starts it plainly)."""
        if not self.ready() or self.proc is None or self.proc.stdin is None:
            return None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        req = {
            "argv": list(argv),
            "env": dict(env),
            "cwd": str(cwd) if cwd is not None else None,
            "log": str(log_path),
            "name": name,
        }
        try:
            self.proc.stdin.write(json.dumps(req).encode() + b"\n")
            self.proc.stdin.flush()
            line = self._readline(self.reply_timeout)
        except OSError:
            line = None
        try:
            answer = json.loads(line) if line else {}
        except ValueError:
            answer = {}
        if "pid" not in answer:  # dead, stuck or refusing: replaced on the next ready()
            self.kill()
            return None
        return ForkedProcess(int(answer["pid"]), argv)

    def _readline(self, timeout: float) -> bytes | None:
        """One line from the zygote; None if none within ``timeout``; b"" at EOF."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return b""
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.strip()

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.close()

    def shutdown(self) -> None:
        """For good, once every process it made has been waited for: stop the zygote, start
        no other, and stop being a subreaper (orphans go to init again)."""
        self._disabled = True
        self.close()
        if self._subreaper and _libc is not None:
            _libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        self._subreaper = None

    def close(self) -> None:
        """Stop the zygote (end of its input; its workers are not its to stop)."""
        proc, self.proc = self.proc, None
        self._ready = False
        if proc is None:
            return
        for f in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if f is not None:
                    f.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ----- the zygote process ---------------------------------------------------------------


def _serve(preload: Sequence[str]) -> int:
    import gc
    import importlib

    reply = os.dup(1)
    os.dup2(2, 1)  # whatever an import prints goes to the log, not into the answers
    try:
        for module in preload:
            importlib.import_module(module)
    except Exception as e:
        msg = f"failed: {type(e).__name__}: {e}"
        print(f"zygote {msg}; workers start as plain processes", file=sys.stderr, flush=True)
        os.write(reply, msg.encode() + b"\n")
        return 1
    if threading.active_count() != 1:
        os.write(reply, b"failed: a preloaded module started a thread; forking is unsafe\n")
        return 1
    gc.collect()
    gc.freeze()  # the children share these pages instead of copying them on the first GC
    parent = os.getppid()
    os.write(reply, b"ready\n")
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            pid = _fork(json.loads(line), parent, reply)
            answer: dict[str, object] = {"pid": pid}
        except Exception as e:
            answer = {"error": f"{type(e).__name__}: {e}"}
        os.write(reply, json.dumps(answer).encode() + b"\n")
        if os.getppid() != parent:
            return 0
    return 0


def _fork(req: dict[str, object], parent: int, reply: int) -> int:
    argv = [str(a) for a in req["argv"]]  # type: ignore[attr-defined]
    if len(argv) < 3 or argv[1] != "-m":
        raise ValueError(f"only `python -m MODULE ...` can be forked, not {argv[:3]}")
    r, w = os.pipe()
    first = os.fork()
    if first == 0:  # exits at once: its child is reparented to `parent` (a subreaper)
        try:
            os.close(r)
            if os.fork() == 0:
                _child(req, argv, parent, w, reply)
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 64):
        data += chunk
    os.close(r)
    os.waitpid(first, 0)
    if not data:
        raise RuntimeError("the forked process died before it started")
    return int(data)


def _child(req: dict[str, object], argv: list[str], parent: int, w: int, reply: int) -> None:
    """The worker process: never returns."""
    code = 1
    try:
        os.setsid()  # before its pid is known: signals to its group always reach it
        os.write(w, str(os.getpid()).encode())
        os.close(w)
        os.close(reply)
        deadline = time.monotonic() + 30
        while os.getppid() != parent:  # reparented once the first fork has exited
            if time.monotonic() > deadline:
                os._exit(70)
            time.sleep(0.001)
        die_with_parent()
        if os.getppid() != parent:  # the parent died in between
            os._exit(70)
        log = os.open(str(req["log"]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        code = _run(req, argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _run(req: dict[str, object], argv: list[str]) -> int:
    import io
    import runpy

    def stream(fd: int) -> io.TextIOWrapper:  # as with PYTHONUNBUFFERED
        return io.TextIOWrapper(
            io.FileIO(fd, "w", closefd=False), line_buffering=True, write_through=True
        )

    sys.stdin = open(os.devnull)  # noqa: SIM115
    sys.stdout, sys.stderr = stream(1), stream(2)
    if req.get("cwd"):
        os.chdir(str(req["cwd"]))
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in dict(req["env"]).items()})  # type: ignore[call-overload]
    if _libc is not None:
        title = f"pw {req.get('name') or argv[2]}".encode()[:15]
        _libc.prctl(_PR_SET_NAME, title, 0, 0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path[0] = os.getcwd()  # as `python -m` does
    sys.argv = [argv[2], *argv[3:]]
    runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    os._exit(_serve(sys.argv[1:]))
