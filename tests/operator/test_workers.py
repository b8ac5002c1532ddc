"""The local workers target: units of a ReplicaSet from specs/workers.yaml (replica counts,
removal drains), other units left alone, autoscaled counts never written."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from paved.operator import ProcessTemplate, Reconciler, ReplicaSet, WorkerReplicas, load_inputs
from paved.specs import Project, WorkerSpec

from .helpers import project_name, write_project

# A stand-in worker process: runs until SIGTERM, then exits 0 (a drained worker).
SLEEPER = (
    sys.executable,
    "-c",
    "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(120)",
)


@pytest.fixture
async def replica_set(tmp_path: Path) -> AsyncIterator[ReplicaSet]:
    rs = ReplicaSet(tmp_path / "logs", kind="worker", interval=0.05)
    stop = asyncio.Event()
    loop = asyncio.create_task(rs.run(stop))
    try:
        yield rs
    finally:
        for unit in list(rs.desired()):
            rs.remove(unit)
        for _ in range(100):
            await rs.reconcile()
            if rs.processes() == 0:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await loop


async def wait_running(rs: ReplicaSet, unit: str, n: int) -> None:
    for _ in range(200):
        if sum(1 for s in rs.status(unit) if s.state in ("running", "starting") and s.pid) == n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(rs.status(unit))


async def test_workers_follow_the_specs(tmp_path: Path, replica_set: ReplicaSet) -> None:
    proj = project_name("wk")
    ns = {"jobs": {}}
    root = write_project(tmp_path / "p", proj, ns, {"alpha": "jobs", "beta": "jobs"})
    replica_set.define("proxy", ProcessTemplate(argv=SLEEPER))  # paved dev's own unit

    def template(w: WorkerSpec) -> ProcessTemplate:
        return ProcessTemplate(argv=SLEEPER, env={"WORKER": w.name}, drain_seconds=5)

    target = WorkerReplicas(replica_set, template)
    rec = Reconciler([target])
    await rec.reconcile(load_inputs(Project.load(root)))
    assert replica_set.desired() == {"proxy": 1, "alpha": 1, "beta": 1}
    await wait_running(replica_set, "alpha", 1)

    again = await rec.reconcile(load_inputs(Project.load(root)))
    assert again.writes == 0 and again.converged

    # beta removed from the specs: drained (its process exits on SIGTERM); alpha scaled to 2.
    beta_pid = next(s.pid for s in replica_set.status("beta") if s.pid)
    text = (root / "specs" / "workers.yaml").read_text()
    write_project(tmp_path / "p", proj, ns, {"alpha": "jobs"})
    (root / "specs" / "workers.yaml").write_text(
        (root / "specs" / "workers.yaml").read_text().replace("replicas: 1", "replicas: 2")
    )
    assert text != (root / "specs" / "workers.yaml").read_text()
    result = await rec.reconcile(load_inputs(Project.load(root)))
    ops = {c.name: c.op.value for c in result.drift}
    assert ops == {"alpha": "update", "beta": "delete"}
    assert replica_set.desired() == {"proxy": 1, "alpha": 2}
    await wait_running(replica_set, "alpha", 2)
    for _ in range(100):
        if not replica_set.status("beta"):
            break
        await asyncio.sleep(0.05)
    assert not replica_set.status("beta"), "beta was not drained"
    import os

    with pytest.raises(ProcessLookupError):
        os.kill(beta_pid, 0)
    assert replica_set.desired()["proxy"] == 1  # not the operator's: untouched


async def test_autoscaled_worker_count_is_never_written(
    tmp_path: Path, replica_set: ReplicaSet
) -> None:
    root = write_project(tmp_path / "p", project_name("wk"), {"jobs": {}}, {"gamma": "jobs"})
    target = WorkerReplicas(
        replica_set,
        lambda w: ProcessTemplate(argv=SLEEPER, drain_seconds=5),
        autoscaled=lambda w: True,
    )
    rec = Reconciler([target])
    await rec.reconcile(load_inputs(Project.load(root)))
    replica_set.set_desired("gamma", 3)  # the autoscaler's decision
    result = await rec.reconcile(load_inputs(Project.load(root)))
    assert result.writes == 0 and replica_set.desired()["gamma"] == 3
