"""A declared dependency capacity: paved gen's slots, the gate's limit, heartbeats while held."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.worker import ActivityInboundInterceptor

from paved import specs
from paved.worker import CapacityGate
from paved.worker._capacity import GateInput, plan_gate


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
    # The gate is shared by the replicas: one alone may run all 8, plus the prefetch (half).
    assert w.tuning.max_concurrent_activities == 8 + 4
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
    assert 'paved_capacity_permits{worker="w",store="memory"} 3' in gate.exposition("w")


def test_plan_gate_picks_the_store_and_the_permits() -> None:
    """One pure decision (paved.worker._capacity's table)."""
    assert plan_gate(GateInput("w", None, max_replicas=4, redis_url="redis://r")) is None
    # A store shared by the replicas: the whole capacity, fleet-wide.
    redis = plan_gate(GateInput("w", 8, 4, "p:w:local:dev", "redis://r:6379/0", "/tmp/s"))
    assert redis is not None and (redis.store, redis.permits) == ("redis", 8)
    assert redis.where == "redis://r:6379/0" and redis.fleet == "p:w:local:dev"
    files = plan_gate(GateInput("w", 8, 4, "p:w:local:dev", None, "/tmp/s"))
    assert files is not None and (files.store, files.permits) == ("files", 8)
    assert files.where == "/tmp/s/p.w.local.dev"
    # Alone: the in-process fast path, all of it.
    alone = plan_gate(GateInput("w", 8, 1))
    assert alone is not None and (alone.store, alone.permits, alone.warning) == ("memory", 8, None)
    # Several replicas and no store: a static share that never adds up to more, said loudly.
    split = plan_gate(GateInput("w", 8, 3))
    assert split is not None and (split.store, split.permits) == ("memory", 2)
    assert split.warning is not None and split.warning.code == "PAVED-CAPACITY-UNSHARED"
    assert "MORE than" not in str(split.warning) and "capacity_redis_url" in str(split.warning)
    over = plan_gate(GateInput("w", 2, 3))
    assert over is not None and over.permits == 1
    assert over.warning is not None and "MORE than its capacity 2" in str(over.warning)


def test_local_replicas_share_slot_files_under_the_state_dir(tmp_path: Path) -> None:
    """paved dev's replica set hands every replica of a gated worker the same slot directory."""
    from tests.conftest import write_project

    from paved.operator import worker_template

    pkg = "capdir_app"
    root = write_project(
        tmp_path,
        {
            "paved.yaml": f"project: cap\npackages: [{pkg}]\nnamespaces:\n  cap:\n    owner: t\n"
            "workers:\n  cap-gpu:\n    capacity: 8\n",
            f"{pkg}/__init__.py": "",
        },
    )
    project = specs.Project.load(root)
    gated = project.build([_activity_placement("cap", "cap-gpu")]).worker("cap-gpu")
    t = worker_template(project, gated, region="local", environment="dev", env={})
    assert t.env[specs.CAPACITY_DIR_ENV] == str(root / ".paved" / "capacity")
    plain = gated.model_copy(update={"capacity": None})
    t = worker_template(project, plain, region="local", environment="dev", env={})
    assert specs.CAPACITY_DIR_ENV not in t.env


if __name__ == "__main__":
    pytest.main([__file__])
