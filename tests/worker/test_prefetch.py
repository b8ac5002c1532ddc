"""Adaptive activity slots of a worker with a declared capacity (paved.worker._prefetch)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from paved import specs
from paved.worker import CapacityGate
from paved.worker._prefetch import HEADROOM, PrefetchSlots, prefetch_for
from paved.worker._runtime import capacity_tuner


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Ctx:
    permit: Any = None
    slot_type: str = "activity"
    task_queue: str = "q"
    worker_identity: str = "w"
    worker_build_id: str = ""
    worker_deployment_version: Any = None
    is_sticky: bool = False
    slot_info: Any = None


async def _busy(
    slots: PrefetchSlots, clock: Clock, *, per_second: int, arrives_after: int, steps: int
) -> None:
    """A worker with work in hand: each step one poll goes out and the task of the poll
    ``arrives_after`` steps earlier arrives, runs and is released; ``per_second`` steps/s."""
    busy = await slots.reserve_slot(Ctx())  # type: ignore[arg-type]
    slots.mark_slot_used(Ctx(permit=busy))  # type: ignore[arg-type]
    polls: list[Any] = []
    for _ in range(steps):
        polls.append(await slots.reserve_slot(Ctx()))  # type: ignore[arg-type]
        if len(polls) > arrives_after:
            p = polls.pop(0)
            slots.mark_slot_used(Ctx(permit=p))  # type: ignore[arg-type]
            slots.release_slot(Ctx(permit=p))  # type: ignore[arg-type]
        clock.now += 1 / per_second


def test_prefetch_follows_rate_times_latency_within_bounds() -> None:
    assert prefetch_for(0, 1.0, 4, 24) == 4  # idle: the declared floor
    assert prefetch_for(13.3, 0.1, 4, 24) == 4  # fast dispatch: the floor covers it
    assert prefetch_for(13.3, 1.0, 4, 24) == 17  # 13.3/s x 1 s x 1.25
    assert prefetch_for(13.3, 3.0, 4, 24) == 24  # never above the ceiling
    assert specs.capacity_prefetch_ceiling(8) == 24
    assert specs.capacity_prefetch_ceiling(40) == 64


async def test_slots_block_at_the_limit_and_wake_on_release() -> None:
    slots = PrefetchSlots(gate=2, floor=1, ceiling=4)
    permits = [await slots.reserve_slot(Ctx()) for _ in range(3)]  # type: ignore[arg-type]
    assert slots.held == 3 and slots.try_reserve_slot(Ctx()) is None  # type: ignore[arg-type]
    waiting = asyncio.create_task(slots.reserve_slot(Ctx()))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    assert not waiting.done()
    slots.release_slot(Ctx(permit=permits[0]))  # type: ignore[arg-type]
    await asyncio.wait_for(waiting, 1)
    assert slots.held == 3


async def test_a_cancelled_waiter_leaks_no_slot() -> None:
    slots = PrefetchSlots(gate=1, floor=0, ceiling=0)
    held = await slots.reserve_slot(Ctx())  # type: ignore[arg-type]
    first = asyncio.create_task(slots.reserve_slot(Ctx()))  # type: ignore[arg-type]
    second = asyncio.create_task(slots.reserve_slot(Ctx()))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    slots.release_slot(Ctx(permit=held))  # type: ignore[arg-type]  # wakes `first`...
    first.cancel()  # ...which goes away before taking the slot
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # the wake passed on
    assert slots.held == 1


async def test_prefetch_grows_under_slow_dispatch_and_returns_when_idle() -> None:
    clock = Clock()
    slots = PrefetchSlots(gate=8, floor=8, ceiling=24, clock=clock)
    # A busy worker: 13 tasks/s finish, and each task arrives 1 s (13 steps) after its poll.
    await _busy(slots, clock, per_second=13, arrives_after=13, steps=13 * 8)
    assert slots.stats()["dispatch_latency_seconds"] == pytest.approx(1.0)
    assert slots.prefetch == 17  # 13 tasks/s x 1 s x HEADROOM 1.25, rounded up
    assert HEADROOM == 1.25
    assert slots.limit == 8 + 17
    clock.now += 10  # nothing finished for 10 s
    assert slots.stats()["prefetch"] == 8


async def test_polls_issued_while_idle_do_not_count_as_dispatch_latency() -> None:
    clock = Clock()
    slots = PrefetchSlots(gate=8, floor=4, ceiling=24, clock=clock)
    p = await slots.reserve_slot(Ctx())  # type: ignore[arg-type]  # nothing in hand
    clock.now += 30  # 30 s of no work, then a task
    slots.mark_slot_used(Ctx(permit=p))  # type: ignore[arg-type]
    assert slots.stats()["dispatch_latency_seconds"] == 0.0


# ----- on a real dev server --------------------------------------------------------------

IN_FLIGHT = {"now": 0, "peak": 0}


@activity.defn(name="prefetch_render")
async def render(i: int) -> int:
    IN_FLIGHT["now"] += 1
    IN_FLIGHT["peak"] = max(IN_FLIGHT["peak"], IN_FLIGHT["now"])
    try:
        await asyncio.sleep(0.05)
    finally:
        IN_FLIGHT["now"] -= 1
    return i


@workflow.defn(name="PrefetchBurst", sandboxed=False)
class Burst:
    @workflow.run
    async def run(self, n: int) -> int:
        done = await asyncio.gather(
            *(
                workflow.execute_activity(
                    "prefetch_render",
                    i,
                    start_to_close_timeout=timedelta(seconds=30),
                    task_queue=workflow.info().task_queue + "-gpu",
                )
                for i in range(n)
            )
        )
        return sum(done)


async def test_a_real_worker_keeps_the_gate_and_reports_its_prefetch(client: Client) -> None:
    """Temporal hands the tasks to the adaptive slots: the body never exceeds the gate,
    the slots never exceed gate + ceiling, and every activity completes once."""
    queue = f"prefetch-{uuid.uuid4().hex[:8]}"
    gate = CapacityGate(3)
    kwargs: dict[str, Any] = {
        "max_concurrent_activities": 3 + 2,
        "max_concurrent_workflow_tasks": 10,
    }
    tuner, slots = capacity_tuner(kwargs, gate.permits)
    assert "max_concurrent_activities" not in kwargs
    IN_FLIGHT.update(now=0, peak=0)
    async with (
        Worker(client, task_queue=queue, workflows=[Burst]),
        Worker(
            client,
            task_queue=queue + "-gpu",
            activities=[render],
            interceptors=[gate],
            tuner=tuner,
        ),
    ):
        total = await client.execute_workflow(
            Burst.run,
            60,
            id=f"wf-{queue}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=60),
        )
    assert total == sum(range(60))
    assert IN_FLIGHT["peak"] <= 3
    assert 3 <= slots.peak_held <= 3 + specs.capacity_prefetch_ceiling(3)
    text = slots.exposition("gpu", queue + "-gpu")
    assert f'paved_capacity_prefetch{{worker="gpu",task_queue="{queue}-gpu"}}' in text


def test_slot_utilization_counts_the_free_adaptive_slots() -> None:
    """The Core SDK reports no free slots for a custom supplier; the HPA's gauge would read
    100 % busy for ever without the worker filling them in."""
    from paved.worker import derived_metrics

    core = (
        "# TYPE temporal_worker_task_slots_used gauge\n"
        'temporal_worker_task_slots_used{task_queue="gpu",worker_type="ActivityWorker"} 6\n'
    )
    assert 'task_queue="gpu",worker_type="ActivityWorker"} 1.0' in derived_metrics(core, "w")
    out = derived_metrics(core, "w", {("gpu", "ActivityWorker"): 6.0})
    assert (
        'paved_worker_slot_utilization{worker="w",task_queue="gpu",worker_type="ActivityWorker"} 0.5'
        in out
    )


async def test_a_bursts_first_seconds_read_at_their_real_rate() -> None:
    """Two seconds into a burst, 18 finishes over 1.5 s are 12/s, not 18 / 5 s:
    the prefetch must grow when the burst starts, which is when dispatch is slowest."""
    clock = Clock()
    slots = PrefetchSlots(gate=8, floor=4, ceiling=24, clock=clock)
    # 12 tasks/s, each arriving 0.5 s (6 steps) after its poll, for 2 s
    await _busy(slots, clock, per_second=12, arrives_after=6, steps=24)
    assert slots.stats()["rate_per_second"] == pytest.approx(12, rel=0.05)
    assert slots.prefetch == 8  # 12/s x 0.5 s x 1.25, rounded up (a 5 s window gave 4)


async def test_an_earlier_burst_does_not_dilute_the_next_ones_rate() -> None:
    clock = Clock()
    slots = PrefetchSlots(gate=8, floor=4, ceiling=24, clock=clock)
    p = await slots.reserve_slot(Ctx())  # type: ignore[arg-type]
    slots.mark_slot_used(Ctx(permit=p))  # type: ignore[arg-type]
    slots.release_slot(Ctx(permit=p))  # type: ignore[arg-type]  # a warm-up task
    clock.now += 60  # a minute later, a burst: 10 finishes within its first second
    for _ in range(10):
        p = await slots.reserve_slot(Ctx())  # type: ignore[arg-type]
        slots.mark_slot_used(Ctx(permit=p))  # type: ignore[arg-type]
        slots.release_slot(Ctx(permit=p))  # type: ignore[arg-type]
        clock.now += 0.1
    assert slots.stats()["rate_per_second"] == pytest.approx(10)


async def test_the_trip_back_to_the_server_counts_as_transit() -> None:
    """A slot is released only once the server has the result: the time a slot was held
    beyond the task's stay in the activity (timed by the slots' own interceptor) is
    report latency, and the prefetch covers it too."""
    clock = Clock()
    slots = PrefetchSlots(gate=8, floor=4, ceiling=24, clock=clock)

    class Body:
        async def execute_activity(self, input: Any) -> str:
            clock.now += 0.6  # gate wait + render
            return "ok"

    chain = slots.intercept_activity(Body())  # type: ignore[arg-type]
    for _ in range(10):
        p = await slots.reserve_slot(Ctx())  # type: ignore[arg-type]
        slots.mark_slot_used(Ctx(permit=p))  # type: ignore[arg-type]
        assert await chain.execute_activity(None) == "ok"  # type: ignore[arg-type]
        clock.now += 0.4  # reporting the result through a busy server
        slots.release_slot(Ctx(permit=p))  # type: ignore[arg-type]
    stats = slots.stats()
    assert stats["report_latency_seconds"] == pytest.approx(0.4)
    assert stats["dispatch_latency_seconds"] == 0.0  # every poll went out idle
    assert slots.prefetch == 4  # 1 task/s x 0.4 s is under the floor


async def test_the_managed_worker_wires_the_examples_queues(client: Client, namespace: str) -> None:
    """The GPU queue gets the adaptive slots (before the gate), and polls with every free
    slot; the workflow queue, whose short steps are local activities, polls no activity
    tasks at all."""
    # Its own connection and namespace: the SDK refuses a second worker on one client for
    # a queue another test's worker still holds.
    client = await Client.connect(client.service_client.config.target_host, namespace=namespace)
    from pathlib import Path

    from temporalio.worker import PollerBehaviorSimpleMaximum

    from paved.testing import isolated_imports
    from paved.worker._runtime import bootstrap, build_workers

    project = specs.Project.load(Path(__file__).resolve().parents[2] / "examples" / "imagegen")
    with isolated_imports(project.root):
        gpu_boot = bootstrap(project, "imagegen-gpu")
        (gpu,) = build_workers(client, gpu_boot)
        by_queue = {
            w.task_queue: w.config()
            for w in build_workers(client, bootstrap(project, "imagegen-worker"))
        }
    cfg = gpu.config()
    slots = gpu_boot.capacity_slots["imagegen-gpu-activities"]
    assert cfg["tuner"] is not None and cfg.get("max_concurrent_activities") is None
    assert list(cfg["interceptors"])[-2:] == [slots, gpu_boot.gate]
    assert cfg["activity_task_poller_behavior"] == PollerBehaviorSimpleMaximum(
        slots.gate + slots.ceiling
    )
    assert by_queue["imagegen-worker-workflows"].get("no_remote_activities") is True
    assert not by_queue["imagegen-worker-activities"].get("no_remote_activities")
