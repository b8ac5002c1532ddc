"""Burst benchmark: 1,000 image requests at once against a GPU service of capacity 8.

The seed's story in numbers, and where the time goes. Sides (``--sides``):

- **proxy** (default): as users run it under ``paved dev``: the front end and
  the managed workers (``paved worker run``) reach Temporal through ``paved
  proxy``, which encrypts every payload;
- **direct**: the same without the proxy (workers and front end encrypt
  themselves, as ``paved dev --no-proxy``);
- **sync**: the synchronous baseline ``POST /images/sync`` (no queue, no retry:
  everything beyond the GPU's capacity is answered 429/503/500);
- **dbos-sqlite**, **dbos-pg**: the same workflow on DBOS Transact
  (``bench/bench_dbos.py``) against the same GPU service.

Each side runs in every round (``--rounds``), the order rotated from round to
round; every round is reported with the load average at its start. A Paved side
starts fresh workers, front end and proxy, fires the burst at ``POST /images``
(202 at once, a ``GenerateImage`` workflow each) and waits until every workflow
closed. Reported per side-round:

- wall time (first POST -> last workflow closed) against the physical minimum
  (``n x mean render x (1 + fault rate) / capacity``), images/s;
- the GPU's in-flight curve from the service's own timeline (``GET /timeline``):
  busy fraction from first render to last (render-seconds / capacity x span),
  plotted to ``bench/results/burst-<time>.png`` when matplotlib is installed
  (``pip install -e '.[bench]'``);
- 202 latency p50/p99, completion p50/p99;
- from the histories: events and workflow tasks per request, schedule-to-start
  of first render attempts (p50/p99);
- CPU seconds per request of every process (Temporal server, each worker, the
  front end, the proxy, the GPU service, this load generator), from psutil.

    python bench/bench_burst.py --requests 200                  # quick, through the proxy
    python bench/bench_burst.py --sides proxy,direct --rounds 3
    python bench/bench_burst.py --min-delay-ms 400 --max-delay-ms 800
    python bench/bench_burst.py --sides proxy,dbos-sqlite,dbos-pg

JSON goes to ``bench/results/burst-<time>.json``. Everything runs on loopback:
a real Temporal dev server (SQLite), the GPU service, front end and workers as
separate processes.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from paved.auth import new_api_key
from paved.dev import ensure_namespaces, free_port, wait_for_port
from paved.testing import ProjectProcesses, start_server

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "examples" / "imagegen"
RESULTS = REPO / "bench" / "results"
ENVIRONMENT = "bench"
LOGICAL = "imagegen"
PHYSICAL = f"{LOGICAL}-{ENVIRONMENT}-local"
PAVED_SIDES = tuple(
    f"{path}{variant}"
    for path in ("proxy", "direct")
    for variant in ("", "-nogate", "-before", "-fixed")
)


def variant_project(d: Path, capacity: int, before: bool) -> Path:
    """A copy of the example whose GPU worker has ``capacity`` activity slots and no
    declared capacity (no gate, no prefetch); with ``before``, also without local
    activities (the example as it was before issue 10)."""
    import shutil
    import subprocess

    root = d / "imagegen"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns(".paved", "__pycache__"))
    cfg = root / "paved.yaml"
    text = cfg.read_text()
    assert "    capacity: 8\n" in text
    slots = f"    tuning:\n      max_concurrent_activities: {capacity}\n"
    cfg.write_text(text.replace("    capacity: 8\n", slots))
    if before:
        acts = root / "imagegen" / "activities.py"
        code = acts.read_text()
        assert code.count(", local=True)") == 2
        acts.write_text(code.replace(", local=True)", ")"))
    subprocess.run(
        [sys.executable, "-m", "paved.cli", "gen", "--project", str(root)],
        check=True,
        capture_output=True,
    )
    return root


@dataclass(kw_only=True)
class Processes(ProjectProcesses):
    """The example's workers and front end (``paved.testing.ProjectProcesses``), optionally
    behind a ``paved proxy`` of their own."""

    project: Path = PROJECT
    environment: str = ENVIRONMENT
    gpu_url: str
    proxy: str | None = None  # the proxy's address: workers and front end go through it
    api_key: str | None = None
    frontend_port: int = field(default_factory=free_port)
    intake: bool = True
    fixed_prefetch: bool = False  # the GPU worker's slots as paved gen wrote them (no adapting)

    @property
    def blob_dir(self) -> Path:
        return self.log_dir / "images"

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            IMAGEGEN_GPU_URL=self.gpu_url,
            IMAGEGEN_BLOB_DIR=str(self.blob_dir),
            PAVED_LOG_LEVEL="WARNING",
            IMAGEGEN_INTAKE="on" if self.intake else "off",
            PAVED_CAPACITY_PREFETCH="fixed" if self.fixed_prefetch else "adaptive",
        )
        if self.proxy is not None:
            # As under `paved dev`: the proxy maps the logical namespace and alone encrypts.
            assert self.api_key is not None
            env.update(
                PAVED_ADDRESS=self.proxy,
                PAVED_VIA_PROXY="1",
                PAVED_API_KEY=self.api_key,
                PAVED_CODEC="off",
            )
            env.pop("PAVED_NAMESPACE", None)
        else:
            env["PAVED_NAMESPACE"] = PHYSICAL  # an environment the specs do not declare
        return env

    gpu_http_port: int = field(default_factory=free_port)

    def start(self) -> None:
        self.start_worker("imagegen-worker", log_level="ERROR")
        # the GPU worker serves /metrics: the sampler reads its slots and pollers
        self.start_worker("imagegen-gpu", log_level="ERROR", http_port=self.gpu_http_port)
        fe = self.spawn(
            "frontend",
            [sys.executable, "-m", "imagegen.frontend", "--port", str(self.frontend_port)],
        )
        wait_for_port(self.frontend_port, timeout=60, proc=fe)


def start_proxy(d: Path, upstream: str, key_hash: str) -> tuple[str, Any]:
    """``paved proxy`` with encryption, routing ``imagegen`` to the bench namespace."""
    d.mkdir(parents=True, exist_ok=True)
    policy = {
        "teams": {"bench": {"namespaces": {LOGICAL: ["read", "write", "worker", "admin"]}}},
        "principals": [
            {
                "name": "bench",
                "team": "bench",
                "region": "local",
                "environment": ENVIRONMENT,
                "api_keys": [{"id": "b", "hash": key_hash}],
            }
        ],
    }
    (d / "policy.yaml").write_text(yaml.safe_dump(policy))
    port = free_port()
    config = {
        "listen": f"127.0.0.1:{port}",
        "upstream": {"address": upstream, "connections": 2},
        "policy": "policy.yaml",
        "routes": [
            {
                "logical": LOGICAL,
                "physical": PHYSICAL,
                "region": "local",
                "environment": ENVIRONMENT,
                "rate_limit": {"actions_per_second": 100000, "requests_per_second": 100000},
            }
        ],
        "encryption": {"enabled": True, "keys_file": "keys.json"},
    }
    (d / "proxy.yaml").write_text(yaml.safe_dump(config))
    import subprocess

    log = open(d / "proxy.log", "wb")  # noqa: SIM115
    p = subprocess.Popen(
        [sys.executable, "-m", "paved.cli", "proxy", "--config", str(d / "proxy.yaml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PAVED_LOG_LEVEL="WARNING"),
        cwd=d,
    )
    wait_for_port(port, timeout=60, proc=p)
    return f"127.0.0.1:{port}", p


# --- measurement helpers ----------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))]


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of process ``pid`` (and its live children) (0 when it is gone)."""
    try:
        p = psutil.Process(pid)
        total = float(sum(p.cpu_times()[:2]))
        for c in p.children(recursive=True) if children else ():
            with contextlib.suppress(psutil.Error):
                total += float(sum(c.cpu_times()[:2]))
        return total
    except psutil.Error:
        return 0.0


class CpuMeter:
    """CPU seconds per named process between :meth:`start` and :meth:`stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}

    def start(self) -> None:
        self.before = {k: cpu_seconds(pid, "all" in k) for k, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        return {k: cpu_seconds(pid, "all" in k) - self.before[k] for k, pid in self.pids.items()}


def gpu_analysis(
    timeline: dict[str, Any], n: int, mean_render_s: float, fault_rate: float
) -> dict[str, Any]:
    """Busy fraction from first render to last, and the in-flight curve sampled every 50 ms."""
    renders = timeline["renders"]
    cap = int(timeline["capacity"])
    if not renders:
        return {"renders": 0}
    first = min(r[0] for r in renders)
    last = max(r[1] for r in renders)
    span = max(last - first, 1e-9)
    busy = sum(r[1] - r[0] for r in renders)
    step = 0.05
    samples = []
    edges = sorted([(r[0], 1) for r in renders] + [(r[1], -1) for r in renders])
    level, i, t = 0, 0, first
    while t <= last + step:
        while i < len(edges) and edges[i][0] <= t:
            level += edges[i][1]
            i += 1
        samples.append((round(t - first, 3), level))
        t += step
    physical_min = n * mean_render_s * (1 + fault_rate) / cap
    # Mean in-flight per 5 s window: where in the burst the GPU idled (kept in the JSON).
    per = int(5 / step)
    by_5s = [
        round(sum(lv for _, lv in samples[i : i + per]) / len(samples[i : i + per]), 2)
        for i in range(0, len(samples), per)
    ]
    return {
        "inflight_mean_by_5s": by_5s,
        "renders": len(renders),
        "failed_renders": sum(1 for r in renders if r[2] != 200),
        "first_render_to_last_s": span,
        "busy_fraction": busy / (cap * span),
        "render_seconds": busy,
        "physical_min_s": physical_min,
        "samples": samples,
        "first_render_at": first,
    }


async def history_analysis(client: Client, ids: list[str]) -> dict[str, Any]:
    """Events and workflow tasks per request; schedule-to-start of first render attempts."""
    sem = asyncio.Semaphore(16)
    events: list[int] = []
    wfts: list[int] = []
    s2s: list[float] = []
    to_render: list[float] = []  # workflow started -> render scheduled (first workflow task)
    after_render: list[float] = []  # render completed -> workflow closed (last workflow task)
    render_queue = "imagegen-gpu-activities"
    # absolute times: workflow started, render scheduled, render dispatched (first attempts)
    t_wf: list[float] = []
    t_sched: list[float] = []
    t_disp: list[float] = []

    async def one(wid: str) -> None:
        async with sem:
            h = await client.get_workflow_handle(wid).fetch_history()
        evs = list(h.events)
        events.append(len(evs))
        wfts.append(
            sum(1 for e in evs if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
        )
        scheduled: dict[int, float] = {}
        t_start = evs[0].event_time.ToDatetime().timestamp()
        t_wf.append(t_start)
        t_done = 0.0
        for e in evs:
            t = e.event_time.ToDatetime().timestamp()
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                t_done = t
            elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED and t_done:
                after_render.append(t - t_done)
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                a = e.activity_task_scheduled_event_attributes
                if a.task_queue.name == render_queue:
                    if not scheduled:
                        to_render.append(t - t_start)
                        t_sched.append(t)
                    scheduled[e.event_id] = t
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                a2 = e.activity_task_started_event_attributes
                if a2.scheduled_event_id in scheduled and a2.attempt == 1:
                    s2s.append(
                        e.event_time.ToDatetime().timestamp() - scheduled[a2.scheduled_event_id]
                    )
                    t_disp.append(e.event_time.ToDatetime().timestamp())

    await asyncio.gather(*(one(w) for w in ids))
    t0 = min(t_wf, default=0.0)

    def cumulative(ts: list[float]) -> list[int]:
        """How many happened by each 5 s mark after the first workflow started."""
        ts = sorted(ts)
        end = max(t_disp + t_sched + t_wf, default=t0)
        return [sum(1 for t in ts if t <= t0 + k) for k in range(5, int(end - t0) + 10, 5)]

    return {
        # the burst's pipe per 5 s: workflows started, first renders scheduled (their first
        # workflow task done) and dispatched to the GPU worker; scheduled - dispatched is
        # the render backlog at that moment
        "started_by_5s": cumulative(t_wf),
        "render_scheduled_by_5s": cumulative(t_sched),
        "render_dispatched_by_5s": cumulative(t_disp),
        "events_per_request": statistics.fmean(events) if events else None,
        "workflow_tasks_per_request": statistics.fmean(wfts) if wfts else None,
        "render_schedule_to_start_p50_s": pct(s2s, 50),
        "render_schedule_to_start_p99_s": pct(s2s, 99),
        "render_first_attempts_measured": len(s2s),
        "start_to_render_scheduled_p50_s": pct(to_render, 50),
        "start_to_render_scheduled_p99_s": pct(to_render, 99),
        "render_done_to_closed_p50_s": pct(after_render, 50),
        "render_done_to_closed_p99_s": pct(after_render, 99),
    }


# The GPU worker's gauges sampled every second during a burst: its adaptive prefetch
# (paved_capacity_*, paved.worker._prefetch) and Core's activity pollers.
GPU_GAUGES = {
    "paved_capacity_prefetch": "prefetch",
    "paved_capacity_slots_held": "held",
    "paved_capacity_waiting": "at_gate",
    "paved_capacity_dispatch_latency_seconds": "latency_s",
    "paved_capacity_report_latency_seconds": "report_s",
    "paved_capacity_rate_per_second": "rate",
    "temporal_num_pollers": "pollers",
}
SAMPLES_OF: dict[str, list[dict[str, float]]] = {}


async def sample_gpu_worker(http: aiohttp.ClientSession, url: str) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    out = SAMPLES_OF.setdefault(url, [])
    t0 = time.monotonic()
    while True:
        try:
            async with http.get(url) as resp:
                text = await resp.text()
            row = {"t": time.monotonic() - t0}
            for fam in text_string_to_metric_families(text):
                for sm in fam.samples:
                    key = GPU_GAUGES.get(sm.name)
                    if key == "pollers" and sm.labels.get("poller_type") != "activity_task":
                        continue
                    if key:
                        row[key] = row.get(key, 0.0) + sm.value
            out.append(row)
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(1.0)


def by_5s(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    """Mean of each sampled gauge per 5 s window."""
    out: dict[str, list[float]] = {}
    for key in GPU_GAUGES.values():
        windows: dict[int, list[float]] = {}
        for row in rows:
            if key in row:
                windows.setdefault(int(row["t"] // 5), []).append(row[key])
        out[key] = [round(statistics.fmean(v), 2) for _, v in sorted(windows.items())]
    return out


async def fetch_json(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url) as r:
        return dict(await r.json())


def body(i: int) -> dict[str, Any]:
    return {
        "prompt": f"a studio-style landscape, variation {i}",
        "user": f"user-{i % 50}",
        "size": 32,
        "seed": i,
    }


# --- one burst --------------------------------------------------------------------------


@dataclass
class Sent:
    """What one burst of POSTs got: the 202s' workflow ids (with when each was sent)."""

    run: str
    t_first: float
    submitted: dict[str, float] = field(default_factory=dict)
    accept_s: list[float] = field(default_factory=list)
    refused: int = 0


async def submit(http: aiohttp.ClientSession, url: str, n: int) -> Sent:
    """POST ``n`` image requests to ``url`` at once, each with its own Idempotency-Key."""
    sent = Sent(run=uuid.uuid4().hex[:8], t_first=time.time())

    async def one(i: int) -> None:
        t_wall, t0 = time.time(), time.perf_counter()
        try:
            headers = {"Idempotency-Key": f"{sent.run}-{i}"}
            async with http.post(url, json=body(i), headers=headers) as r:
                data = await r.json()
                if r.status != 202:
                    sent.refused += 1
                    return
        except (TimeoutError, aiohttp.ClientError):
            sent.refused += 1
            return
        sent.accept_s.append(time.perf_counter() - t0)
        sent.submitted[data["workflow_id"]] = t_wall

    await asyncio.gather(*(one(i) for i in range(n)))
    return sent


async def paved_burst(
    http: aiohttp.ClientSession, frontend: str, client: Client, n: int, timeout: float
) -> dict[str, Any]:
    """Fire ``n`` POST /images at once; wait until every workflow closed."""
    t0 = time.perf_counter()
    sent = await submit(http, f"{frontend}/images", n)
    accepted_in = time.perf_counter() - t0
    q_all = f"WorkflowType='GenerateImage' AND WorkflowId STARTS_WITH 'img-{sent.run}'"
    # Polled once a second (visibility queries cost the server CPU too); the wall time is
    # taken from the workflows' close times, so the polling interval does not add to it.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = await client.count_workflows(q_all + " AND ExecutionStatus='Running'")
        if running.count == 0 and (await client.count_workflows(q_all)).count >= len(
            sent.submitted
        ):
            break
        await asyncio.sleep(1.0)
    done: list[float] = []
    last_close = sent.t_first
    async for w in client.list_workflows(q_all):
        if w.close_time is not None:
            last_close = max(last_close, w.close_time.timestamp())
        if w.status is not None and w.status.name == "COMPLETED" and w.close_time is not None:
            done.append(w.close_time.timestamp() - sent.submitted[w.id])
    wall = last_close - sent.t_first
    return {
        "requests": n,
        "completed": len(done),
        "refused": sent.refused,
        "failed_or_unfinished": len(sent.submitted) - len(done),
        "wall_s": wall,
        "images_per_s": len(done) / wall if wall else None,
        "accept_p50_s": pct(sent.accept_s, 50),
        "accept_p99_s": pct(sent.accept_s, 99),
        "all_accepted_in_s": accepted_in,
        "completion_p50_s": pct(done, 50),
        "completion_p99_s": pct(done, 99),
        "_ids": list(sent.submitted),
    }


async def sync_burst(http: aiohttp.ClientSession, frontend: str, n: int) -> dict[str, Any]:
    url = f"{frontend}/images/sync"
    codes: dict[str, int] = {}
    lat: list[float] = []

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        try:
            async with http.post(url, json=body(i)) as r:
                await r.read()
                code = str(r.status)
        except (TimeoutError, aiohttp.ClientError):
            code = "conn-error"
        codes[code] = codes.get(code, 0) + 1
        if code == "200":
            lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    return {
        "requests": n,
        "completed": len(lat),
        "refused": n - len(lat),
        "wall_s": wall,
        "images_per_s": len(lat) / wall,
        "answers": dict(sorted(codes.items())),
        "completion_p50_s": pct(lat, 50),
        "completion_p99_s": pct(lat, 99),
    }


# --- the run ----------------------------------------------------------------------------


@dataclass
class Bench:
    a: argparse.Namespace
    tmp: Path
    address: str
    server_pid: int
    gpu_url: str
    gpu_pid: int
    http: aiohttp.ClientSession
    client: Client
    key: str = ""
    key_hash: str = ""

    @property
    def mean_render_s(self) -> float:
        return (self.a.min_delay_ms + self.a.max_delay_ms) / 2000

    async def side(self, name: str, rnd: int) -> dict[str, Any]:
        d = self.tmp / f"{name}-{rnd}"
        pids = {"temporal server": self.server_pid, "gpu service": self.gpu_pid}
        stack = contextlib.ExitStack()
        runner: Callable[[], Awaitable[dict[str, Any]]]
        gpu_metrics: str | None = None  # the Paved GPU worker's /metrics
        with stack:
            if name in PAVED_SIDES or name == "sync":
                proxy_addr = None
                if name.startswith("proxy"):
                    proxy_addr, pp = start_proxy(d / "proxy", self.address, self.key_hash)
                    stack.callback(_stop, pp)
                    pids["proxy"] = pp.pid
                extra: dict[str, Any] = {}
                if name.endswith(("-nogate", "-before")):
                    extra["project"] = variant_project(
                        d, self.a.capacity, before=name.endswith("-before")
                    )
                # -before: the front end starts each workflow before answering (no intake)
                extra["intake"] = not name.endswith("-before")
                extra["fixed_prefetch"] = name.endswith("-fixed")
                procs = Processes(
                    **extra,
                    address=self.address,
                    log_dir=d,
                    gpu_url=self.gpu_url,
                    proxy=proxy_addr,
                    api_key=self.key,
                )
                stack.callback(procs.stop)
                procs.start()
                pids.update({k: p.pid for k, p in procs.procs.items()})
                frontend = f"http://127.0.0.1:{procs.frontend_port}"
                gpu_metrics = f"http://127.0.0.1:{procs.gpu_http_port}/metrics"
                if name == "sync":

                    async def runner() -> dict[str, Any]:
                        return await sync_burst(self.http, frontend, self.a.requests)
                else:
                    # warm-up outside the measurement: imports, connections, caches
                    await paved_burst(self.http, frontend, self.client, 5, 120)

                    async def runner() -> dict[str, Any]:
                        return await paved_burst(
                            self.http, frontend, self.client, self.a.requests, self.a.timeout
                        )
            else:
                import bench_dbos

                backend = name.removeprefix("dbos-")
                dbos = stack.enter_context(
                    bench_dbos.DbosApp(backend, d, self.gpu_url, self.a.capacity)
                )
                pids.update(dbos.pids())
                await dbos.burst(self.http, 5, 120)

                async def runner() -> dict[str, Any]:
                    return await dbos.burst(self.http, self.a.requests, self.a.timeout)

            pids["load generator"] = os.getpid()
            load = [round(x, 2) for x in os.getloadavg()]
            since = (await fetch_json(self.http, f"{self.gpu_url}/timeline?since=1000000000"))[
                "next"
            ]
            meter = CpuMeter(pids)
            meter.start()
            sampler = (
                asyncio.create_task(sample_gpu_worker(self.http, gpu_metrics))
                if gpu_metrics and name != "sync"
                else None
            )
            r = await runner()
            cpu = meter.stop()
            if sampler is not None:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
                r["gpu_worker_by_5s"] = by_5s(SAMPLES_OF.pop(gpu_metrics, []))
            timeline = await fetch_json(self.http, f"{self.gpu_url}/timeline?since={since}")
        r["load_at_start"] = load
        r["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
        n = max(1, r["completed"])
        r["cpu_ms_per_request"] = {k: round(v * 1000 / n, 2) for k, v in cpu.items()}
        r["cpu_s_total"] = {k: round(v, 2) for k, v in cpu.items()}
        r["gpu"] = gpu_analysis(timeline, self.a.requests, self.mean_render_s, self.a.failure_rate)
        if r["gpu"].get("physical_min_s"):
            r["wall_over_physical_min"] = r["wall_s"] / r["gpu"]["physical_min_s"]
        ids = r.pop("_ids", None)
        if ids and name in PAVED_SIDES:
            r.update(await history_analysis(self.client, ids))
        return r


def _stop(p: Any) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(15)
        except Exception:
            p.kill()


async def main_async(a: argparse.Namespace) -> dict[str, Any]:
    sides = a.sides.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="paved-bench-burst-"))
    rounds: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(start_server(tmp / "temporal"))
        assert server.server.proc is not None
        gpu_port = free_port()
        gpu_procs = ProjectProcesses(project=PROJECT, address=server.address, log_dir=tmp)
        stack.callback(gpu_procs.stop)
        gpu = gpu_procs.spawn(
            "gpu",
            [
                *(sys.executable, "-m", "imagegen.gpu", "--port", str(gpu_port)),
                *("--capacity", str(a.capacity), "--failure-rate", str(a.failure_rate)),
                *("--min-delay-ms", str(a.min_delay_ms), "--max-delay-ms", str(a.max_delay_ms)),
            ],
        )
        wait_for_port(gpu_port, timeout=30, proc=gpu)
        client = await Client.connect(server.address, namespace=PHYSICAL)
        await ensure_namespaces(client, [PHYSICAL])
        key, entry = new_api_key("bench")
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            connector=conn, timeout=aiohttp.ClientTimeout(total=600)
        ) as http:
            b = Bench(
                a,
                tmp,
                server.address,
                server.server.proc.pid,
                f"http://127.0.0.1:{gpu_port}",
                gpu.pid,
                http,
                client,
                key,
                entry["hash"],
            )
            for rnd in range(a.rounds):
                order = sides[rnd % len(sides) :] + sides[: rnd % len(sides)]
                for s in order:
                    print(f"round {rnd + 1}: {s} ({a.requests} requests) ...", flush=True)
                    r = await b.side(s, rnd)
                    r.update(side=s, round=rnd + 1)
                    rounds.append(r)
                    print("  " + one_line(r), flush=True)
    return {
        "benchmark": "burst",
        "when": datetime.now().isoformat(timespec="seconds"),
        "config": {
            "requests": a.requests,
            "gpu_capacity": a.capacity,
            "gpu_delay_ms": [a.min_delay_ms, a.max_delay_ms],
            "gpu_failure_rate": a.failure_rate,
            "cpus": os.cpu_count(),
            "sides": sides,
            "rounds": a.rounds,
        },
        "rounds": rounds,
        "logs": str(tmp),
    }


def fmt(v: Any, unit: str = "", digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def one_line(r: dict[str, Any]) -> str:
    g = r.get("gpu", {})
    return (
        f"done {r['completed']}/{r['requests']} wall {fmt(r['wall_s'], ' s', 1)} "
        f"(x{fmt(r.get('wall_over_physical_min'))} of min {fmt(g.get('physical_min_s'), ' s', 1)}), "
        f"{fmt(r['images_per_s'], '/s', 1)}, GPU busy {fmt(100 * g['busy_fraction'] if 'busy_fraction' in g else None, '%', 0)}, "
        f"202 p50/p99 {fmt(r.get('accept_p50_s'))}/{fmt(r.get('accept_p99_s'), ' s')}, "
        f"load {r['load_at_start'][0]}"
    )


def report(res: dict[str, Any]) -> None:
    cfg = res["config"]
    print(
        f"\nburst of {cfg['requests']} requests, GPU capacity {cfg['gpu_capacity']}, "
        f"render {cfg['gpu_delay_ms'][0]:.0f}-{cfg['gpu_delay_ms'][1]:.0f} ms, "
        f"{cfg['gpu_failure_rate']:.0%} injected faults, {cfg['cpus']} CPUs"
    )
    head = (
        f"{'round':>5} {'side':14} {'done':>5} {'load':>5} {'wall s':>7} {'x min':>6} {'img/s':>6} "
        f"{'busy':>5} {'202 p50':>7} {'202 p99':>7} {'ev/req':>6} {'wft/req':>7} "
        f"{'s2s p50':>7} {'s2s p99':>7}"
    )
    print(head)
    first: dict[int, dict[str, Any]] = {}
    for r in res["rounds"]:
        g = r.get("gpu", {})
        first.setdefault(r["round"], r)
        print(
            f"{r['round']:>5} {r['side']:14} {r['completed']:>5} {r['load_at_start'][0]:>5.1f} {fmt(r['wall_s'], '', 1):>7} "
            f"{fmt(r.get('wall_over_physical_min')):>6} {fmt(r['images_per_s'], '', 1):>6} "
            f"{fmt(100 * g['busy_fraction'] if 'busy_fraction' in g else None, '%', 0):>5} "
            f"{fmt(r.get('accept_p50_s')):>7} {fmt(r.get('accept_p99_s')):>7} "
            f"{fmt(r.get('events_per_request'), '', 1):>6} {fmt(r.get('workflow_tasks_per_request'), '', 1):>7} "
            f"{fmt(r.get('render_schedule_to_start_p50_s')):>7} {fmt(r.get('render_schedule_to_start_p99_s')):>7}"
        )
    print("\nworkflow phases p50/p99 s: start -> render scheduled | render done -> closed:")
    for r in res["rounds"]:
        if "start_to_render_scheduled_p50_s" in r:
            print(
                f"  round {r['round']} {r['side']}: "
                f"{fmt(r['start_to_render_scheduled_p50_s'])}/{fmt(r['start_to_render_scheduled_p99_s'])} | "
                f"{fmt(r['render_done_to_closed_p50_s'])}/{fmt(r['render_done_to_closed_p99_s'])}"
            )
    print("\nCPU ms per completed request, by process:")
    for r in res["rounds"]:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_ms_per_request"].items())
        print(f"  round {r['round']} {r['side']}: {parts}")
    print("\nratios to the first side of the same round (wall):")
    for r in res["rounds"]:
        base = first[r["round"]]
        if r is not base:
            print(
                f"  round {r['round']}: {r['side']} / {base['side']} wall = "
                f"{r['wall_s'] / base['wall_s']:.2f}x"
            )
    for r in res["rounds"]:
        if r["side"] != "sync" and (r["completed"] != r["requests"] or r["refused"]):
            print(f"  round {r['round']} {r['side']}: NOT all requests completed")


def plot(res: dict[str, Any], path: Path) -> Path | None:
    """GPU in-flight over time, one panel per side-round (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rs = [r for r in res["rounds"] if r.get("gpu", {}).get("samples")]
    if not rs:
        return None
    fig, axes = plt.subplots(len(rs), 1, figsize=(10, 1.9 * len(rs)), squeeze=False)
    cap = res["config"]["gpu_capacity"]
    for ax, r in zip(axes[:, 0], rs, strict=True):
        xs = [s[0] for s in r["gpu"]["samples"]]
        ys = [s[1] for s in r["gpu"]["samples"]]
        ax.fill_between(xs, ys, step="post", alpha=0.6)
        ax.axhline(cap, color="red", linewidth=0.8)
        ax.set_ylim(0, cap + 1)
        ax.set_ylabel("in flight")
        ax.set_title(
            f"round {r['round']} {r['side']}: busy {100 * r['gpu']['busy_fraction']:.0f}%, "
            f"wall {r['wall_s']:.1f} s (x{r.get('wall_over_physical_min', 0):.2f} of minimum), "
            f"load {r['load_at_start'][0]}",
            fontsize=9,
        )
    axes[-1, 0].set_xlabel("seconds since the first render")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument(
        "--sides",
        default="proxy",
        help="comma list of proxy, direct, sync, dbos-sqlite, dbos-pg; X-nogate: the GPU "
        "worker with 8 slots and no declared capacity; X-before: also no local activities "
        "and no front-end intake (the example before issue 10); X-fixed: the GPU worker's "
        "prefetch fixed at what paved gen wrote (PAVED_CAPACITY_PREFETCH=fixed), not adaptive",
    )
    ap.add_argument("--direct", action="store_true", help="add the direct side (no proxy)")
    ap.add_argument("--capacity", type=int, default=8)
    ap.add_argument("--failure-rate", type=float, default=0.05)
    ap.add_argument("--min-delay-ms", type=float, default=30)
    ap.add_argument("--max-delay-ms", type=float, default=90)
    ap.add_argument(
        "--timeout", type=float, default=900, help="seconds to wait for one burst to drain"
    )
    a = ap.parse_args()
    if a.direct and "direct" not in a.sides.split(","):
        a.sides += ",direct"
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    res = asyncio.run(main_async(a))
    report(res)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    png = plot(res, RESULTS / f"burst-{stamp}.png")
    for r in res["rounds"]:
        r.get("gpu", {}).pop("samples", None)
    path = RESULTS / f"burst-{stamp}.json"
    path.write_text(json.dumps(res, indent=2))
    print(f"wrote {path.relative_to(REPO)}" + (f" and {png.relative_to(REPO)}" if png else ""))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
