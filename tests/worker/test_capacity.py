"""A declared dependency capacity: paved gen's slots, the gate's limit, heartbeats while held."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.worker import ActivityInboundInterceptor

from paved import specs
from paved.worker import CapacityGate


def test_gen_writes_capacity_and_slots(tmp_path: Path) -> None:
    from tests.conftest import write_project

    pkg = "capgen_app"
    root = write_project(
        tmp_path,
        {
            "paved.yaml": f"project: cap\npackages: [{pkg}]\nnamespaces:\n  cap:\n    owner: t\n"
            "workers:\n  cap-gpu:\n    replicas: 2\n    capacity: 8\n",
            f"{pkg}/__init__.py": "",
        },
    )
    project = specs.Project.load(root)
    placement = _activity_placement("cap", "cap-gpu")
    built = project.build([placement])
    w = built.worker("cap-gpu")
    assert w.capacity == 8
    assert w.capacity_permits == 4  # shared by the 2 replicas
    assert w.tuning.max_concurrent_activities == 4 + 2  # gate + prefetch (half, at least 2)
    assert built.workers.model_dump(mode="json")["workers"][0]["capacity"] == 8


def _activity_placement(ns: str, worker: str) -> Any:
    from paved.sdk import Placement

    return Placement(
        kind="activity",
        name="render_cap",
        namespace=ns,
        worker=worker,
        task_queue=f"{worker}-activities",
        shared_queue=False,
        tier=None,
        module="capgen_app.acts",
        qualname="render_cap",
        source="capgen_app/acts.py:1",
        namespace_tier=2,
    )


class _Body(ActivityInboundInterceptor):
    def __init__(self) -> None:
        self.running = 0
        self.peak = 0

    async def execute_activity(self, input: Any) -> Any:
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(0.01)
        self.running -= 1
        return "ok"


async def test_gate_never_runs_more_than_its_permits() -> None:
    gate = CapacityGate(3)
    body = _Body()
    chain = gate.intercept_activity(body)
    results = await asyncio.gather(*(chain.execute_activity(None) for _ in range(20)))  # type: ignore[arg-type]
    assert results == ["ok"] * 20
    assert body.peak == 3
    assert gate.waiting == 0 and gate.running == 0


if __name__ == "__main__":
    pytest.main([__file__])
