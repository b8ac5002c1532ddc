"""Replicas started through the zygote (``paved.operator.Zygote``): a pre-imported process forks them.

Small ``python -m`` programs stand in for workers (the real workers go through
it in every ``paved dev`` test). Each replica is a child of this process (a
subreaper) with its own session, log and exit code: a crash restarts that replica
alone, SIGTERM drains, a killed zygote neither stops the running replicas nor
restarts (plain processes meanwhile, then a new zygote). Waits are on conditions.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from paved.operator import ProcessTemplate, ReplicaSet, ReplicaStatus, RestartBackoff, Zygote

pytestmark = pytest.mark.skipif(not Zygote.available(), reason="the zygote needs Linux")

# python -m zrep PORT DRAIN: serves /healthz; on SIGTERM waits DRAIN s, prints, exits 0;
# on "crash" in its environment's ZREP_MODE exits 3 at once.
ZREP = """
import http.server, os, signal, sys, threading, time
if os.environ.get("ZREP_MODE") == "crash":
    print("error: PAVED-TEST boom", flush=True); sys.exit(3)
port, drain = int(sys.argv[1]), float(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", port), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
def term(*_):
    time.sleep(drain); print("drained", os.getpid(), flush=True); os._exit(0)
signal.signal(signal.SIGTERM, term)
print("ready", os.getpid(), os.getcwd(), os.environ.get("ZREP_TAG"), sys.argv[1:], flush=True)
while True: time.sleep(1)
"""


def template(root: Path, tag: str = "", mode: str = "", drain: float = 0.0) -> ProcessTemplate:
    return ProcessTemplate(
        argv=(sys.executable, "-m", "zrep", "{port}", str(drain)),
        env=dict(os.environ, ZREP_TAG=tag, ZREP_MODE=mode),
        cwd=root,
        health_url="http://127.0.0.1:{port}/healthz",
        drain_seconds=20,
        forkable=True,
    )


@pytest.fixture
async def zset(tmp_path: Path) -> AsyncIterator[tuple[ReplicaSet, Zygote, Path]]:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "zrep.py").write_text(ZREP)
    zygote = Zygote(tmp_path / "logs" / "zygote.log", preload=("json", "http.server"), cwd=root)
    rs = ReplicaSet(tmp_path / "logs", kind="worker", interval=0.05, zygote=zygote,
                    backoff=RestartBackoff(first=0.2, factor=2.0, maximum=2.0))  # fmt: skip
    assert zygote.start()
    stop = asyncio.Event()
    loop = asyncio.create_task(rs.run(stop))
    try:
        yield rs, zygote, root
    finally:
        stop.set()
        await loop
        rs.stop(timeout=10)


async def until(pred: Callable[[], bool], timeout: float = 60.0) -> None:
    def holds() -> bool:
        try:
            return pred()
        except (IndexError, ValueError):
            return False

    deadline = time.monotonic() + timeout
    while not holds():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def one(rs: ReplicaSet, unit: str) -> ReplicaStatus:
    (s,) = rs.status(unit)
    return s


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_forked_replicas_crash_restart_and_drain_alone(
    zset: tuple[ReplicaSet, Zygote, Path],
) -> None:
    rs, zygote, root = zset
    rs.define("a", template(root, tag="A"))
    rs.define("b", template(root, tag="B", drain=0.5))
    await rs.wait_healthy(["a", "b"], timeout=60)
    a, b = one(rs, "a"), one(rs, "b")
    assert a.forked and b.forked and a.pid and b.pid
    # Its own process: the request's cwd, environment and argv; its own session and log.
    assert f"ready {a.pid} {root} A" in a.log_path.read_text()
    assert os.getpgid(a.pid) == a.pid and a.pid != zygote.pid
    assert _parent(a.pid) == os.getpid()  # reparented to us

    os.kill(a.pid, signal.SIGKILL)
    await until(lambda: one(rs, "a").restarts == 1 and one(rs, "a").state == "running")
    again = one(rs, "a")
    assert again.last_exit == -signal.SIGKILL and again.forked and again.pid != a.pid
    assert one(rs, "b").pid == b.pid and one(rs, "b").restarts == 0  # untouched

    rs.set_desired("b", 0)  # SIGTERM: drains (its handler runs), exit 0
    await until(lambda: one(rs, "b").state == "stopped")
    assert one(rs, "b").last_exit == 0
    assert f"drained {b.pid}" in b.log_path.read_text()
    assert not alive(b.pid)


async def test_a_crash_is_reported_with_its_exit_code(
    zset: tuple[ReplicaSet, Zygote, Path],
) -> None:
    rs, _zygote, root = zset
    rs.define("crashy", template(root, mode="crash"))
    await until(lambda: one(rs, "crashy").restarts >= 2)
    s = one(rs, "crashy")
    assert s.last_exit == 3 and s.last_error == "error: PAVED-TEST boom"


async def test_a_killed_zygote_keeps_replicas_and_is_replaced(
    zset: tuple[ReplicaSet, Zygote, Path],
) -> None:
    rs, zygote, root = zset
    rs.define("a", template(root))
    rs.define("b", template(root))
    await rs.wait_healthy(timeout=60)
    a, b = one(rs, "a"), one(rs, "b")
    old = zygote.pid
    assert old is not None and a.forked
    os.kill(old, signal.SIGKILL)
    # The replicas are not the zygote's children: they keep running.
    os.kill(a.pid or 0, signal.SIGKILL)
    await until(lambda: one(rs, "a").restarts == 1 and one(rs, "a").state == "running")
    assert one(rs, "b").pid == b.pid and alive(b.pid or 0)
    # A new zygote is started; once it is ready, restarts fork from it again.
    await until(lambda: zygote.pid not in (None, old) and zygote.ready() is True)
    rs.restart("b")
    await until(lambda: one(rs, "b").pid != b.pid and one(rs, "b").state == "running")
    assert one(rs, "b").forked


def test_shutdown_ends_the_subreaper(tmp_path: Path) -> None:
    """After ``ReplicaSet.stop`` this process is no subreaper (other tests' orphans go to init)."""
    zygote = Zygote(tmp_path / "z.log", preload=("json",))
    assert zygote.start()
    assert _subreaper() == 1
    zygote.shutdown()
    assert _subreaper() == 0 and zygote.pid is None and zygote.ready() is None


def _subreaper() -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    out = ctypes.c_int(-1)
    assert libc.prctl(37, ctypes.byref(out), 0, 0, 0) == 0  # PR_GET_CHILD_SUBREAPER
    return out.value


async def test_plain_processes_when_the_zygote_cannot_start(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "zrep.py").write_text(ZREP)
    zygote = Zygote(tmp_path / "zygote.log", preload=("no_such_module_for_paved",), cwd=root)
    rs = ReplicaSet(tmp_path / "logs", kind="worker", interval=0.05, zygote=zygote)
    stop = asyncio.Event()
    loop = asyncio.create_task(rs.run(stop))
    try:
        rs.define("a", template(root))
        await rs.wait_healthy(timeout=60)
        assert not one(rs, "a").forked
        assert "no_such_module_for_paved" in (tmp_path / "zygote.log").read_text()
    finally:
        stop.set()
        await loop
        rs.stop(timeout=10)


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])
