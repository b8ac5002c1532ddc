"""The stuck-workflow detector against a real dev server: nothing in a healthy run, each planted case found."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from paved import observe, sdk, specs
from paved.dev import DevServer
from paved.worker import run as run_worker

HERE = Path(__file__).resolve().parent


class Stack:
    def __init__(self, project: specs.Project, server: DevServer, env: sdk.RuntimeEnv) -> None:
        self.project, self.server, self.env = project, server, env

    async def client(self) -> object:
        return await sdk.connect(
            "obs", env=self.env, codec=sdk.default_codec("obs", self.project.state_dir)
        )

    async def detector(self, **kw: object) -> observe.Detector:
        return await observe.detector_for(self.project, environment="dev", env=self.env, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    root = tmp_path_factory.mktemp("stuck") / "obsproj"
    shutil.copytree(HERE / "obsproj", root, ignore=shutil.ignore_patterns("__pycache__", ".paved"))
    project = specs.Project.load(root)
    threshold = project.config.observability.stuck.workflow_task_problems
    server = DevServer(
        db_file=root / ".paved" / "temporal.db",
        namespaces=["obs-dev-local"],
        # What `paved dev` sets in local mode: TemporalReportedProblems after N task failures.
        extra_dynamic_config={
            "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute": str(threshold)
        },
    )
    server.start()
    env = sdk.RuntimeEnv(address=server.address)
    stop = asyncio.Event()
    tasks = []
    try:
        for name in ("obs-worker", "obs-slow"):
            ready = asyncio.Event()
            tasks.append(
                asyncio.create_task(
                    run_worker(project, name, http_port=None, env=env, ready=ready, stop=stop)
                )
            )
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait(
                [waiter, tasks[-1]], timeout=120, return_when=asyncio.FIRST_COMPLETED
            )
            if tasks[-1].done():
                tasks[-1].result()  # the worker failed at start: raise its error
            assert ready.is_set(), f"worker {name} not ready in 120s"
        yield Stack(project, server, env)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        server.stop()


async def test_healthy_run_has_no_findings(stack: Stack) -> None:
    from obsflows.flows import Greet, Sleepy

    client = await stack.client()
    for i in range(3):
        assert (
            await client.execute_workflow(
                Greet.run, f"ana{i}", id=f"greet-{i}", task_queue="obs-worker-workflows"
            )
            == f"hello ana{i}"
        )  # type: ignore[attr-defined]
    for i in range(6):  # Sleepy's usual duration: a blink
        await client.execute_workflow(
            Sleepy.run, 0.05, id=f"sleepy-{i}", task_queue="obs-slow-workflows"
        )  # type: ignore[attr-defined]
    det = await stack.detector()
    scan = await det.scan()
    assert scan.findings == []
    assert scan.running == 0
    queues = {q.task_queue: q for q in scan.queues}
    assert queues["obs-worker-workflows"].pollers >= 1
    assert queues["obs-worker-activities"].backlog == 0
    text = observe.metrics_text(det.loaded, scan)
    stuck = [
        s
        for f in text_string_to_metric_families(text)
        if f.name == "paved_stuck_workflows"
        for s in f.samples
    ]
    # A zero series for every type and reason (alerts and dashboards need series).
    assert len(stuck) == len(det.loaded.workflows.workflows) * len(observe.REASONS) == 7 * 5
    assert all(s.value == 0 for s in stuck)


async def wait_for_findings(
    det: observe.Detector, want: set[tuple[str, str]], timeout: float = 60
) -> observe.Scan:
    deadline = time.monotonic() + timeout
    while True:
        scan = await det.scan()
        got = {(f.workflow_id, f.reason) for f in scan.findings}
        if want <= got or time.monotonic() > deadline:
            return scan
        await asyncio.sleep(1)


async def test_each_planted_case_is_found_with_owner_failure_and_link(stack: Stack) -> None:
    from obsflows.flows import BadTask, Greet, RetryForever, Sleepy

    client = await stack.client()
    tag = uuid.uuid4().hex[:6]
    await client.start_workflow(
        BadTask.run, "bob", id=f"bad-{tag}", task_queue="obs-worker-workflows"
    )  # type: ignore[attr-defined]
    await client.start_workflow(
        RetryForever.run, "carl", id=f"retry-{tag}", task_queue="obs-worker-workflows"
    )  # type: ignore[attr-defined]
    # A typo'd task queue: nobody will ever poll it.
    await client.start_workflow(
        Greet.run, "dora", id=f"nopoll-{tag}", task_queue="obs-worker-workflow"
    )  # type: ignore[attr-defined]
    await client.start_workflow(
        Sleepy.run, 120.0, id=f"late-{tag}", task_queue="obs-slow-workflows"
    )  # type: ignore[attr-defined]
    det = await stack.detector()
    want = {
        (f"bad-{tag}", "workflow_task_failing"),
        (f"retry-{tag}", "activity_retrying"),
        (f"nopoll-{tag}", "no_poller"),
        (f"late-{tag}", "running_long"),
    }
    scan = await wait_for_findings(det, want)
    by = {(f.workflow_id, f.reason): f for f in scan.findings}
    assert want <= set(by), sorted(by)
    # Nothing else is called stuck (no healthy workflow is running, and each case once per reason).
    assert {wid for wid, _ in by} == {w for w, _ in want}

    bad = by[(f"bad-{tag}", "workflow_task_failing")]
    assert bad.owner == "team-obs" and bad.workflow_type == "BadTask"
    assert "WorkflowTaskFailed" in bad.detail
    # Encrypted by the SDK codec in Temporal; decrypted here because we hold the key ring.
    assert bad.last_failure is not None and "bug in workflow code for bob" in bad.last_failure
    assert bad.ui_url.endswith(
        f"/namespaces/obs-dev-local/workflows/bad-{tag}/{bad.run_id}/history"
    )

    retry = by[(f"retry-{tag}", "activity_retrying")]
    assert (
        retry.last_failure is not None
        and "FlakyServiceError: the flaky service refused carl" in retry.last_failure
    )
    assert "always_fails at attempt" in retry.detail

    assert by[(f"nopoll-{tag}", "no_poller")].detail.startswith("task queue 'obs-worker-workflow'")
    late = by[(f"late-{tag}", "running_long")]
    assert late.owner == "team-slow"  # the worker's owner, not the namespace's

    # Without decode, the failure text is withheld.
    det.can_decode = lambda _ns: False
    hidden = await det.scan()
    texts = [f.last_failure for f in hidden.findings if f.last_failure]
    assert texts and all("needs the decode role" in t for t in texts)

    text = observe.metrics_text(det.loaded, scan)
    samples = {
        (s.labels["workflow_type"], s.labels["reason"], s.labels["owner"]): s.value
        for fam in text_string_to_metric_families(text)
        if fam.name == "paved_stuck_workflows"
        for s in fam.samples
    }
    assert samples[("BadTask", "workflow_task_failing", "team-obs")] == 1
    assert samples[("RetryForever", "activity_retrying", "team-obs")] == 1
    assert samples[("Sleepy", "running_long", "team-slow")] == 1
    assert samples[("Greet", "no_poller", "team-obs")] == 1
    assert scan.total_calls == sum(scan.calls.values()) > 0

    for wid in (f"bad-{tag}", f"retry-{tag}", f"nopoll-{tag}", f"late-{tag}"):
        await client.get_workflow_handle(wid).terminate("test done")  # type: ignore[attr-defined]


async def test_a_stale_heartbeat_and_an_activity_queue_without_poller_are_found(
    stack: Stack,
) -> None:
    from obsflows.flows import SilentHeartbeat, WrongActivityQueue

    client = await stack.client()
    tag = uuid.uuid4().hex[:6]
    # Heartbeats once, then hangs for 15 s (its heartbeat timeout is 5 min: Temporal waits).
    await client.start_workflow(
        SilentHeartbeat.run, 15.0, id=f"silent-{tag}", task_queue="obs-worker-workflows"
    )  # type: ignore[attr-defined]
    # A healthy workflow queue, but its activity goes to a typo'd queue nobody polls.
    await client.start_workflow(
        WrongActivityQueue.run, "eve", id=f"wrongq-{tag}", task_queue="obs-worker-workflows"
    )  # type: ignore[attr-defined]
    det = await stack.detector()
    det.config = det.config.model_copy(update={"heartbeat_stale_seconds": 2.0})
    want = {(f"silent-{tag}", "heartbeat_stale"), (f"wrongq-{tag}", "no_poller")}
    scan = await wait_for_findings(det, want)
    by = {(f.workflow_id, f.reason): f for f in scan.findings}
    assert want <= set(by), sorted(by)
    assert {wid for wid, _ in by} == {w for w, _ in want}, sorted(by)
    stale = by[(f"silent-{tag}", "heartbeat_stale")]
    assert stale.detail.startswith("activity heartbeat_then_silent silent for ")
    assert stale.owner == "team-obs" and stale.workflow_type == "SilentHeartbeat"
    nopoll = by[(f"wrongq-{tag}", "no_poller")]
    assert nopoll.detail == (
        "activity obs_greet waits on task queue 'obs-worker-activity', which has no poller"
    )
    queues = {q.task_queue: q for q in scan.queues}
    assert queues["obs-worker-activity"].kind == "activity"
    assert queues["obs-worker-activity"].backlog >= 1 and queues["obs-worker-activity"].pollers == 0
    text = observe.metrics_text(det.loaded, scan)
    samples = {
        (s.labels["workflow_type"], s.labels["reason"]): s.value
        for fam in text_string_to_metric_families(text)
        if fam.name == "paved_stuck_workflows"
        for s in fam.samples
    }
    assert samples[("SilentHeartbeat", "heartbeat_stale")] == 1
    assert samples[("WrongActivityQueue", "no_poller")] == 1
    # With the default threshold (120 s) the same heartbeat is not stale yet.
    det.config = det.config.model_copy(update={"heartbeat_stale_seconds": 120.0})
    again = await det.scan()
    assert (f"silent-{tag}", "heartbeat_stale") not in {
        (f.workflow_id, f.reason) for f in again.findings
    }
    for wid in (f"silent-{tag}", f"wrongq-{tag}"):
        await client.get_workflow_handle(wid).terminate("test done")  # type: ignore[attr-defined]
