"""The decision table: recorded signal traces replayed through ``decide``.

Each ``traces/*.json`` holds a policy, a starting replica count and a sequence
of signal snapshots with the expected action, desired count and a piece of the
reason. The replay does what the loop does: the decided count becomes the next
step's current count, and every decision joins the history (the quiet window).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from paved import autoscale

TRACES = sorted((Path(__file__).parent / "traces").glob("*.json"))


def replay(trace: dict[str, Any]) -> list[autoscale.Decision]:
    policy = autoscale.Policy(**trace["policy"])
    current = int(trace["start_replicas"])
    history: list[autoscale.Step] = []
    out = []
    for step in trace["steps"]:
        signals = autoscale.Signals.from_json(step["signals"])
        d = autoscale.decide(
            autoscale.DecisionInput(signals, current, policy, tuple(history), signals.at)
        )
        out.append(d)
        history.append(
            autoscale.Step(signals.at, d.wanted if d.wanted is not None else current, d.desired)
        )
        current = d.desired
    return out


@pytest.mark.parametrize("path", TRACES, ids=[p.stem for p in TRACES])
def test_trace(path: Path) -> None:
    trace = json.loads(path.read_text())
    decisions = replay(trace)
    for i, (step, d) in enumerate(zip(trace["steps"], decisions, strict=True)):
        want = step["expect"]
        where = f"{path.name} step {i} (t={step['signals']['at']}): {d.reason}"
        assert d.action == want["action"], where
        assert d.desired == want["desired"], where
        assert want.get("reason", "") in d.reason, where
        for m in step["signals"].get("missing", ()):
            assert m in d.reason, f"missing signal not named: {where}"


def test_the_traces_cover_every_action_and_hold() -> None:
    actions: set[str] = set()
    holds: set[str] = set()
    for path in TRACES:
        for d in replay(json.loads(path.read_text())):
            actions.add(d.action)
            holds.update(h.split(" ")[0] for h in d.holds)
    assert actions == {"up", "down", "hold", "wait", "steady"}
    assert {"CPU", "the", "Temporal"} <= holds


def test_decide_is_pure_and_serialisable() -> None:
    trace = json.loads((Path(__file__).parent / "traces" / "gpu_429.json").read_text())
    signals = autoscale.Signals.from_json(trace["steps"][0]["signals"])
    inp = autoscale.DecisionInput(signals, 2, autoscale.Policy(**trace["policy"]), (), 0.0)
    again = autoscale.DecisionInput.from_json(json.loads(json.dumps(inp.to_json())))
    assert again == inp
    assert autoscale.decide(inp) == autoscale.decide(again)
    assert json.loads(json.dumps(autoscale.decide(inp).to_json()))["action"] == "hold"


def test_scale_up_never_more_than_the_step_factor() -> None:
    q = autoscale.QueueSignals("q", "activity", 1, backlog=1000, slots_used=1)
    for cur in range(1, 20):
        d = autoscale.decide(
            autoscale.DecisionInput(
                autoscale.Signals("w", 0.0, (q,)), cur, autoscale.Policy(max_replicas=100)
            )
        )
        assert cur < d.desired <= 2 * cur


def test_policy_from_paved_yaml() -> None:
    from paved import specs

    cfg = specs.AutoscalerConfig(
        kind="keda", min_replicas=0, max_replicas=4, scale_down_after_seconds=20
    )
    p = autoscale.Policy.of(cfg)
    assert (p.min_replicas, p.max_replicas, p.scale_down_after_seconds) == (0, 4, 20)


def test_a_custom_slot_supplier_reports_free_slots_as_unknown_not_zero() -> None:
    """The adaptive slots of a worker with a declared capacity (a temporalio custom slot
    supplier) heartbeat no free slots; read as 0 they would say "fully used" for ever."""
    from temporalio.api.worker.v1 import WorkerHeartbeat, WorkerSlotsInfo

    from paved.autoscale._signals import Collector

    def beat(kind: str) -> WorkerHeartbeat:
        h = WorkerHeartbeat(
            task_queue="gpu-activities",
            activity_task_slots_info=WorkerSlotsInfo(
                current_used_slots=6, current_available_slots=0, slot_supplier_kind=kind
            ),
        )
        h.heartbeat_time.FromSeconds(1000)
        return h

    c = Collector(None, heartbeat_stale_seconds=15)  # type: ignore[arg-type]
    assert c._slots("gpu-activities", "activity", [beat("Custom")], [], 1001)[:2] == (6, None)
    assert c._slots("gpu-activities", "activity", [beat("Fixed")], [], 1001)[:2] == (6, 0)
