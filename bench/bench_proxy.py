"""Benchmark: Temporal direct vs through nginx grpc_pass vs through the Paved proxy.

    python bench/bench_proxy.py                 # default sizes, a few minutes
    python bench/bench_proxy.py --throughput 800 --starts 1000

One run, side by side, on the same dev server (WAL, one partition):

* p50/p99 latency of StartWorkflowExecution (sequential starts, no worker);
* p50/p99 latency of a one-activity workflow end to end (sequential);
* workflows per second: N one-activity workflows started at once, one worker;
* connection pooling: 200 downstream connections, each with a long poll open,
  and how many upstream connections the proxy process holds.

Paths: ``direct`` (client -> Temporal), ``nginx`` (Debian nginx ``grpc_pass``, the
floor of a pass-through proxy; skipped if nginx is not installed), ``proxy``
(Paved proxy, no encryption) and ``proxy+enc`` (Paved proxy, every payload
encrypted). The proxies run as their own processes (``paved proxy --config``),
as in production; the client and worker share one process, as in MEASURED.md.
Ratios are printed and written to bench/results/bench_proxy.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import psutil
import yaml
from temporalio import activity, workflow
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, PollActivityTaskQueueRequest
from temporalio.client import Client
from temporalio.worker import Worker

LOGICAL = "bench"
PHYSICAL = "bench-dev-local"


@activity.defn
async def work(text: str) -> str:
    return text.upper()


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            work, text, start_to_close_timeout=timedelta(seconds=60)
        )


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] * 1000


def start_proxy(
    tmp: Path, name: str, upstream: str, port: int, key_hash: str, encrypt: bool, connections: int
) -> subprocess.Popen[bytes]:
    d = tmp / name
    d.mkdir()
    policy = {
        "teams": {"bench": {"namespaces": {LOGICAL: ["read", "write", "worker", "admin"]}}},
        "principals": [
            {
                "name": "bench",
                "team": "bench",
                "region": "local",
                "environment": "dev",
                "api_keys": [{"id": "b", "hash": key_hash}],
            }
        ],
    }
    (d / "policy.yaml").write_text(yaml.safe_dump(policy))
    config = {
        "listen": f"127.0.0.1:{port}",
        "upstream": {"address": upstream, "connections": connections},
        "policy": "policy.yaml",
        "routes": [
            {
                "logical": LOGICAL,
                "physical": PHYSICAL,
                "region": "local",
                "environment": "dev",
                "rate_limit": {"actions_per_second": 100000, "requests_per_second": 100000},
            }
        ],
        "encryption": {"enabled": encrypt, "keys_file": "keys.json"},
    }
    (d / "proxy.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, PAVED_LOG_LEVEL="WARNING")
    log = open(d / "proxy.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "paved.cli", "proxy", "--config", str(d / "proxy.yaml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )


def start_nginx(tmp: Path, upstream: str, port: int) -> subprocess.Popen[bytes] | None:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        return None
    d = tmp / "nginx"
    d.mkdir()
    conf = f"""
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  upstream temporal {{ server {upstream}; keepalive 4; }}
  server {{
    listen 127.0.0.1:{port} http2;
    http2_max_concurrent_streams 10000;
    client_max_body_size 128m;
    location / {{
      grpc_pass grpc://temporal;
      grpc_read_timeout 120s;
      grpc_send_timeout 120s;
    }}
  }}
}}
"""
    (d / "nginx.conf").write_text(conf)
    return subprocess.Popen(
        [nginx, "-c", str(d / "nginx.conf"), "-p", str(d)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def bench_starts(client: Client, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await client.start_workflow(
            OneActivity.run,
            "x",
            id=f"s-{uuid.uuid4().hex}",
            task_queue="nobody",
            execution_timeout=timedelta(minutes=5),
        )
        out.append(time.perf_counter() - t)
    return out


async def bench_e2e(client: Client, n: int) -> list[float]:
    q = f"e2e-{uuid.uuid4().hex[:6]}"
    out = []
    async with Worker(client, task_queue=q, workflows=[OneActivity], activities=[work]):
        for i in range(n):
            t = time.perf_counter()
            await client.execute_workflow(
                OneActivity.run, f"e{i}", id=f"e-{uuid.uuid4().hex}", task_queue=q
            )
            out.append(time.perf_counter() - t)
    return out


async def bench_throughput(client: Client, n: int) -> float:
    q = f"tp-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=q,
        workflows=[OneActivity],
        activities=[work],
        max_concurrent_workflow_tasks=200,
        max_concurrent_activities=200,
    ):
        t = time.perf_counter()
        sem = asyncio.Semaphore(100)

        async def one(i: int) -> str:
            async with sem:
                h = await client.start_workflow(
                    OneActivity.run, f"t{i}", id=f"t-{uuid.uuid4().hex}", task_queue=q
                )
            return await h.result()

        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - t)


async def bench_pool(
    address: str, key: str, proxy_pid: int, upstream_port: int, n: int
) -> dict[str, int]:
    auth = [("authorization", f"Bearer {key}")]
    channels = [
        grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(n)
    ]
    desc = "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace"
    poll = "/temporal.api.workflowservice.v1.WorkflowService/PollActivityTaskQueue"
    body = DescribeNamespaceRequest(namespace=LOGICAL).SerializeToString()
    pbody = PollActivityTaskQueueRequest(
        namespace=LOGICAL, task_queue=TaskQueue(name="pool-empty")
    ).SerializeToString()
    try:
        await asyncio.gather(
            *(ch.unary_unary(desc)(body, metadata=auth, timeout=30) for ch in channels)
        )
        polls = [
            asyncio.ensure_future(ch.unary_unary(poll)(pbody, metadata=auth, timeout=8))
            for ch in channels
        ]
        await asyncio.sleep(3)
        conns = psutil.Process(proxy_pid).net_connections("tcp")
        up = sum(
            1
            for c in conns
            if c.raddr and c.raddr.port == upstream_port and c.status == "ESTABLISHED"
        )
        down = sum(
            1
            for c in conns
            if c.laddr
            and c.raddr
            and c.laddr.port == int(address.rsplit(":", 1)[1])
            and c.status == "ESTABLISHED"
        )
        open_polls = sum(1 for p in polls if not p.done())
        for p in polls:
            p.cancel()
        await asyncio.gather(*polls, return_exceptions=True)
        return {
            "downstream_connections": down,
            "upstream_connections": up,
            "open_long_polls": open_polls,
        }
    finally:
        for ch in channels:
            await ch.close()


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--starts", type=int, default=300)
    ap.add_argument("--e2e", type=int, default=60)
    ap.add_argument("--throughput", type=int, default=400)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--upstream-connections", type=int, default=4)
    ap.add_argument("--paths", default="direct,nginx,proxy,proxy+enc")
    args = ap.parse_args()

    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    from paved.auth import new_api_key
    from paved.dev import DevServer, ensure_namespaces, free_port, wait_for_port

    # the SDK's own warnings (slow workflow tasks under load) would drown the report
    runtime = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        )
    )
    tmp = Path(tempfile.mkdtemp(prefix="paved-bench-proxy-"))
    server = DevServer(db_file=tmp / "temporal.db").start()
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = {"args": vars(args), "paths": {}}
    try:
        direct = await Client.connect(server.address, namespace=PHYSICAL)
        await ensure_namespaces(direct, [PHYSICAL])
        key, entry = new_api_key("bench")
        addresses: dict[str, tuple[str, str, str | None]] = {
            "direct": (server.address, PHYSICAL, None)
        }
        pids: dict[str, int] = {}
        for name, enc in (("proxy", False), ("proxy+enc", True)):
            port = free_port()
            p = start_proxy(
                tmp,
                name.replace("+", "_"),
                server.address,
                port,
                entry["hash"],
                enc,
                args.upstream_connections,
            )
            procs.append(p)
            wait_for_port(port, timeout=30, proc=p)
            addresses[name] = (f"127.0.0.1:{port}", LOGICAL, key)
            pids[name] = p.pid
        nginx_port = free_port()
        ng = start_nginx(tmp, server.address, nginx_port)
        if ng is not None:
            procs.append(ng)
            wait_for_port(nginx_port, timeout=10, proc=ng)
            addresses["nginx"] = (f"127.0.0.1:{nginx_port}", PHYSICAL, None)
        else:
            print("nginx is not installed (apt-get install nginx): skipping the nginx path")
            results["nginx"] = "not installed"

        for name in args.paths.split(","):
            if name not in addresses:
                continue
            addr, ns, api_key = addresses[name]
            c = await Client.connect(
                addr, namespace=ns, api_key=api_key, tls=False, runtime=runtime
            )
            await bench_starts(c, 20)  # warm-up
            starts = await bench_starts(c, args.starts)
            e2e = await bench_e2e(c, args.e2e)
            wfs = await bench_throughput(c, args.throughput)
            r = {
                "start_p50_ms": round(pct(starts, 50), 2),
                "start_p99_ms": round(pct(starts, 99), 2),
                "e2e_p50_ms": round(pct(e2e, 50), 2),
                "e2e_p99_ms": round(pct(e2e, 99), 2),
                "workflows_per_second": round(wfs, 1),
            }
            results["paths"][name] = r
            print(f"{name:10s} {r}", flush=True)

        if "proxy" in pids:
            results["pool"] = await bench_pool(
                addresses["proxy"][0], key, pids["proxy"], server.port, args.conns
            )
            print("pool", results["pool"], flush=True)

        base = results["paths"].get("direct")
        if base:
            ratios: dict[str, dict[str, float]] = {}
            for name, r in results["paths"].items():
                if name == "direct":
                    continue
                ratios[name] = {
                    "start_p50_x": round(r["start_p50_ms"] / base["start_p50_ms"], 2),
                    "start_p99_x": round(r["start_p99_ms"] / base["start_p99_ms"], 2),
                    "e2e_p50_x": round(r["e2e_p50_ms"] / base["e2e_p50_ms"], 2),
                    "e2e_p99_x": round(r["e2e_p99_ms"] / base["e2e_p99_ms"], 2),
                    "throughput_x": round(
                        r["workflows_per_second"] / base["workflows_per_second"], 2
                    ),
                }
            results["ratios_vs_direct"] = ratios
            print("\nratios vs direct (latency: lower is better; throughput: higher is better)")
            for name, rr in ratios.items():
                print(f"  {name:10s} {rr}")
            tp = ratios.get("proxy+enc", {}).get("throughput_x")
            if tp is not None:
                print(
                    f"\nproxy+enc throughput {tp}x direct (target >= 0.8x): {'MET' if tp >= 0.8 else 'NOT MET'}"
                )
        out = Path(__file__).resolve().parent / "results"
        out.mkdir(exist_ok=True)
        (out / "bench_proxy.json").write_text(json.dumps(results, indent=2))
        print(f"wrote {out / 'bench_proxy.json'}")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
