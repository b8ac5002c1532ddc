"""The managed worker: registers everything from specs, serves health and metrics, drains on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from tests.conftest import unique_pkg

import paved
from paved import specs
from paved.dev import DevServer, ensure_namespaces
from paved.worker import run


def two_module_project(pkg: str, marker_dir: Path) -> dict[str, str]:
    return {
        "paved.yaml": f"project: rt\npackages: [{pkg}]\nnamespaces:\n  rt:\n    owner: team-rt\n",
        f"{pkg}/__init__.py": "",
        f"{pkg}/acts.py": f"""\
import asyncio, os, uuid
import paved

@paved.activity(namespace="rt", worker="rt-worker")
async def add(a: int) -> int:
    return a + 1

@paved.activity(namespace="rt", worker="rt-worker", local=True)
async def double(a: int) -> int:  # a short step: a local activity of rt-worker's workflows
    return a * 2

@paved.activity(namespace="rt", worker="rt-worker")
def shout(s: str) -> str:  # a sync activity: needs a thread pool
    return s.upper()

@paved.activity(namespace="rt", worker="rt-worker")
async def slow(tag: str) -> str:
    d = {str(marker_dir)!r}
    open(os.path.join(d, "started-" + tag), "w").close()
    await asyncio.sleep(3)
    open(os.path.join(d, "done-" + tag + "-" + uuid.uuid4().hex), "w").close()
    return "slept"
""",
        f"{pkg}/flows/__init__.py": "",
        f"{pkg}/flows/one.py": f"""\
import paved
from temporalio import workflow
with workflow.unsafe.imports_passed_through():
    from {pkg}.acts import add, double, shout, slow

@paved.workflow(namespace="rt", worker="rt-worker")
class DoubleFlow:
    @workflow.run
    async def run(self, a: int) -> int:
        return await paved.execute_activity(double, await paved.execute_activity(double, a))

@paved.workflow(namespace="rt", worker="rt-worker")
class AddFlow:
    @workflow.run
    async def run(self, a: int) -> int:
        return await paved.execute_activity(add, a)

@paved.workflow(namespace="rt", worker="rt-worker")
class SlowFlow:
    @workflow.run
    async def run(self, tag: str) -> str:
        return await paved.execute_activity(slow, tag)
""",
        f"{pkg}/flows/two.py": f"""\
import paved
from temporalio import workflow
with workflow.unsafe.imports_passed_through():
    from {pkg}.acts import shout

@paved.workflow(namespace="rt", worker="rt-worker")
class ShoutFlow:
    @workflow.run
    async def run(self, s: str) -> str:
        return await paved.execute_activity(shout, s)
""",
    }


def gen(root: Path) -> specs.Project:
    r = subprocess.run(
        [sys.executable, "-m", "paved.cli", "gen", "--project", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return specs.Project.load(root)


@pytest.fixture(scope="module")
async def rt_project(tmp_path_factory: pytest.TempPathFactory, client: Client):  # type: ignore[no-untyped-def]
    # One project per module: the decorator registry is process-global, and a
    # second project defining the same type names would (rightly) be refused.
    from tests.conftest import write_project

    pkg = unique_pkg("rt")
    base = tmp_path_factory.mktemp("rt")
    markers = base / "markers"
    markers.mkdir()
    project = gen(write_project(base / "proj", two_module_project(pkg, markers)))
    await ensure_namespaces(client, ["rt-dev-local"])
    # Clients in this process find the project's keys (as under `paved dev`).
    old = os.environ.get("PAVED_PROJECT")
    os.environ["PAVED_PROJECT"] = str(project.root)
    yield project, markers
    if old is None:
        os.environ.pop("PAVED_PROJECT", None)
    else:
        os.environ["PAVED_PROJECT"] = old


async def test_managed_worker_registers_every_type_without_a_list(
    rt_project: tuple[specs.Project, Path], dev_server: DevServer
) -> None:
    project, _ = rt_project
    env = paved.RuntimeEnv(address=dev_server.address, region="local", environment="dev")
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run(project, "rt-worker", http_port=0, env=env, ready=ready, stop=stop)
    )
    await asyncio.wait_for(ready.wait(), 30)
    try:
        c = await paved.connect("rt", env=env)
        q = "rt-worker-workflows"
        assert (
            await c.execute_workflow(
                "AddFlow", 41, id=f"a-{uuid.uuid4()}", task_queue=q, result_type=int
            )
            == 42
        )
        assert (
            await c.execute_workflow(
                "ShoutFlow", "hi", id=f"s-{uuid.uuid4()}", task_queue=q, result_type=str
            )
            == "HI"
        )
        # Paved's local rule: `double` (local=True, the workflow's own worker) runs inside
        # the workflow task: markers, no activity task, one workflow task in all.
        h = await c.start_workflow("DoubleFlow", 5, id=f"d-{uuid.uuid4()}", task_queue=q)
        assert await h.result() == 20
        kinds = [e.event_type for e in (await h.fetch_history()).events]
        assert kinds.count(EventType.EVENT_TYPE_MARKER_RECORDED) == 2
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in kinds
        assert kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED) == 1
        spec = project.specs().worker("rt-worker")
        by_queue = {qs.name: qs for qs in spec.queues}
        assert by_queue[q].local_activities == ["double"]
        assert (
            "local_activities"
            not in (project.specs_dir / "workers.yaml")
            .read_text()
            .split("rt-worker-activities")[1]
            .split("kind: workflow")[0]
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def test_health_and_metrics_endpoint(
    rt_project: tuple[specs.Project, Path], dev_server: DevServer
) -> None:
    project, _ = rt_project
    env = paved.RuntimeEnv(address=dev_server.address)
    from paved.dev import free_port

    port = free_port()
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run(project, "rt-worker", http_port=port, env=env, ready=ready, stop=stop)
    )
    await asyncio.wait_for(ready.wait(), 30)
    try:
        c = await paved.connect("rt", env=env)
        await c.execute_workflow(
            "AddFlow", 1, id=f"a-{uuid.uuid4()}", task_queue="rt-worker-workflows", result_type=int
        )
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200
                body = await r.json()
                assert body["queues"] == {"rt-worker-activities": True, "rt-worker-workflows": True}
            async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                text = await r.text()
        assert (
            'paved_worker_slot_utilization{worker="rt-worker",task_queue="rt-worker-activities"'
            in text
        )
        assert 'paved_worker_up{worker="rt-worker",task_queue="rt-worker-workflows"} 1' in text
        assert "temporal_activity_execution_latency" in text  # task latencies from the Core SDK
        assert "temporal_workflow_task_schedule_to_start_latency" in text
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def test_stale_specs_are_an_error_at_start(rt_project: tuple[specs.Project, Path]) -> None:
    project, _ = rt_project
    wf = project.specs_dir / "workers.yaml"
    good = wf.read_text()
    wf.write_text(good.replace("- AddFlow", "- GoneFlow"))
    try:
        with pytest.raises(paved.ProjectError, match="PAVED-WORKER-STALE"):
            await run(
                project, "rt-worker", http_port=None, env=paved.RuntimeEnv(address="127.0.0.1:1")
            )
    finally:
        wf.write_text(good)


def test_slot_utilization_from_core_metrics() -> None:
    from paved.worker import derived_metrics

    core = (
        "# TYPE temporal_worker_task_slots_used gauge\n"
        'temporal_worker_task_slots_used{task_queue="q",worker_type="ActivityWorker"} 3\n'
        "# TYPE temporal_worker_task_slots_available gauge\n"
        'temporal_worker_task_slots_available{task_queue="q",worker_type="ActivityWorker"} 1\n'
    )
    out = derived_metrics(core, "w")
    assert (
        'paved_worker_slot_utilization{worker="w",task_queue="q",worker_type="ActivityWorker"} 0.750000'
        in out
    )


async def test_sigterm_drains_in_flight_activity(
    rt_project: tuple[specs.Project, Path], dev_server: DevServer
) -> None:
    """SIGTERM: the running activity finishes (once) before the process exits."""
    project, markers = rt_project
    env = dict(os.environ, PAVED_ADDRESS=dev_server.address)
    cmd = [
        sys.executable,
        "-m",
        "paved.cli",
        "worker",
        "run",
        "rt-worker",
        "--project",
        str(project.root),
        "--http-port",
        "-1",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        c = await paved.connect("rt", env=paved.RuntimeEnv(address=dev_server.address))
        tag = uuid.uuid4().hex[:8]
        handle = await c.start_workflow(
            "SlowFlow", tag, id=f"slow-{tag}", task_queue="rt-worker-workflows"
        )
        deadline = time.monotonic() + 30
        while not (markers / f"started-{tag}").exists():
            assert time.monotonic() < deadline, "activity never started"
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.to_thread(proc.wait, 30)
        assert rc == 0, proc.stderr.read().decode() if proc.stderr else ""
        # The activity completed during the drain, before the process exited.
        assert len(list(markers.glob(f"done-{tag}-*"))) == 1
        # A new worker picks the workflow up; the activity is not run again.
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert await asyncio.wait_for(handle.result(), 60) == "slept"
        assert len(list(markers.glob(f"done-{tag}-*"))) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
