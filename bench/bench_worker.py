"""Managed worker vs a plain temporalio worker: workflows per second, same dev server.

Issue 2's target: the managed worker (``paved worker run``, from its tuned
defaults) at least 1.3x a plain ``temporalio.worker.Worker`` with default
settings, on the same dev server and the same one-activity workflow.

- **plain**: ``Worker(client, task_queue=q, workflows=[W], activities=[a])``,
  default settings, default data converter, one queue (``bench/wfbench/plainbench``);
- **managed**: ``paved worker run wfbench-worker`` on the project
  ``bench/wfbench`` (copied to a temp dir, ``paved gen`` run on it): split
  queues, poller autoscaling, sandbox passthrough, encryption codec on (Paved's
  default); **managed-nocodec** is the same with ``PAVED_CODEC=off``.

Each worker runs in its own process, started fresh for its round; the starter
is this process: the same client code starts N workflows concurrently and waits
for every result (after a short warm-up that also proves the worker polls).
The managed side's client uses Paved's client (codec on or off, like its
worker). Rounds alternate (plain, managed, managed-nocodec, plain, ...) and
medians are reported, for two servers, both ``DevServer`` with a SQLite file:
``start-dev`` defaults (``fast=False``) and Paved's local defaults (``fast=True``:
WAL pragmas, one task-queue partition). The activity returns at once (the
issue's workload) or, in a third scenario, waits 5 s like a model API call.
Side ``plain-noeager`` (a diagnostic, never the baseline) is the plain worker
without eager activity dispatch, which split queues cannot use. CPU seconds of
the worker process and of the server per workflow are reported too (where the
time goes).

    python bench/bench_worker.py          # N=400, 2 reps: start-dev:0, paved:0, paved:5000 (~7 min)
    python bench/bench_worker.py --n 600 --reps 3
    python bench/bench_worker.py --scenarios paved:0 --sides plain,plain-noeager,managed
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, PYTHON, machine, median, paved_gen, table, write_json

from paved import sdk
from paved.dev import DevServer

PROJECT_SRC = BENCH / "wfbench"
LOGICAL = "wfbench"
PHYSICAL = sdk.physical_namespace(LOGICAL, "local", "dev")
WORKER = "wfbench-worker"
MANAGED_QUEUE = sdk.default_workflow_queue(WORKER)
PLAIN_QUEUE = "plain-bench"
WORKFLOW = "bench-one-activity"
SIDES = ("plain", "managed", "managed-nocodec")


# ----- the plain worker process ------------------------------------------------------


async def plain_worker_main(address: str, namespace: str, queue: str, no_eager: str = "") -> None:
    """``Worker`` with default settings: what a team writes on its own."""
    from plainbench.flows import OneActivity, echo
    from temporalio.worker import Worker

    client = await Client.connect(address, namespace=namespace)
    # Diagnostic side "plain-noeager" only (never the baseline): what eager
    # activity dispatch, impossible across split queues, is worth.
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[OneActivity],
        activities=[echo],
        disable_eager_activity_execution=bool(no_eager),  # False = temporalio's default
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


# ----- one round -----------------------------------------------------------------------


def start_worker(side: str, server: DevServer, project: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if side.startswith("plain"):
        env["PYTHONPATH"] = str(PROJECT_SRC) + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [PYTHON, __file__, "_plain-worker", server.address, PHYSICAL, PLAIN_QUEUE]
        if side == "plain-noeager":
            cmd.append("no-eager")
    else:
        env.update(
            PAVED_ADDRESS=server.address,
            PAVED_ENV="dev",
            PAVED_REGION="local",
            PAVED_PROJECT=str(project),
            PAVED_CODEC="off" if side == "managed-nocodec" else "on",
        )
        cmd = [
            PYTHON,
            "-m",
            "paved.cli",
            "worker",
            "run",
            WORKER,
            "--project",
            str(project),
            "--http-port",
            "-1",
        ]
    with open(log, "ab") as f:
        return subprocess.Popen(
            cmd, env=env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


async def connect(side: str, server: DevServer, project: Path) -> Client:
    if side.startswith("plain"):
        return await Client.connect(server.address, namespace=PHYSICAL)
    codec = None if side == "managed-nocodec" else sdk.default_codec(LOGICAL, project / ".paved")
    env = sdk.RuntimeEnv(address=server.address, region="local", environment="dev")
    return await sdk.connect(LOGICAL, env=env, codec=codec)


async def burst(client: Client, queue: str, n: int, tag: str, ms: int = 0) -> float:
    """Start ``n`` workflows at once, wait for every result; seconds taken."""
    t0 = time.perf_counter()
    handles = await asyncio.gather(
        *(
            client.start_workflow(WORKFLOW, args=[i, ms], id=f"{tag}-{i}", task_queue=queue)
            for i in range(n)
        )
    )
    results = await asyncio.gather(*(h.result() for h in handles))
    dt = time.perf_counter() - t0
    bad = [r for i, r in enumerate(results) if r != i + 1]
    if bad:
        raise SystemExit(f"{len(bad)} wrong results")
    return dt


def cpu_seconds(p: psutil.Process) -> float:
    t = p.cpu_times()
    return float(t.user + t.system)


async def run_round(
    side: str, server: DevServer, project: Path, n: int, ms: int, logs: Path
) -> dict[str, Any]:
    queue = PLAIN_QUEUE if side.startswith("plain") else MANAGED_QUEUE
    proc = start_worker(side, server, project, logs / f"{side}.log")
    try:
        client = await connect(side, server, project)
        tag = f"{side}-{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        await asyncio.wait_for(burst(client, queue, 20, tag + "-warm"), 120)
        warm = time.perf_counter() - t0
        wp, sp = psutil.Process(proc.pid), psutil.Process(server.proc.pid)  # type: ignore[union-attr]
        w0, s0, me0 = cpu_seconds(wp), cpu_seconds(sp), time.process_time()
        dt = await asyncio.wait_for(burst(client, queue, n, tag, ms), 900)
        w1, s1, me1 = cpu_seconds(wp), cpu_seconds(sp), time.process_time()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {
        "side": side,
        "n": n,
        "activity_ms": ms,
        "seconds": dt,
        "wf_per_s": n / dt,
        "warmup_s": warm,
        "worker_cpu_ms_per_wf": (w1 - w0) * 1000 / n,
        "server_cpu_ms_per_wf": (s1 - s0) * 1000 / n,
        "starter_cpu_ms_per_wf": (me1 - me0) * 1000 / n,
    }


async def bench_server(
    label: str, ms_list: list[int], args: argparse.Namespace, tmp: Path, project: Path
) -> list[dict[str, Any]]:
    d = tmp / label
    d.mkdir()
    server = DevServer(
        db_file=d / "temporal.db", fast=label == "paved", namespaces=[PHYSICAL]
    ).start()
    rounds = []
    try:
        for ms in ms_list:
            for rep in range(args.reps):
                for side in args.sides:
                    r = await run_round(side, server, project, args.n, ms, d)
                    r.update(server=label, scenario=f"{label}/{ms}ms", rep=rep)
                    rounds.append(r)
                    print(
                        f"  [{label}, activity {ms} ms] rep {rep} {side:<16} {r['wf_per_s']:6.1f} wf/s  "
                        f"worker {r['worker_cpu_ms_per_wf']:.1f} ms/wf  server {r['server_cpu_ms_per_wf']:.1f} ms/wf",
                        flush=True,
                    )
    finally:
        server.stop()
    return rounds


def summarize(
    rounds: list[dict[str, Any]], scenarios: list[str], sides: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for srv in scenarios:
        out[srv] = {}
        for side in sides:
            rs = [r for r in rounds if r["scenario"] == srv and r["side"] == side]
            out[srv][side] = {
                k: median([r[k] for r in rs])
                for k in (
                    "wf_per_s",
                    "worker_cpu_ms_per_wf",
                    "server_cpu_ms_per_wf",
                    "starter_cpu_ms_per_wf",
                )
            }
            out[srv][side]["runs"] = [round(r["wf_per_s"], 1) for r in rs]
    return out


async def main(args: argparse.Namespace) -> None:
    info = machine()
    print(f"bench_worker: N={args.n}, reps={args.reps}, {info}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as t:
        tmp = Path(t)
        project = tmp / "proj"
        shutil.copytree(
            PROJECT_SRC,
            project,
            ignore=shutil.ignore_patterns("__pycache__", "specs", ".paved", "plainbench"),
        )
        if args.tuning:
            # Experiments: override the managed worker's tuning in paved.yaml.
            lines = "".join(
                f"      {kv.split('=')[0]}: {kv.split('=')[1]}\n" for kv in args.tuning.split(",")
            )
            with open(project / "paved.yaml", "a") as f:
                f.write(f"workers:\n  {WORKER}:\n    tuning:\n{lines}")
        paved_gen(project)
        # Create the project's keys once, before two processes race to.
        sdk.default_codec(LOGICAL, project / ".paved")
        rounds: list[dict[str, Any]] = []
        by_server: dict[str, list[int]] = {}
        for sc in args.scenarios:
            srv, _, ms = sc.partition(":")
            by_server.setdefault(srv, []).append(int(ms or 0))
        for srv, ms_list in by_server.items():
            rounds += await bench_server(srv, ms_list, args, tmp, project)
    scenarios = list(dict.fromkeys(r["scenario"] for r in rounds))
    summary = summarize(rounds, scenarios, args.sides)
    rows = []
    for srv in scenarios:
        base = summary[srv].get("plain", {}).get("wf_per_s")
        for side in args.sides:
            s = summary[srv][side]
            ratio = s["wf_per_s"] / base if base else float("nan")
            s["ratio_vs_plain"] = ratio
            rows.append(
                [
                    srv,
                    side,
                    s["wf_per_s"],
                    " ".join(map(str, s["runs"])),
                    ratio,
                    s["worker_cpu_ms_per_wf"],
                    s["server_cpu_ms_per_wf"],
                    s["starter_cpu_ms_per_wf"],
                ]
            )
    print()
    print(
        table(
            [
                "server/activity",
                "side",
                "wf/s (median)",
                "runs",
                "x plain",
                "worker ms/wf",
                "server ms/wf",
                "starter ms/wf",
            ],
            rows,
        )
    )
    print("\ntarget: managed >= 1.3x plain")
    for srv in scenarios:
        if "plain" in summary[srv] and "managed" in summary[srv]:
            r = summary[srv]["managed"]["ratio_vs_plain"]
            print(
                f"  {srv:<18} managed/plain = {r:.2f}x  ({'meets' if r >= 1.3 else 'misses'} 1.3x)"
            )
    info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    path = write_json(
        "bench_worker", {"machine": info, "args": vars(args), "summary": summary, "rounds": rounds}
    )
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_plain-worker":
        asyncio.run(plain_worker_main(*sys.argv[2:6]))
        sys.exit(0)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=400, help="workflows per round")
    ap.add_argument("--reps", type=int, default=2, help="rounds per side and scenario")
    ap.add_argument(
        "--scenarios",
        default="start-dev:0,paved:0,paved:5000",
        help="server:activity_ms, comma-separated; server is start-dev (DevServer(fast=False)) "
        "or paved (fast=True); activity_ms > 0 makes the activity wait (I/O-bound, like a model call)",
    )
    ap.add_argument("--sides", default=",".join(SIDES))
    ap.add_argument(
        "--tuning", default="", help="managed tuning overrides, e.g. poller_max=5,poller_initial=5"
    )
    a = ap.parse_args()
    a.scenarios = [s for s in a.scenarios.split(",") if s]
    a.sides = [s for s in a.sides.split(",") if s]
    asyncio.run(main(a))
