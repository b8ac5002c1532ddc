"""The operator's local replica-set target (``paved.operator.ReplicaSet``).

First with small Python programs standing in for replicas (fast: backoff,
scale, drain timeout, restart, removal), then with real ``paved worker run``
processes against the session's dev server: a replica killed with ``kill -9``
is restarted, scaling up adds polling workers, and scaling down drains a
replica whose activity is in flight: it completes exactly once, on that replica.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from dev_project import generate
from temporalio.client import Client
from tests.conftest import unique_pkg, write_project

from paved import specs
from paved.dev import DevServer, ensure_namespaces
from paved.operator import (
    ProcessTemplate,
    ReplicaSet,
    ReplicaStatus,
    RestartBackoff,
    worker_template,
)

# A replica: serves 200 on /healthz at argv[1]; on SIGTERM waits argv[2] seconds
# ("draining"), prints a line and exits 0; argv[3] == "ignore" ignores SIGTERM.
REPLICA = """
import http.server, os, signal, sys, threading, time
port, drain, mode = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", port), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
def term(*_):
    time.sleep(drain); print("drained", os.getpid(), flush=True); os._exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "ignore" else term)
print("ready", os.getpid(), flush=True)
while True: time.sleep(1)
"""
CRASH = "import sys; print('starting'); print('error: PAVED-TEST boom', flush=True); sys.exit(3)"


def template(
    drain: float = 0.0, mode: str = "normal", drain_seconds: float = 10
) -> ProcessTemplate:
    return ProcessTemplate(
        argv=(sys.executable, "-c", REPLICA, "{port}", str(drain), mode),
        env=dict(os.environ),
        health_url="http://127.0.0.1:{port}/healthz",
        drain_seconds=drain_seconds,
    )


@pytest.fixture
async def rset(tmp_path: Path) -> AsyncIterator[ReplicaSet]:
    lines: list[str] = []
    rs = ReplicaSet(tmp_path / "logs", kind="worker", echo=lines.append, interval=0.05,
                    backoff=RestartBackoff(first=0.2, factor=2.0, maximum=5.0))  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.create_task(rs.run(stop))
    try:
        yield rs
    finally:
        stop.set()
        await loop
        rs.stop(timeout=5)


async def until(pred: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for ``pred``; an IndexError (the loop has not made the replica yet) is a no."""

    def holds() -> bool:
        try:
            return pred()
        except IndexError:
            return False

    deadline = time.monotonic() + timeout
    while not holds():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def running(rs: ReplicaSet, unit: str) -> list[ReplicaStatus]:
    return [s for s in rs.status(unit) if s.state == "running"]


async def test_crash_loop_backs_off_and_reports_the_error(rset: ReplicaSet) -> None:
    rset.define("crashy", ProcessTemplate(argv=(sys.executable, "-c", CRASH)))
    await until(lambda: rset.status("crashy")[0].restarts >= 3)
    (s,) = rset.status("crashy")
    assert s.last_exit == 3
    assert s.last_error == "error: PAVED-TEST boom"
    assert s.name == "worker crashy" and s.log_path.name == "worker-crashy.log"
    # Delays double: 0.2 + 0.4 + 0.8 s before the 4th start; nowhere near a hot loop.
    t0 = time.monotonic()
    await until(lambda: rset.status("crashy")[0].restarts >= 5, timeout=20)
    assert time.monotonic() - t0 > 1.5
    with pytest.raises(Exception, match=r"PAVED-SETUP-UNHEALTHY.*PAVED-TEST boom"):
        await rset.wait_healthy(["crashy"], fail_fast=True)


async def test_killed_replica_is_restarted(rset: ReplicaSet) -> None:
    rset.define("w", template())
    await rset.wait_healthy(["w"], timeout=30)
    (before,) = rset.status("w")
    assert before.pid is not None and before.restarts == 0
    os.kill(before.pid, signal.SIGKILL)
    await until(lambda: (s := rset.status("w")[0]).state == "running" and s.pid != before.pid)
    (after,) = rset.status("w")
    assert after.restarts == 1 and after.last_exit == -signal.SIGKILL
    assert after.health_url != before.health_url  # a fresh port per start


async def test_scale_up_and_down_drains_the_extra_replicas(rset: ReplicaSet) -> None:
    rset.define("w", template(drain=0.5), replicas=1)
    await rset.wait_healthy(["w"])
    first = rset.status("w")[0].pid
    rset.set_desired("w", 3)
    await rset.wait_healthy(["w"], timeout=30)
    up = running(rset, "w")
    assert [s.name for s in up] == ["worker w", "worker w#1", "worker w#2"]
    assert len({s.pid for s in up}) == 3 and len({s.health_url for s in up}) == 3
    rset.set_desired("w", 1)
    await until(lambda: [s.state for s in rset.status("w")] == ["running", "stopped", "stopped"])
    kept, *gone = rset.status("w")
    assert kept.pid == first  # the oldest replica is untouched
    for s in gone:
        assert s.last_exit == 0 and s.restarts == 0 and s.pid is None
        assert "drained" in s.log_path.read_text()  # exited through its SIGTERM handler
    assert rset.pids() == {"worker w": first}


async def test_a_replica_that_does_not_drain_is_killed(rset: ReplicaSet) -> None:
    rset.define("stubborn", template(mode="ignore", drain_seconds=1.0))
    await rset.wait_healthy(["stubborn"])
    t0 = time.monotonic()
    rset.set_desired("stubborn", 0)
    await until(lambda: rset.status("stubborn")[0].state == "stopped", timeout=10)
    assert rset.status("stubborn")[0].last_exit == -signal.SIGKILL
    assert 0.9 < time.monotonic() - t0 < 5


async def test_restart_and_template_change_replace_replicas(rset: ReplicaSet) -> None:
    rset.define("w", template(), replicas=2)
    await rset.wait_healthy(["w"])
    old = {s.pid for s in rset.status("w")}
    rset.restart("w")
    await until(lambda: {s.pid for s in running(rset, "w")}.isdisjoint(old)
                and len(running(rset, "w")) == 2)  # fmt: skip
    assert all(s.restarts == 0 for s in rset.status("w"))  # not counted as crashes
    mid = {s.pid for s in rset.status("w")}
    rset.define("w", template(drain=0.1))  # same template: nothing happens ...
    rset.define("w", template(drain=0.1))
    await until(lambda: {s.pid for s in running(rset, "w")}.isdisjoint(mid)
                and len(running(rset, "w")) == 2)  # fmt: skip
    rset.define("w", template(drain=0.1))  # ... a changed one restarted them, once
    await asyncio.sleep(0.5)
    assert len({s.pid for s in rset.status("w")} - mid) == 2


async def test_remove_drains_and_forgets_the_unit(rset: ReplicaSet) -> None:
    rset.define("gone", template(), replicas=2)
    await rset.wait_healthy(["gone"])
    rset.remove("gone")
    await until(lambda: rset.status("gone") == [])
    assert "gone" not in rset.desired()
    with pytest.raises(KeyError):
        rset.set_desired("gone", 1)


# ----- real managed workers ---------------------------------------------------------------

FLOWS = """\
import os, time
from pathlib import Path
import paved
from temporalio import activity, workflow

@paved.activity(namespace="rs", worker="rs-acts")
def slow(path: str) -> int:
    with open(path, "a") as f:
        f.write(f"start {os.getpid()} {activity.info().attempt}\\n")
    time.sleep(4)
    with open(path, "a") as f:
        f.write(f"done {os.getpid()}\\n")
    return os.getpid()

@paved.workflow(namespace="rs", worker="rs-flows")
class SlowFlow:
    @workflow.run
    async def run(self, path: str) -> int:
        return await paved.execute_activity(slow, path)
"""


def rs_project(pkg: str) -> dict[str, str]:
    return {
        "paved.yaml": f"project: rs\npackages: [{pkg}]\nnamespaces:\n  rs:\n    owner: team-rs\n",
        f"{pkg}/__init__.py": "",
        f"{pkg}/flows.py": FLOWS,
    }


async def test_real_workers_restart_scale_and_drain_exactly_once(
    tmp_path: Path, dev_server: DevServer, client: Client
) -> None:
    project = generate(write_project(tmp_path / "proj", rs_project(unique_pkg("rs"))))
    loaded = project.specs()
    (route,) = specs.Routes.from_specs(loaded.namespaces.namespaces).in_environment("dev")
    await ensure_namespaces(client, [route.physical])
    env = {**os.environ, "PAVED_ADDRESS": dev_server.address, "PAVED_CODEC": "off"}
    rs = ReplicaSet(tmp_path / "logs", kind="worker", interval=0.1)
    for w in loaded.workers.workers:
        rs.define(w.name, worker_template(project, w, region=route.region,
                                          environment=route.environment, env=env))  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.create_task(rs.run(stop))
    try:
        await rs.wait_healthy(timeout=90)
        c = await Client.connect(dev_server.address, namespace=route.physical)
        marks = tmp_path / "marks.txt"

        async def run_one() -> int:
            return int(
                await c.execute_workflow(
                    "SlowFlow",
                    str(marks),
                    id=f"rs-{uuid.uuid4().hex[:8]}",
                    task_queue="rs-flows-workflows",
                    result_type=int,
                )
            )

        # Scale-down while an activity is in flight: the replica drains it, then exits.
        (acts,) = rs.status("rs-acts")
        handle = asyncio.create_task(run_one())
        await until(lambda: marks.exists() and "start" in marks.read_text(), timeout=60)
        rs.set_desired("rs-acts", 0)
        await until(lambda: rs.status("rs-acts")[0].state == "draining", timeout=10)
        assert await asyncio.wait_for(handle, 60) == acts.pid  # completed on the drained replica
        await until(lambda: rs.status("rs-acts")[0].state == "stopped", timeout=30)
        assert rs.status("rs-acts")[0].last_exit == 0
        lines = marks.read_text().splitlines()
        assert lines == [f"start {acts.pid} 1", f"done {acts.pid}"]  # once, first attempt

        # Scale up from zero to two replicas; both poll; work completes.
        rs.set_desired("rs-acts", 2)
        await rs.wait_healthy(["rs-acts"], timeout=90)
        pids = {s.pid for s in rs.status("rs-acts")}
        assert len(pids) == 2 and acts.pid not in pids
        marks.unlink()
        assert await run_one() in pids

        # kill -9 of the workflow worker: restarted, and the next workflow completes.
        (flows,) = rs.status("rs-flows")
        assert flows.pid is not None
        os.kill(flows.pid, signal.SIGKILL)
        await until(lambda: rs.status("rs-flows")[0].restarts == 1, timeout=10)
        await rs.wait_healthy(["rs-flows"], timeout=90)
        assert rs.status("rs-flows")[0].last_exit == -signal.SIGKILL
        assert await run_one() in pids
    finally:
        stop.set()
        await loop
        rs.stop(timeout=40)
    assert all(s.state == "stopped" for s in rs.status())
