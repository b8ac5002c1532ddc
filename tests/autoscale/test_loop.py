"""The loop without processes: a scripted collector and a recording actuator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from paved import autoscale, specs


def _worker() -> specs.WorkerSpec:
    return specs.WorkerSpec(
        name="lw",
        namespace="ns",
        owner="team",
        tier=1,
        replicas=1,
        modules=["m"],
        queues=[specs.QueueSpec(name="lw-activities", kind="activity", activities=["a"])],
        tuning=specs.WorkerTuning(max_concurrent_activities=5),
    )


class Scripted:
    """Signals from a list of (backlog, used) pairs, one per pass."""

    def __init__(self, rows: list[tuple[int, int]]) -> None:
        self.rows = rows
        self.t = 0.0
        self.closed = False

    async def collect(self, target: autoscale.Target) -> autoscale.Signals:
        backlog, used = self.rows.pop(0)
        self.t += 2.0
        q = autoscale.QueueSignals("lw-activities", "activity", 5, backlog=backlog, slots_used=used)
        return autoscale.Signals(target.worker.name, self.t, (q,))

    async def close(self) -> None:
        self.closed = True


class Recorder:
    def __init__(self, held: bool = False) -> None:
        self.n = 1
        self.calls: list[int] = []
        self.held = held

    def replicas(self, worker: str) -> int | None:
        return None if self.held else self.n

    def set_replicas(self, worker: str, replicas: int) -> None:
        self.calls.append(replicas)
        self.n = replicas

    def metrics_urls(self, worker: str) -> tuple[str, ...]:
        return ()


def _loop(collector: Any, actuator: Recorder, tmp: Path) -> autoscale.Autoscaler:
    policy = autoscale.Policy(max_replicas=4, scale_down_after_seconds=4)
    sw = autoscale.ScaledWorker(autoscale.Target(_worker(), "ns"), policy)
    return autoscale.Autoscaler(
        collector, actuator, {"lw": sw}, interval=0.01,
        state_file=tmp / "autoscale.json", trace_file=tmp / "trace.jsonl",
    )  # fmt: skip


async def test_the_loop_scales_remembers_and_records(tmp_path: Path) -> None:
    rows = [(40, 5), (40, 10), (0, 1), (0, 0), (0, 0), (0, 0)]
    act = Recorder()
    loop = _loop(Scripted(rows), act, tmp_path)
    for _ in range(6):
        await loop.step()
    assert act.calls == [2, 4, 1]  # up x2, up x2, down once after the 4 s quiet window
    assert [(e.before, e.after) for e in loop.events] == [(1, 2), (2, 4), (4, 1)]
    state = json.loads((tmp_path / "autoscale.json").read_text())
    assert state["workers"]["lw"]["decision"]["action"] == "steady"
    trace = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert len(trace) == 6
    # A recorded line replays to the same decision (the table tests' format).
    again = autoscale.decide(autoscale.DecisionInput.from_json(trace[3]["input"]))
    assert json.loads(json.dumps(again.to_json())) == trace[3]["decision"]


async def test_a_held_worker_is_left_alone_and_the_loop_stops(tmp_path: Path) -> None:
    act = Recorder(held=True)
    coll = Scripted([(40, 5)] * 100)
    loop = _loop(coll, act, tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    await asyncio.sleep(0.1)
    stop.set()
    await task
    assert act.calls == [] and coll.closed
