"""End to end on a real ``paved dev``: ebb-and-flow load scales real worker processes.

One ``paved dev`` (Temporal dev server, proxy, operator, autoscaler in-process)
runs two autoscaled workers (4 activity slots each, at most 4 replicas, quiet
window 8 s, a decision every second):

- ``ebb-sleep`` gets a burst of sleep activities: its replicas grow within a
  bounded time, the burst drains, long activities started afterwards are in
  flight when the quiet window ends, the replicas shrink (draining) and the long
  activities still finish on their first attempt; a second burst grows it again.
  Every workflow completes, every activity ran exactly once (``executions.log``),
  and the scale events stay under a bound (no flapping).
- ``ebb-gpu`` gets a backlog of work whose "GPU" answers 429: the autoscaler
  holds at 1 replica and says why, and ``paved autoscale explain`` prints it.
- ``ebb-cap`` declares ``capacity: 3`` and runs scaled out (``min_replicas: 2``):
  its replicas share the capacity through ``paved dev``'s slot files, so a burst
  never has more than 3 of its calls in flight (each replica alone would allow 3).
"""

from __future__ import annotations

import asyncio
import collections
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.autoscale import ebb
from tests.conftest import unique_pkg

pytestmark = pytest.mark.timeout(420)

WFQ = "ebb-sleep-workflows"
CAPACITY = 3  # of ebb-cap, autoscaled with at least 2 replicas


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("ebb")
    root = ebb.write(base / "proj", ebb.project_files(unique_pkg("ebb"), capacity=CAPACITY))
    run = ebb.start(root, base / "dev.out")
    try:
        yield run
    finally:
        run.stop()


def scale_lines(run: ebb.DevRun, worker: str) -> list[str]:
    return [ln for ln in run.output().splitlines() if f"autoscaler: {worker}: scale" in ln]


async def test_ebb_and_flow_scales_real_workers(dev: ebb.DevRun) -> None:
    c = await dev.client()
    tag = uuid.uuid4().hex[:6]
    stop = asyncio.Event()
    sampler = asyncio.create_task(dev.sample(ebb.SLEEP_WORKER, stop))
    assert dev.replicas(ebb.SLEEP_WORKER) == 1

    # Flow: 40 activities of 3 s on 4 slots is 30 s for one replica.
    t_burst = time.monotonic()
    burst = [
        await c.start_workflow("EbbFlow", 3.0, id=f"b1-{tag}-{i}", task_queue=WFQ)
        for i in range(40)
    ]
    await ebb.until(
        lambda: dev.replicas(ebb.SLEEP_WORKER) >= 2, 60, "scale-up after the burst", dev
    )
    grew = time.monotonic() - t_burst
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in burst)), 180)
    peak = max(n for _, n in dev.samples[ebb.SLEEP_WORKER])
    assert peak >= 3, f"replicas peaked at {peak}"
    assert peak <= 4

    # Ebb: a few long activities, still running when the quiet window ends.
    longs = [
        await c.start_workflow("EbbFlow", 12.0, id=f"long-{tag}-{i}", task_queue=WFQ)
        for i in range(3)
    ]
    shrank = await ebb.until(
        lambda: dev.autoscale_state().get("workers", {}).get(ebb.SLEEP_WORKER, {})
        .get("decision", {}).get("desired") == 1,
        90, "scale-down after the quiet window", dev,
    )  # fmt: skip
    long_results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in longs)), 120)
    await ebb.until(lambda: dev.replicas(ebb.SLEEP_WORKER) == 1, 90, "drained to 1", dev)

    # Flow again.
    again = [
        await c.start_workflow("EbbFlow", 3.0, id=f"b2-{tag}-{i}", task_queue=WFQ)
        for i in range(24)
    ]
    await ebb.until(lambda: dev.replicas(ebb.SLEEP_WORKER) >= 2, 60, "second scale-up", dev)
    results2 = await asyncio.wait_for(asyncio.gather(*(h.result() for h in again)), 180)
    stop.set()
    await sampler

    # Every workflow completed, its activity on the first attempt, and exactly once.
    assert results == [1] * 40 and results2 == [1] * 24
    assert long_results == [1, 1, 1], "an in-flight activity was lost on scale-down"
    ran = collections.Counter(wid for wid, _, _ in dev.executions() if tag in wid)
    assert len(ran) == 40 + 3 + 24 and set(ran.values()) == {1}, ran
    assert all(a == 1 for wid, a, _ in dev.executions() if tag in wid)
    # The long activities ran on replicas that were drained (pids of replicas > 1 differ).
    events = scale_lines(dev, ebb.SLEEP_WORKER)
    ups = [e for e in events if "scale up" in e]
    downs = [e for e in events if "scale down" in e]
    assert downs and "draining" in downs[0]
    assert len(events) <= 8, "flapping:\n" + "\n".join(events)
    print(
        f"grew in {grew:.1f}s, peak {peak}, shrank {shrank:.1f}s after the long ones started; "
        f"{len(ups)} up / {len(downs)} down events"
    )


async def test_a_refusing_gpu_holds_with_its_reason(dev: ebb.DevRun) -> None:
    c = await dev.client()
    tag = uuid.uuid4().hex[:6]
    for i in range(16):
        await c.start_workflow("GpuFlow", 1.0, id=f"gpu-{tag}-{i}", task_queue="ebb-gpu-workflows")

    def held() -> bool:
        d = dev.autoscale_state().get("workers", {}).get(ebb.GPU_WORKER, {}).get("decision", {})
        return d.get("action") == "hold" and "refusing" in d.get("reason", "")

    await ebb.until(held, 90, "a hold naming the refusing dependency", dev)
    # Before the first refusal is seen the backlog may already have added a replica;
    # from the hold on, none is added while the dependency refuses.
    at_hold = dev.replicas(ebb.GPU_WORKER)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 6:
        assert dev.replicas(ebb.GPU_WORKER) <= at_hold
        await asyncio.sleep(0.5)
    r = subprocess.run(
        [*ebb.PAVED, "autoscale", "explain", ebb.GPU_WORKER, "--project", str(dev.root)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "HOLD" in r.stdout and "HTTP 429" in r.stdout, r.stdout
    assert "backlog" in r.stdout and "slots used" in r.stdout
    # Server first: backlog from DescribeTaskQueue, slots from the workers' heartbeats.
    assert "source: backlog, rates: server (DescribeTaskQueue stats)" in r.stdout
    assert "source: slots: server (worker heartbeats, ListWorkers)" in r.stdout, r.stdout
    for wf in range(16):
        await c.get_workflow_handle(f"gpu-{tag}-{wf}").terminate("test over")


async def test_a_gated_worker_scaled_out_keeps_its_capacity(dev: ebb.DevRun) -> None:
    await ebb.until(lambda: dev.running(ebb.CAP_WORKER) >= 2, 90, "2 replicas of ebb-cap", dev)
    c = await dev.client()
    tag = uuid.uuid4().hex[:6]
    flows = [
        await c.start_workflow("CapFlow", 1.0, id=f"cap-{tag}-{i}", task_queue="ebb-cap-workflows")
        for i in range(12)
    ]
    await asyncio.wait_for(asyncio.gather(*(h.result() for h in flows)), 120)
    calls = dev.capacity_calls()
    assert len(calls) == 12
    # Concurrency only rises when a call starts: the peak is at a start.
    peak = max(sum(1 for s, e, _ in calls if s <= t < e) for t, _, _ in calls)
    pids = {pid for _, _, pid in calls}
    print(f"ebb-cap: {len(pids)} replicas ran calls, peak {peak} in flight (capacity {CAPACITY})")
    assert peak <= CAPACITY, (
        f"{peak} calls at once with capacity {CAPACITY} over {len(pids)} replicas"
    )
    assert peak == CAPACITY, "12 calls of 1 s must fill the capacity"
    assert len(pids) >= 2 and dev.replicas(ebb.CAP_WORKER) >= 2, "scaled out: 2 replicas ran calls"


def test_explain_names_a_missing_paved_dev(tmp_path: Path) -> None:
    root = ebb.write(tmp_path / "proj", ebb.project_files(unique_pkg("ebbx")))
    r = subprocess.run(
        [*ebb.PAVED, "autoscale", "explain", ebb.SLEEP_WORKER, "--project", str(root)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2 and "PAVED-AUTOSCALE-NO-DEV" in r.stderr and "fix:" in r.stderr
