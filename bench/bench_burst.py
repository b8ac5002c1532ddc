"""Burst benchmark: 1,000 image requests against a GPU service of capacity 8.

The seed's story in numbers. The same front end serves both sides:

- **baseline** ``POST /images/sync``: the front end calls the GPU service
  directly and waits, like the synchronous service that went viral; no queue,
  no retry, so everything beyond capacity is answered 429/503/500;
- **Paved** ``POST /images``: the front end starts a ``GenerateImage`` workflow
  and answers 202 at once; managed workers (``paved worker run``) render with at
  most ``capacity`` GPU slots and retry faults with backoff.

Both bursts are fired all at once. For each side it reports rejected %,
completed %, p50/p99 completion time (submit -> image stored) and, for Paved,
p50/p99 time to the 202 answer; then the ratios. JSON goes to bench/results/.

    python bench/bench_burst.py                  # 1,000 requests (a few minutes on 2 cores)
    python bench/bench_burst.py --requests 200   # quick run
    python bench/bench_burst.py --address 127.0.0.1:7233   # an existing server

Everything runs on loopback: a real Temporal dev server (SQLite), the GPU
service, the front end and two managed workers as separate processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from temporalio.client import Client

from paved.dev import ensure_namespaces, free_port, wait_for_port
from paved.testing import ProjectProcesses, start_server

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "examples" / "imagegen"
PAVED = Path(sys.executable).parent / "paved"
ENVIRONMENT = "bench"
PHYSICAL = f"imagegen-{ENVIRONMENT}-local"


@dataclass(kw_only=True)
class Processes(ProjectProcesses):
    """The example's processes (``paved.testing.ProjectProcesses``) plus its GPU service and front end."""

    project: Path = PROJECT
    environment: str = ENVIRONMENT
    capacity: int
    failure_rate: float
    min_delay_ms: float
    max_delay_ms: float
    gpu_port: int = field(default_factory=free_port)
    frontend_port: int = field(default_factory=free_port)

    @property
    def blob_dir(self) -> Path:
        return self.log_dir / "images"

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            PAVED_NAMESPACE=PHYSICAL,  # an environment the specs do not declare
            IMAGEGEN_GPU_URL=f"http://127.0.0.1:{self.gpu_port}",
            IMAGEGEN_BLOB_DIR=str(self.blob_dir),
        )
        return env

    def start(self) -> None:
        gpu = self.spawn(
            "gpu",
            [
                *(sys.executable, "-m", "imagegen.gpu", "--port", str(self.gpu_port)),
                *("--capacity", str(self.capacity), "--failure-rate", str(self.failure_rate)),
                *(
                    "--min-delay-ms",
                    str(self.min_delay_ms),
                    "--max-delay-ms",
                    str(self.max_delay_ms),
                ),
            ],
        )
        for w in ("imagegen-worker", "imagegen-gpu"):
            self.start_worker(w, log_level="ERROR")
        fe = self.spawn(
            "frontend",
            [sys.executable, "-m", "imagegen.frontend", "--port", str(self.frontend_port)],
        )
        wait_for_port(self.gpu_port, timeout=30, proc=gpu)
        wait_for_port(self.frontend_port, timeout=30, proc=fe)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))]


def summary(
    n: int, completed: list[float], rejected: int, wall: float, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    out = {
        "requests": n,
        "completed": len(completed),
        "rejected": rejected,
        "completed_pct": 100.0 * len(completed) / n,
        "rejected_pct": 100.0 * rejected / n,
        "p50_s": pct(completed, 50),
        "p99_s": pct(completed, 99),
        "mean_s": statistics.fmean(completed) if completed else None,
        "wall_s": wall,
        "throughput_per_s": len(completed) / wall if wall else None,
    }
    out.update(extra or {})
    return out


async def gpu_stats(http: aiohttp.ClientSession, procs: Processes) -> dict[str, Any]:
    async with http.get(f"http://127.0.0.1:{procs.gpu_port}/stats") as r:
        return dict(await r.json())


async def run_baseline(http: aiohttp.ClientSession, procs: Processes, n: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{procs.frontend_port}/images/sync"
    codes: dict[str, int] = {}

    async def one(i: int) -> float | None:
        t0 = time.perf_counter()
        try:
            async with http.post(url, json=body(i)) as r:
                await r.read()
                code = str(r.status)
        except (TimeoutError, aiohttp.ClientError):
            code = "conn-error"
        codes[code] = codes.get(code, 0) + 1
        return time.perf_counter() - t0 if code == "200" else None

    before = await gpu_stats(http, procs)
    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    after = await gpu_stats(http, procs)
    done = [r for r in results if r is not None]
    return summary(
        n,
        done,
        n - len(done),
        wall,
        {
            "answers": dict(sorted(codes.items())),
            "gpu_max_in_flight": after["max_in_flight"],
            "gpu_rejected_429": after["rejected"] - before["rejected"],
        },
    )


async def run_paved(
    http: aiohttp.ClientSession, procs: Processes, client: Client, n: int, timeout: float
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{procs.frontend_port}/images"
    run = uuid.uuid4().hex[:8]
    submitted: dict[str, float] = {}
    accept_lat: list[float] = []
    refused = 0

    async def one(i: int) -> None:
        nonlocal refused
        t_wall, t0 = time.time(), time.perf_counter()
        try:
            async with http.post(url, json=body(i), headers={"Idempotency-Key": f"{run}-{i}"}) as r:
                data = await r.json()
                if r.status != 202:
                    refused += 1
                    return
        except (TimeoutError, aiohttp.ClientError):
            refused += 1
            return
        accept_lat.append(time.perf_counter() - t0)
        submitted[data["workflow_id"]] = t_wall

    before = await gpu_stats(http, procs)
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    accepted_in = time.perf_counter() - t0
    # Wait until every accepted request's workflow is closed.
    q_open = f"WorkflowType='GenerateImage' AND ExecutionStatus='Running' AND WorkflowId STARTS_WITH 'img-{run}'"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await client.count_workflows(q_open)).count == 0:
            closed = (
                await client.count_workflows(
                    f"WorkflowType='GenerateImage' AND WorkflowId STARTS_WITH 'img-{run}'"
                )
            ).count
            if closed >= len(submitted):
                break
        await asyncio.sleep(0.5)
    wall = time.perf_counter() - t0
    after = await gpu_stats(http, procs)
    done: list[float] = []
    failed = 0
    async for w in client.list_workflows(
        f"WorkflowType='GenerateImage' AND WorkflowId STARTS_WITH 'img-{run}'"
    ):
        if w.status is not None and w.status.name == "COMPLETED" and w.close_time is not None:
            done.append(w.close_time.timestamp() - submitted[w.id])
        else:
            failed += 1
    blobs = sum(1 for k in submitted if (procs.blob_dir / f"{k}.png").exists())
    return summary(
        n,
        done,
        refused,
        wall,
        {
            "failed_or_unfinished": failed + (len(submitted) - len(done) - failed),
            "images_in_blob_store": blobs,
            "accept_p50_s": pct(accept_lat, 50),
            "accept_p99_s": pct(accept_lat, 99),
            "all_accepted_in_s": accepted_in,
            "gpu_max_in_flight": after["max_in_flight"],
            "gpu_injected_faults": after["failed"] - before["failed"],
            "gpu_rejected_429": after["rejected"] - before["rejected"],
        },
    )


def body(i: int) -> dict[str, Any]:
    return {
        "prompt": f"a studio-style landscape, variation {i}",
        "user": f"user-{i % 50}",
        "size": 32,
        "seed": i,
    }


def fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}{unit}"
    return f"{v}{unit}"


async def main_async(a: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="paved-bench-burst-"))
    with contextlib.ExitStack() as stack:
        address = a.address
        if address is None:
            address = stack.enter_context(start_server(tmp / "temporal")).address
        procs = Processes(
            address=address,
            log_dir=tmp,
            capacity=a.capacity,
            failure_rate=a.failure_rate,
            min_delay_ms=a.min_delay_ms,
            max_delay_ms=a.max_delay_ms,
        )
        stack.callback(procs.stop)
        return await _run(a, procs, address)


async def _run(a: argparse.Namespace, procs: Processes, address: str) -> dict[str, Any]:
    client = await Client.connect(address, namespace=PHYSICAL)
    await ensure_namespaces(client, [PHYSICAL])
    procs.start()
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=conn, timeout=aiohttp.ClientTimeout(total=120)
    ) as http:
        # Warm up both paths (imports, connections, workflow cache) outside the measurement.
        await run_paved(http, procs, client, 5, 60)
        print(f"baseline: {a.requests} concurrent synchronous requests ...", flush=True)
        baseline = await run_baseline(http, procs, a.requests)
        print(f"paved:    {a.requests} concurrent requests through workflows ...", flush=True)
        paved_r = await run_paved(http, procs, client, a.requests, a.timeout)
    return {
        "benchmark": "burst",
        "when": datetime.now().isoformat(timespec="seconds"),
        "config": {
            "requests": a.requests,
            "gpu_capacity": a.capacity,
            "gpu_delay_ms": [a.min_delay_ms, a.max_delay_ms],
            "gpu_failure_rate": a.failure_rate,
            "cpus": os.cpu_count(),
        },
        "baseline": baseline,
        "paved": paved_r,
        "logs": str(procs.log_dir),
    }


def report(r: dict[str, Any]) -> None:
    b, p = r["baseline"], r["paved"]
    rows = [
        ("completed %", "completed_pct", "%"),
        ("rejected %", "rejected_pct", "%"),
        ("p50 completion", "p50_s", " s"),
        ("p99 completion", "p99_s", " s"),
        ("wall time", "wall_s", " s"),
        ("images/s", "throughput_per_s", ""),
        ("GPU max in flight", "gpu_max_in_flight", ""),
        ("GPU 429 answers", "gpu_rejected_429", ""),
    ]
    cfg = r["config"]
    print(
        f"\nburst of {cfg['requests']} requests, GPU capacity {cfg['gpu_capacity']}, "
        f"delay {cfg['gpu_delay_ms'][0]:.0f}-{cfg['gpu_delay_ms'][1]:.0f} ms, "
        f"{cfg['gpu_failure_rate']:.0%} injected faults, {cfg['cpus']} CPUs"
    )
    print(f"{'':22}{'baseline (sync)':>18}{'paved':>14}")
    for label, key, unit in rows:
        print(f"{label:22}{fmt(b.get(key), unit):>18}{fmt(p.get(key), unit):>14}")
    print(
        f"{'time to 202 p50/p99':22}{'-':>18}{fmt(p['accept_p50_s'], '') + '/' + fmt(p['accept_p99_s'], ' s'):>14}"
    )
    print(f"baseline answers: {b['answers']}")
    print(
        f"paved: images in blob store {p['images_in_blob_store']}/{p['requests']}, "
        f"failed or unfinished {p['failed_or_unfinished']}, GPU faults retried {p['gpu_injected_faults']}"
    )
    if b["completed"]:
        print(f"ratio completed paved/baseline: {p['completed'] / b['completed']:.1f}x")
    if b["p50_s"] and p["p50_s"]:
        print(
            f"ratio p50 completion paved/baseline: {p['p50_s'] / b['p50_s']:.1f}x "
            "(baseline p50 is over the few requests it completed)"
        )
    ok = p["completed_pct"] == 100.0 and p["rejected"] == 0
    print(
        "PAVED: all requests completed, none rejected"
        if ok
        else "PAVED: NOT all requests completed"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--capacity", type=int, default=8)
    ap.add_argument("--failure-rate", type=float, default=0.05)
    ap.add_argument("--min-delay-ms", type=float, default=30)
    ap.add_argument("--max-delay-ms", type=float, default=90)
    ap.add_argument(
        "--address", default=None, help="use this Temporal server instead of starting one"
    )
    ap.add_argument(
        "--timeout", type=float, default=900, help="seconds to wait for the Paved burst"
    )
    a = ap.parse_args()
    r = asyncio.run(main_async(a))
    report(r)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"burst-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(r, indent=2))
    print(f"wrote {path.relative_to(REPO)}")
    with contextlib.suppress(Exception):
        sys.stdout.flush()


if __name__ == "__main__":
    main()
