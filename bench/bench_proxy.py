"""Benchmark: Temporal direct vs through the Paved proxy (with and without encryption).

    python bench/bench_proxy.py                       # 3 rounds, a few minutes
    python bench/bench_proxy.py --rounds 5 --throughput 600
    python bench/bench_proxy.py --paths direct,nginx,proxy,proxy+enc --latency

Throughput, the figure the target is about, is measured in **rounds**: each round
runs every path once (N one-activity workflows started at once, 100 in flight,
one worker in this process), the order rotated from round to round so that no
path always runs first or last on a shared machine. Every round is reported, as
ratios to the direct path of the same round, with the load average at its start,
and with the CPU seconds each process spent per workflow: the proxy process (the
cost this benchmark is about), the dev server, and this process (client and
worker). No best-of: the target (proxy with encryption >= 0.8x direct) must hold
in every round.

Paths: ``direct`` (client -> Temporal), ``proxy`` (Paved proxy, no encryption),
``proxy+enc`` (Paved proxy, every payload encrypted), and, when asked for,
``nginx`` (Debian nginx ``grpc_pass``, the floor of a pass-through proxy). The
proxies run as their own processes (``paved proxy --config``), as in production.

``--latency`` adds, once per path: p50/p99 of sequential StartWorkflowExecution
(no worker) and of a one-activity workflow end to end. ``--pool`` adds the
connection-pooling check: 200 downstream connections, each with a long poll
open, served over the proxy's few upstream connections.
Results: bench/results/bench_proxy.json.
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
    tmp: Path,
    name: str,
    upstream: str,
    port: int,
    key_hash: str,
    encrypt: bool,
    connections: int,
    source: Path | None = None,
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
    if source is not None:  # another checkout's paved (--baseline): before/after in one run
        env["PYTHONPATH"] = str(source / "src")
    log = open(d / "proxy.log", "wb")  # noqa: SIM115
    # PAVED_BENCH_PROFILE=DIR: run each proxy under cProfile, one DIR/<path>.prof per proxy
    prof = os.environ.get("PAVED_BENCH_PROFILE")
    profile = ["-m", "cProfile", "-o", str(Path(prof) / f"{name}.prof")] if prof else []
    return subprocess.Popen(
        [sys.executable, *profile, "-m", "paved.cli", "proxy", "--config", str(d / "proxy.yaml")],
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


WS = "/temporal.api.workflowservice.v1.WorkflowService/"


class _FakeContext:
    """The parts of a grpc.aio servicer context the proxy reads (for --calls)."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._md = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._md

    def time_remaining(self) -> float:
        return 10.0

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    async def abort(self, code: Any, details: str, trailing_metadata: Any = ()) -> None:
        raise RuntimeError(f"{code}: {details}")


class _FakePool:
    """Answers each method with recorded bytes: the proxy's own work, no sockets (for --calls)."""

    auth_metadata: tuple[tuple[str, str], ...] = ()

    def __init__(self, answers: dict[str, bytes]) -> None:
        self.answers = answers

    def callable(self, path: str) -> Any:
        answer = self.answers[path]

        async def call(raw: bytes, timeout: float | None = None, metadata: Any = None) -> bytes:
            return answer

        return call


class _FakeUpstreams:
    """Every cluster is the fake pool (for --calls)."""

    def __init__(self, pool: _FakePool) -> None:
        self.default_pool = pool

    def pool(self, region: str | None, environment: str | None) -> _FakePool:
        return self.default_pool


def _workflow_rpcs(
    ring: Any, encrypt: bool
) -> tuple[list[tuple[str, bytes]], dict[str, bytes], list[bytes]]:
    """One one-activity workflow's RPCs as a temporalio worker and client make them through
    the proxy (start, two workflow tasks, an eager activity, its completion, the result), with
    the answers Temporal gives (payloads as the proxy stored them: encrypted when ``encrypt``)."""
    from temporalio.api.command.v1 import Command
    from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution, WorkflowType
    from temporalio.api.enums.v1 import CommandType, EventType
    from temporalio.api.history.v1 import HistoryEvent
    from temporalio.api.workflowservice.v1 import (
        DescribeNamespaceResponse,
        GetWorkflowExecutionHistoryRequest,
        GetWorkflowExecutionHistoryResponse,
        PollActivityTaskQueueResponse,
        PollWorkflowTaskQueueRequest,
        PollWorkflowTaskQueueResponse,
        RespondActivityTaskCompletedRequest,
        RespondActivityTaskCompletedResponse,
        RespondWorkflowTaskCompletedRequest,
        RespondWorkflowTaskCompletedResponse,
        StartWorkflowExecutionRequest,
        StartWorkflowExecutionResponse,
    )

    from paved import codec

    nid = "4b1c6a3e-0000-4000-8000-000000000001"
    token = b"\x0a" + bytes([len(nid)]) + nid.encode() + b"\x12\x08wf-token"

    def pl(text: str) -> Payload:
        p = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())
        return codec.encrypt_payload(p, ring, LOGICAL) if encrypt else p

    def pls(text: str) -> Payloads:
        return Payloads(payloads=[pl(text)])

    ex = WorkflowExecution(workflow_id="t-1", run_id="r-1")
    started = HistoryEvent(event_id=1, event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    started.workflow_execution_started_event_attributes.input.CopyFrom(pls("t1"))
    started.workflow_execution_started_event_attributes.workflow_type.name = "OneActivity"
    first = [started] + [HistoryEvent(event_id=i, event_type=5 + i % 2) for i in (2, 3)]
    done = HistoryEvent(event_id=7, event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    done.activity_task_completed_event_attributes.result.CopyFrom(pls("T1"))
    later = [HistoryEvent(event_id=i, event_type=6) for i in (5, 6)] + [done]
    closed = HistoryEvent(event_id=11, event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
    closed.workflow_execution_completed_event_attributes.result.CopyFrom(pls("T1"))

    schedule = Command(command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK)
    schedule.schedule_activity_task_command_attributes.input.payloads.add(
        metadata={"encoding": b"json/plain"}, data=b'"t1"'
    )
    schedule.schedule_activity_task_command_attributes.request_eager_execution = True
    complete = Command(command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION)
    complete.complete_workflow_execution_command_attributes.result.payloads.add(
        metadata={"encoding": b"json/plain"}, data=b'"T1"'
    )
    eager = RespondWorkflowTaskCompletedResponse()
    eager.activity_tasks.add(task_token=token, workflow_execution=ex, input=pls("t1"))

    def poll(events: list[Any]) -> bytes:
        r = PollWorkflowTaskQueueResponse(
            task_token=token, workflow_execution=ex, workflow_type=WorkflowType(name="OneActivity")
        )
        r.history.events.extend(events)
        return r.SerializeToString()

    answers = {
        WS + "StartWorkflowExecution": StartWorkflowExecutionResponse(run_id="r-1"),
        WS + "RespondWorkflowTaskCompleted": RespondWorkflowTaskCompletedResponse(),
        WS + "RespondActivityTaskCompleted": RespondActivityTaskCompletedResponse(),
        WS + "PollActivityTaskQueue": PollActivityTaskQueueResponse(),
        WS + "DescribeNamespace": DescribeNamespaceResponse(),
    }
    out = {k: v.SerializeToString() for k, v in answers.items()}
    dn = DescribeNamespaceResponse()
    dn.namespace_info.id = nid
    dn.namespace_info.name = PHYSICAL
    out[WS + "DescribeNamespace"] = dn.SerializeToString()
    hist = GetWorkflowExecutionHistoryResponse()
    hist.history.events.append(closed)
    out[WS + "GetWorkflowExecutionHistory"] = hist.SerializeToString()
    # the first poll answers with the new workflow, the second with the activity's result
    # (one path, two answers: _bench_calls hands them out in turn)
    polls = [poll(first), poll(later)]
    start = StartWorkflowExecutionRequest(
        namespace=LOGICAL,
        workflow_id="t-1",
        workflow_type=WorkflowType(name="OneActivity"),
        input=Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b'"t1"')]),
    )
    start.task_queue.name = "q"
    poll_req = PollWorkflowTaskQueueRequest(namespace=LOGICAL, identity="w")
    poll_req.task_queue.name = "q"
    wft1 = RespondWorkflowTaskCompletedRequest(namespace=LOGICAL, task_token=token)
    wft1.commands.append(schedule)
    wft2 = RespondWorkflowTaskCompletedRequest(namespace=LOGICAL, task_token=token)
    wft2.commands.append(complete)
    act = RespondActivityTaskCompletedRequest(namespace=LOGICAL, task_token=token)
    act.result.payloads.add(metadata={"encoding": b"json/plain"}, data=b'"T1"')
    get = GetWorkflowExecutionHistoryRequest(namespace=LOGICAL, execution=ex, wait_new_event=True)
    mix = [
        (WS + "StartWorkflowExecution", start.SerializeToString()),
        (WS + "PollWorkflowTaskQueue", poll_req.SerializeToString()),
        (WS + "RespondWorkflowTaskCompleted", wft1.SerializeToString()),
        (WS + "RespondActivityTaskCompleted", act.SerializeToString()),
        (WS + "PollWorkflowTaskQueue", poll_req.SerializeToString()),
        (WS + "RespondWorkflowTaskCompleted", wft2.SerializeToString()),
        (WS + "GetWorkflowExecutionHistory", get.SerializeToString()),
    ]
    return mix, out, polls


async def _bench_calls(n: int) -> dict[str, Any]:
    """The proxy's own CPU per workflow (no sockets, no grpc): the pipeline over one workflow's
    RPC mix, ``n`` times, timed with process CPU time. Load on the machine barely moves it."""
    from paved import codec
    from paved.auth import Policy, new_api_key
    from paved.proxy import ProxyServer
    from paved.specs import RateLimit, Route, Routes

    key, entry = new_api_key("bench")
    policy = Policy.from_dict(
        {
            "teams": {"bench": {"namespaces": {LOGICAL: ["read", "write", "worker", "admin"]}}},
            "principals": [
                {"name": "bench", "team": "bench", "region": "local", "environment": "dev"}
                | {"api_keys": [entry]}
            ],
        }
    )
    rl = RateLimit(actions_per_second=1e9, requests_per_second=1e9)
    routes = Routes([Route(LOGICAL, PHYSICAL, "local", "dev", rl)])
    md = (
        ("authorization", f"Bearer {key}"),
        ("client-name", "temporal-python"),
        ("client-version", "1.35.0"),
        ("temporal-namespace", LOGICAL),
        ("user-agent", "grpc-python/1.76"),
    )
    out: dict[str, Any] = {}
    for name, encrypt in (("proxy", False), ("proxy+enc", True)):
        ring = codec.KeyRing.in_memory()
        proxy = ProxyServer(
            policy=policy, routes=routes, upstream="127.0.0.1:1", keyring=ring if encrypt else None
        )
        mix, answers, polls = _workflow_rpcs(ring, encrypt)
        pool = _FakePool(answers)
        proxy.pipeline.upstreams = _FakeUpstreams(pool)  # type: ignore[assignment]

        fake_ctx = _FakeContext(md)

        async def one_workflow(
            proxy: ProxyServer = proxy,
            pool: _FakePool = pool,
            mix: list[tuple[str, bytes]] = mix,
            polls: list[bytes] = polls,
            ctx: _FakeContext = fake_ctx,
        ) -> None:
            i = 0
            for path, raw in mix:
                if path.endswith("PollWorkflowTaskQueue"):
                    pool.answers[path] = polls[i]
                    i += 1
                await proxy.handle(proxy.methods[path], raw, ctx)  # type: ignore[arg-type]

        for _ in range(50):
            await one_workflow()
        t = time.process_time()
        for _ in range(n):
            await one_workflow()
        per_wf = (time.process_time() - t) / n
        out[name] = {
            "cpu_us_per_workflow": round(per_wf * 1e6, 1),
            "rpcs_per_workflow": len(mix),
            "cpu_us_per_rpc": round(per_wf * 1e6 / len(mix), 1),
        }
        print(f"calls {name:10s} {out[name]}", flush=True)
    return out


def _cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) of these processes and their children."""
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
    return total


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (at least 3)")
    ap.add_argument("--throughput", type=int, default=300, help="workflows per path per round")
    ap.add_argument("--latency", action="store_true", help="also start and end-to-end latency")
    ap.add_argument("--starts", type=int, default=200)
    ap.add_argument("--e2e", type=int, default=40)
    ap.add_argument("--pool", action="store_true", help="also the connection-pooling check")
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--upstream-connections", type=int, default=4)
    ap.add_argument("--paths", default="direct,proxy,proxy+enc")
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="CHECKOUT",
        help="also run proxy+enc from another checkout of Paved (path 'proxy+enc@base'), "
        "e.g. a git worktree of main, to compare before/after in the same rounds",
    )
    ap.add_argument(
        "--calls",
        type=int,
        default=0,
        metavar="N",
        help="only the proxy's own CPU per workflow, in process, without sockets (N workflows)",
    )
    args = ap.parse_args()
    if args.calls:
        res = {"machine": {"loadavg": os.getloadavg()}, "calls": await _bench_calls(args.calls)}
        out = Path(__file__).resolve().parent / "results"
        out.mkdir(exist_ok=True)
        (out / "bench_proxy_calls.json").write_text(json.dumps(res, indent=2))
        return
    if args.rounds < 3:
        ap.error("--rounds must be at least 3: one round on a shared machine proves nothing")

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
    assert server.proc is not None
    procs: list[subprocess.Popen[bytes]] = []
    paths = args.paths.split(",")
    results: dict[str, Any] = {
        "args": vars(args),
        "machine": {
            "nproc": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        },
        "rounds": [],
    }
    try:
        direct = await Client.connect(server.address, namespace=PHYSICAL)
        await ensure_namespaces(direct, [PHYSICAL])
        key, entry = new_api_key("bench")
        addresses: dict[str, tuple[str, str, str | None]] = {
            "direct": (server.address, PHYSICAL, None)
        }
        pids: dict[str, int] = {}
        if args.baseline is not None:
            paths.append("proxy+enc@base")
        for name, enc in (("proxy", False), ("proxy+enc", True), ("proxy+enc@base", True)):
            if name not in paths:
                continue
            port = free_port()
            p = start_proxy(
                tmp,
                name.replace("+", "_").replace("@", "_"),
                server.address,
                port,
                entry["hash"],
                enc,
                args.upstream_connections,
                args.baseline if name.endswith("@base") else None,
            )
            procs.append(p)
            wait_for_port(port, timeout=30, proc=p)
            addresses[name] = (f"127.0.0.1:{port}", LOGICAL, key)
            pids[name] = p.pid
        if "nginx" in paths:
            nginx_port = free_port()
            ng = start_nginx(tmp, server.address, nginx_port)
            if ng is not None:
                procs.append(ng)
                wait_for_port(nginx_port, timeout=10, proc=ng)
                addresses["nginx"] = (f"127.0.0.1:{nginx_port}", PHYSICAL, None)
                pids["nginx"] = ng.pid
            else:
                print("nginx is not installed (apt-get install nginx): skipping the nginx path")
        paths = [p for p in paths if p in addresses]
        clients: dict[str, Client] = {}
        for name in paths:
            addr, ns, api_key = addresses[name]
            clients[name] = c = await Client.connect(
                addr, namespace=ns, api_key=api_key, tls=False, runtime=runtime
            )
            await bench_starts(c, 20)  # warm-up: connections, namespace look-ups
            await bench_throughput(c, 30)

        if args.latency:
            results["latency"] = {}
            for name in paths:
                starts = await bench_starts(clients[name], args.starts)
                e2e = await bench_e2e(clients[name], args.e2e)
                results["latency"][name] = r = {
                    "start_p50_ms": round(pct(starts, 50), 2),
                    "start_p99_ms": round(pct(starts, 99), 2),
                    "e2e_p50_ms": round(pct(e2e, 50), 2),
                    "e2e_p99_ms": round(pct(e2e, 99), 2),
                }
                print(f"latency {name:10s} {r}", flush=True)

        me = os.getpid()
        for i in range(args.rounds):
            order = paths[i % len(paths) :] + paths[: i % len(paths)]
            rnd: dict[str, Any] = {"round": i + 1, "order": order, "paths": {}}
            rnd["loadavg"] = [round(x, 2) for x in os.getloadavg()]
            for name in order:
                watched = {"server": [server.proc.pid], "client+worker": [me]}
                if name in pids:
                    watched["proxy"] = [pids[name]]
                before = {k: _cpu(v) for k, v in watched.items()}
                load = os.getloadavg()[0]
                wfs = await bench_throughput(clients[name], args.throughput)
                cpu = {
                    f"{k}_cpu_ms_per_wf": round((_cpu(v) - before[k]) * 1000 / args.throughput, 2)
                    for k, v in watched.items()
                }
                rnd["paths"][name] = {"wf_per_s": round(wfs, 1), "load1": round(load, 2), **cpu}
                print(f"round {i + 1} {name:10s} {rnd['paths'][name]}", flush=True)
            base = rnd["paths"].get("direct", {}).get("wf_per_s")
            if base:
                rnd["ratios"] = {
                    name: round(r["wf_per_s"] / base, 2)
                    for name, r in rnd["paths"].items()
                    if name != "direct"
                }
                print(f"round {i + 1} ratios vs direct: {rnd['ratios']}  load {rnd['loadavg']}")
            results["rounds"].append(rnd)

        if args.pool and "proxy" in pids:
            results["pool"] = await bench_pool(
                addresses["proxy"][0], key, pids["proxy"], server.port, args.conns
            )
            print("pool", results["pool"], flush=True)

        print("\nround  load avg (1/5/15)  " + "  ".join(f"{p:>10s}" for p in paths[1:]))
        for rnd in results["rounds"]:
            ratios = rnd.get("ratios", {})
            print(
                f"{rnd['round']:5d}  {'/'.join(str(x) for x in rnd['loadavg']):18s} "
                + "  ".join(f"{str(ratios.get(p, '-')) + 'x':>10s}" for p in paths[1:])
            )
        enc = [r.get("ratios", {}).get("proxy+enc") for r in results["rounds"]]
        if enc and all(x is not None for x in enc):
            met = all(x >= 0.8 for x in enc)  # type: ignore[operator]
            results["target_proxy_enc_0_8x_every_round"] = met
            print(f"proxy+enc >= 0.8x direct in every round: {'MET' if met else 'NOT MET'} {enc}")
        out = Path(__file__).resolve().parent / "results"
        out.mkdir(exist_ok=True)
        (out / "bench_proxy.json").write_text(json.dumps(results, indent=2, default=str))
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
