"""The operator at the seed's scale: converge from empty, then no-op passes.

Issue 8's target: converge from an empty dev server to 700 physical namespaces,
1,000 workflow types and 100 workers, then a no-op pass over the same in under
1 s with zero writes.

The project is written as spec files (what ``paved gen`` would write; the
operator reads only specs): 100 logical namespaces, each in 7 regions of the
``prod`` environment (700 physical namespaces), each with one search attribute
(700 attributes); 100 workers (one per namespace), each with 10 workflow types
and 10 activities (1,000 + 1,000 types). Targets:

- ``temporal``: a real ``temporal server start-dev`` (SQLite, WAL), started here;
- ``policy``: the proxies' policy file (100 owner teams, 700 worker principals);
- ``workers``: a ``ReplicaSet`` whose loop is *not* run, so the 100 workers are
  counted (defined with their replica count) without starting 100 processes.

Each no-op pass is a full pass as ``paved operator run`` does it: load and
validate the inputs, read every target (one ListNamespaces: the search attributes
come from the namespaces' aliases), diff, apply nothing, write the status file.

Side by side, alternating in every round: ``baseline``, the pass as it was before
2026-11-28 afternoon (targets read one after another, desired state recomputed
every pass, Python's GC running during the pass: ``SequentialReconciler`` below),
and ``paved``, the current ``Reconciler`` (all targets read concurrently, desired
state cached per inputs, GC paused while reading and diffing) and Temporal target
(a namespace whose listing did not change since the last pass is not turned into
objects again; an unchanged read returns the last snapshot, whose diff is reused).
Both sides read everything from the dev server every pass. Alternating costs the
``paved`` side a full diff each round (the baseline pass before it made a new
snapshot), so its figures are pessimistic. Every figure is
printed with the load average (shared 2-core machine).

    python bench/bench_operator.py                     # 100 x 7 namespaces, 100 workers
    python bench/bench_operator.py --logical 20 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table, write_json

from paved import specs
from paved.dev import DevServer
from paved.operator import (
    Inputs,
    Operator,
    OperatorSettings,
    PassResult,
    PolicyTarget,
    ProcessTemplate,
    Reconciler,
    ReplicaSet,
    TemporalNamespaces,
    WorkerReplicas,
)
from paved.sdk import physical_namespace

REGIONS = ["eu", "us", "ap", "sa", "af", "me", "au"]


def write_specs(root: Path, logical: int, types_per_worker: int) -> dict[str, int]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "paved.yaml").write_text(
        "project: opbench\npackages: [unused]\n"
        f"regions: [{', '.join(REGIONS)}]\nenvironments: [prod]\n"
    )
    namespaces: list[specs.NamespaceSpec] = []
    workflows: list[specs.TypeSpec] = []
    activities: list[specs.TypeSpec] = []
    workers: list[specs.WorkerSpec] = []
    for i in range(logical):
        name = f"team{i:03d}"
        namespaces.append(
            specs.NamespaceSpec(
                name=name,
                owner=f"owner-{i:03d}",
                tier=i % 4,
                retention_days=7 + i % 23,
                regions=REGIONS,
                environments=["prod"],
                rate_limit=specs.RateLimit(),
                search_attributes={"CustomerId": "Keyword"},
                description=f"bench namespace {i}",
                physical=[
                    specs.PhysicalNamespace(
                        name=physical_namespace(name, r, "prod"), region=r, environment="prod"
                    )
                    for r in REGIONS
                ],
            )
        )
        wname = f"{name}-worker"
        wf = [f"{name}-flow-{t}" for t in range(types_per_worker)]
        acts = [f"{name}-act-{t}" for t in range(types_per_worker)]
        for kind, names, out in (("workflow", wf, workflows), ("activity", acts, activities)):
            for n in names:
                out.append(
                    specs.TypeSpec(
                        name=n,
                        namespace=name,
                        task_queue=f"{wname}-{kind}s",
                        worker=wname,
                        module=f"app.{name}",
                        qualname=n.replace("-", "_"),
                    )
                )
        workers.append(
            specs.WorkerSpec(
                name=wname,
                namespace=name,
                owner=f"owner-{i:03d}",
                tier=i % 4,
                replicas=1 + i % 3,
                modules=[f"app.{name}"],
                queues=[
                    specs.QueueSpec(name=f"{wname}-workflows", kind="workflow", workflows=wf),
                    specs.QueueSpec(name=f"{wname}-activitys", kind="activity", activities=acts),
                ],
                tuning=specs.WorkerTuning(),
            )
        )
    d = root / "specs"
    d.mkdir(exist_ok=True)
    files: dict[str, Any] = {
        "namespaces.yaml": specs.NamespacesFile(namespaces=namespaces),
        "workflows.yaml": specs.WorkflowsFile(workflows=workflows, activities=activities),
        "workers.yaml": specs.WorkersFile(workers=workers),
    }
    for fname, m in files.items():
        (d / fname).write_text(specs.dump(m.model_dump(mode="json")))
    return {
        "logical": logical,
        "physical": logical * len(REGIONS),
        "search_attributes": logical * len(REGIONS),
        "workflow_types": len(workflows),
        "activity_types": len(activities),
        "workers": len(workers),
    }


class SequentialReconciler(Reconciler):
    """The baseline: the pass before the no-op work (same read, diff and apply code)."""

    async def reconcile(self, inputs: Inputs, *, dry_run: bool = False) -> PassResult:
        t0 = time.perf_counter()
        results = []
        for target in self.targets:
            read = await self._read(target, inputs)
            results.append(await self._settle(target, read, dry_run))
        result = PassResult(results, time.perf_counter() - t0, dry_run)
        if not dry_run:
            self.metrics.record(result)
        return result

    def _desired_of(self, target: Any, inputs: Inputs) -> Any:
        return target.desired(inputs)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="opbench-"))
    root = tmp / "proj"
    sizes = write_specs(root, args.logical, args.types)
    server = DevServer(db_file=tmp / "temporal.db")
    server.start()
    try:
        project = specs.Project.load(root)
        rs = ReplicaSet(tmp / "logs", kind="worker")  # its loop never runs: nothing starts
        workers = WorkerReplicas(
            rs, lambda w: ProcessTemplate(argv=("paved", "worker", "run", w.name))
        )
        # 30 s per RPC: on a loaded shared machine a registration can take >10 s (see docs).
        temporal = TemporalNamespaces.at("opbench", server.address, timeout=args.rpc_timeout)
        policy = PolicyTarget(tmp / "policy.yaml")
        op = Operator(project, OperatorSettings(), targets=[temporal, policy, workers])

        print(f"converging {sizes} (load {load()})", flush=True)
        t0 = time.perf_counter()
        result = await op.apply_once(timeout=args.timeout)
        converge_s = time.perf_counter() - t0
        converge = {
            "seconds": round(converge_s, 2),
            "passes": op.passes,
            "converged": result.converged,
            "temporal_writes": dict(temporal.writes),
            "policy_writes": policy.writes,
            "worker_writes": workers.writes,
            "workers_defined": len(rs.desired()),
            "replicas_desired": sum(rs.desired().values()),
            "processes_started": rs.processes(),
            "load": load(),
        }
        print(f"converged in {converge_s:.1f}s: {converge}", flush=True)

        paved_rec = op.reconciler
        baseline = SequentialReconciler.__new__(SequentialReconciler)
        baseline.__dict__.update(paved_rec.__dict__)  # same targets, retry state, lease check
        rounds = []
        assert await op.lease.try_acquire()  # writes allowed: a no-op must prove it wrote nothing
        try:
            for i in range(args.rounds):
                sides = [("baseline", baseline), ("paved", paved_rec)]
                if i % 2:
                    sides.reverse()
                for side, rec in sides:
                    op.reconciler = rec
                    if side == "baseline":  # the old read: every namespace turned into objects
                        temporal._seen, temporal._last_snapshot = {}, None
                    gc.collect()  # each side starts from the same heap state
                    before = (sum(temporal.writes.values()), policy.writes, workers.writes)
                    t0 = time.perf_counter()
                    r = await op._pass()
                    total = time.perf_counter() - t0
                    after = (sum(temporal.writes.values()), policy.writes, workers.writes)
                    rounds.append(
                        {
                            "round": i + 1,
                            "side": side,
                            "pass_s": round(total, 3),
                            "reconcile_s": round(r.seconds, 3),
                            "targets_s": {t.name: round(t.seconds, 3) for t in r.targets},
                            "writes": r.writes,
                            "rpc_writes": sum(a - b for a, b in zip(after, before, strict=True)),
                            "drift": len(r.drift),
                            "load": load(),
                        }
                    )
                    print(rounds[-1], flush=True)
        finally:
            op.reconciler = paved_rec
            await op.lease.release()
    finally:
        server.stop()
    rows = [
        [
            r["round"],
            r["side"],
            r["pass_s"],
            r["reconcile_s"],
            r["targets_s"],
            r["writes"],
            r["rpc_writes"],
            r["load"],
        ]
        for r in rounds
    ]
    print()
    print(
        f"converge: {converge['seconds']} s, {converge['passes']} passes, "
        f"temporal writes {converge['temporal_writes']}, policy writes {converge['policy_writes']}, "
        f"worker units {converge['workers_defined']} ({converge['replicas_desired']} replicas, "
        f"{converge['processes_started']} processes started), load {converge['load']}"
    )
    print(
        table(
            [
                "round",
                "side",
                "pass s",
                "reconcile s",
                "per target s",
                "writes",
                "RPC writes",
                "load 1/5/15",
            ],
            rows,
        )
    )
    ratios = []
    for i in range(1, args.rounds + 1):
        by = {r["side"]: r for r in rounds if r["round"] == i}
        ratios.append(round(by["paved"]["pass_s"] / by["baseline"]["pass_s"], 2))
    print(f"paved / baseline no-op pass time, per round: {ratios}")
    return {
        "machine": machine(),
        "sizes": sizes,
        "converge": converge,
        "noop": rounds,
        "ratios": ratios,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--logical", type=int, default=100, help="logical namespaces (x7 regions)")
    p.add_argument("--types", type=int, default=10, help="workflow types per worker")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--rpc-timeout", type=float, default=30)
    out = asyncio.run(main(p.parse_args()))
    print(write_json("operator", out))
