"""Observability benchmark: the stuck detector's pass, and what tracing costs.

1. **Detector**: 10,000 running workflows in one namespace (started on a queue no
   worker polls, so each is also a finding), then ``--passes`` passes of the
   detector: seconds per pass and Temporal calls made, with the full describe
   budget and with ``--budget`` describes.
2. **Tracing overhead**: the example's burst (``bench_burst.paved_burst``: the
   front end starts ``GenerateImage`` workflows, managed workers render on the
   fake GPU) with ``PAVED_TRACING`` off and on, alternated over ``--rounds``
   rounds; wf/s of each run and the on/off ratio per round.

Load average is recorded next to every figure (the machine is shared).

    python bench/bench_observe.py                      # both
    python bench/bench_observe.py --skip-burst --workflows 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table, write_json
from bench_burst import PHYSICAL, PROJECT, Processes, paved_burst

from paved import observe, sdk, specs
from paved.dev import DevServer, ensure_namespaces, free_port, wait_for_port
from paved.testing import ProjectProcesses

REPO = Path(__file__).resolve().parents[1]
OBSPROJ = REPO / "tests" / "observe" / "obsproj"


def load() -> float:
    return round(os.getloadavg()[0], 2)


async def detector_bench(n: int, passes: int, budget: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="paved-bench-observe-"))
    root = tmp / "obsproj"
    shutil.copytree(OBSPROJ, root, ignore=shutil.ignore_patterns("__pycache__", ".paved"))
    project = specs.Project.load(root)
    server = DevServer(db_file=tmp / "temporal.db", namespaces=["obs-dev-local"]).start()
    try:
        env = sdk.RuntimeEnv(address=server.address)
        client = await Client.connect(server.address, namespace="obs-dev-local")
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(64)

        async def start(i: int) -> None:
            async with sem:
                await client.start_workflow(
                    "Sleepy", 3600.0, id=f"bench-{i}", task_queue="obs-slow-workflows"
                )

        await asyncio.gather(*(start(i) for i in range(n)))
        started = time.perf_counter() - t0
        print(f"started {n} workflows in {started:.1f}s (load {load()})", flush=True)
        # Visibility catches up asynchronously: wait until the list sees them all.
        while (await client.count_workflows("ExecutionStatus='Running'")).count < n:
            await asyncio.sleep(1)
        rows = []
        for label, max_describes in (("full", n + 100), (f"budget {budget}", budget)):
            for i in range(passes):
                det = await observe.detector_for(
                    project, environment="dev", env=env, max_describes=max_describes
                )
                la = load()
                scan = await det.scan()
                rows.append(
                    {
                        "mode": label,
                        "pass": i + 1,
                        "seconds": round(scan.seconds, 2),
                        "calls": scan.total_calls,
                        "by_method": dict(scan.calls),
                        "running": scan.running,
                        "described": scan.described,
                        "findings": len(scan.findings),
                        "load1": la,
                    }
                )
                print(f"  {label} pass {i + 1}: {scan.seconds:.2f}s, {scan.total_calls} calls, "
                      f"{len(scan.findings)} findings (load {la})", flush=True)  # fmt: skip
        return {"workflows": n, "start_seconds": round(started, 1), "passes": rows}
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def burst_once(
    address: str, gpu_url: str, client: Client, requests: int, tracing: bool
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="paved-bench-trace-"))
    saved = {k: os.environ.get(k) for k in ("PAVED_TRACING", "PAVED_TRACE_DIR", "PAVED_LOG_FORMAT")}
    if tracing:
        os.environ.update(PAVED_TRACING="1", PAVED_TRACE_DIR=str(tmp / "traces"))
    else:
        os.environ.pop("PAVED_TRACING", None)
    procs = Processes(address=address, log_dir=tmp, gpu_url=gpu_url)
    try:
        procs.start()
        frontend = f"http://127.0.0.1:{procs.frontend_port}"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                         timeout=aiohttp.ClientTimeout(total=120)) as http:  # fmt: skip
            await paved_burst(http, frontend, client, 5, 60)  # warm up
            la = load()
            r = await paved_burst(http, frontend, client, requests, 300)
        spans = sum(1 for p in (tmp / "traces").glob("*.jsonl") for _ in p.open()) if tracing else 0
        return {
            "tracing": tracing,
            "completed": r["completed"],
            "wall_s": round(r["wall_s"], 2),
            "wf_per_s": round(r["completed"] / r["wall_s"], 2),
            "p50_s": r["completion_p50_s"],
            "spans": spans,
            "load1": la,
        }
    finally:
        procs.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)


async def tracing_bench(requests: int, rounds: int) -> dict[str, Any]:
    """Tracing off vs on, alternated; one dev server and one fake GPU (capacity 8,
    30-90 ms, 5% faults) shared by every run, the example's workers direct (no proxy)."""
    tmp = Path(tempfile.mkdtemp(prefix="paved-bench-trace-server-"))
    server = DevServer(db_file=tmp / "temporal.db", namespaces=[PHYSICAL]).start()
    gpu_procs = ProjectProcesses(project=PROJECT, address=server.address, log_dir=tmp)
    try:
        gpu_port = free_port()
        gpu = gpu_procs.spawn(
            "gpu",
            [
                *(sys.executable, "-m", "imagegen.gpu", "--port", str(gpu_port), "--capacity", "8"),
                *("--failure-rate", "0.05", "--min-delay-ms", "30", "--max-delay-ms", "90"),
            ],
        )
        wait_for_port(gpu_port, timeout=30, proc=gpu)
        gpu_url = f"http://127.0.0.1:{gpu_port}"
        client = await Client.connect(server.address, namespace=PHYSICAL)
        await ensure_namespaces(client, [PHYSICAL])
        runs = []
        for i in range(rounds):
            pair = []
            for tracing in (False, True) if i % 2 == 0 else (True, False):
                r = await burst_once(server.address, gpu_url, client, requests, tracing)
                r["round"] = i + 1
                print(f"  round {i + 1} tracing={'on ' if tracing else 'off'}: {r['wf_per_s']} wf/s "
                      f"({r['completed']}/{requests} in {r['wall_s']}s, {r['spans']} spans, load {r['load1']})", flush=True)  # fmt: skip
                pair.append(r)
                runs.append(r)
            on = next(x for x in pair if x["tracing"])
            off = next(x for x in pair if not x["tracing"])
            print(f"  round {i + 1}: on/off = {on['wf_per_s'] / off['wf_per_s']:.2f}x", flush=True)
        return {"requests": requests, "runs": runs}
    finally:
        gpu_procs.stop()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workflows", type=int, default=10_000)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--budget", type=int, default=1000, help="describe budget of the second mode")
    ap.add_argument("--requests", type=int, default=300, help="burst size for the tracing overhead")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-detector", action="store_true")
    ap.add_argument("--skip-burst", action="store_true")
    a = ap.parse_args()
    out: dict[str, Any] = {"benchmark": "observe", "machine": machine()}
    if not a.skip_detector:
        print(f"detector: {a.workflows} running workflows ...", flush=True)
        out["detector"] = asyncio.run(detector_bench(a.workflows, a.passes, a.budget))
        print(table(["mode", "pass", "s", "calls", "described", "findings", "load1"],
                    [[r["mode"], r["pass"], r["seconds"], r["calls"], r["described"], r["findings"], r["load1"]]
                     for r in out["detector"]["passes"]]))  # fmt: skip
    if not a.skip_burst:
        print(
            f"tracing overhead: burst of {a.requests}, {a.rounds} rounds alternated ...", flush=True
        )
        out["tracing"] = asyncio.run(tracing_bench(a.requests, a.rounds))
        print(table(["round", "tracing", "wf/s", "wall s", "spans", "load1"],
                    [[r["round"], "on" if r["tracing"] else "off", r["wf_per_s"], r["wall_s"], r["spans"], r["load1"]]
                     for r in out["tracing"]["runs"]]))  # fmt: skip
    out["machine_after"] = machine()
    print(f"results: {write_json('observe', out)}")


if __name__ == "__main__":
    main()
