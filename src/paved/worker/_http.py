"""The managed worker's HTTP endpoint: ``/healthz``, ``/readyz`` and ``/metrics``.

``/metrics`` serves the Core SDK's own Prometheus metrics (task latencies, poll
counts, slots used/available per worker type) re-exported from the SDK's
loopback exporter, plus Paved's derived gauges:

- ``paved_worker_slot_utilization{task_queue,worker_type}``: used / (used +
  available) slots, the autoscaling signal from the seed (a worker whose slots
  are full is starved, whatever its CPU says);
- ``paved_worker_up{task_queue}``: 1 while that queue's worker runs;
- ``paved_worker_cpu_seconds_total``: CPU time of the process (user + system,
  all threads): the autoscaler's CPU-saturation signal, as a rate;
- ``paved_activity_refusals_total{task_queue,activity_type}``: activity failures
  with a rate-limit marker (``_refusals.py``): the dependency refuses;
- ``paved_capacity_permits|running|waiting{store}`` and, for a shared store,
  ``paved_capacity_store_errors_total`` / ``paved_capacity_leases_lost_total``: the
  declared capacity's gate (``_capacity.py``);
- ``paved_capacity_{prefetch,slots_held,slots_used,rate_per_second,dispatch_latency_seconds}``
  for a worker with a declared capacity: its adaptive prefetch and what it follows
  (``_prefetch.py``).

Called by :func:`paved.worker._runtime.run`.
"""

from __future__ import annotations

import os
import time
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from temporalio.worker import Worker

SLOTS_USED = "temporal_worker_task_slots_used"
SLOTS_AVAILABLE = "temporal_worker_task_slots_available"


def derived_metrics(
    core_text: str, worker_name: str, available: dict[tuple[str, str], float] | None = None
) -> str:
    """Compute Paved's slot-utilisation gauges from the Core SDK's exposition text.

    ``available`` fills in free slots the Core SDK does not report: it has no count
    for a custom slot supplier (the adaptive slots of a worker with a declared
    capacity, ``_prefetch.py``), keyed by (task queue, worker type)."""
    used: dict[tuple[str, str], float] = {}
    avail: dict[tuple[str, str], float] = dict(available or {})
    for fam in text_string_to_metric_families(core_text):
        if fam.name not in (SLOTS_USED, SLOTS_AVAILABLE):
            continue
        for s in fam.samples:
            key = (s.labels.get("task_queue", ""), s.labels.get("worker_type", ""))
            if fam.name == SLOTS_USED:
                used[key] = s.value
            else:
                avail.setdefault(key, s.value)
    lines = [
        "# HELP paved_worker_slot_utilization Fraction of task slots in use (autoscaling signal).",
        "# TYPE paved_worker_slot_utilization gauge",
    ]
    for key in sorted(set(used) | set(avail)):
        u, a = used.get(key, 0.0), avail.get(key, 0.0)
        util = u / (u + a) if (u + a) > 0 else 0.0
        q, wt = key
        lines.append(
            f'paved_worker_slot_utilization{{worker="{worker_name}",task_queue="{q}",worker_type="{wt}"}} {util:.6f}'
        )
    return "\n".join(lines) + "\n"


async def serve(
    boot: Any, workers: list[Worker], port: int, metrics_port: int | None
) -> tuple[web.AppRunner, int]:
    """Start the HTTP endpoint on ``PAVED_HTTP_HOST:port``; return the runner and bound port.

    The host defaults to loopback; in a pod set ``PAVED_HTTP_HOST=0.0.0.0`` so that
    probes and Prometheus reach it on the pod IP (the scaffolded Deployment does).
    """
    name = boot.spec.name
    session = aiohttp.ClientSession()

    async def healthz(_: web.Request) -> web.Response:
        running = {w.task_queue: w.is_running for w in workers}
        ok = all(running.values())
        body = {"worker": name, "ok": ok, "queues": running}
        return web.json_response(body, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        core = ""
        if metrics_port is not None:
            try:
                async with session.get(f"http://127.0.0.1:{metrics_port}/metrics") as r:
                    core = await r.text()
            except aiohttp.ClientError:
                core = ""
        up = [
            "# HELP paved_worker_up 1 while the queue's worker runs.",
            "# TYPE paved_worker_up gauge",
        ]
        up += [
            f'paved_worker_up{{worker="{name}",task_queue="{w.task_queue}"}} {int(w.is_running)}'
            for w in workers
        ]
        capacity_slots = getattr(boot, "capacity_slots", {})
        free = {
            (q, "ActivityWorker"): float(max(0, slots.limit - slots.stats()["slots_used"]))
            for q, slots in capacity_slots.items()
        }
        text = (
            core
            + ("\n" if core and not core.endswith("\n") else "")
            + derived_metrics(core, name, free)
        )
        text += "\n".join(up) + "\n"
        text += (
            "# HELP paved_worker_build_info The build (git sha or PAVED_BUILD_ID) this worker runs.\n"
            "# TYPE paved_worker_build_info gauge\n"
            f'paved_worker_build_info{{worker="{name}",build_id="{getattr(boot, "build_id", "")}"}} 1\n'
        )
        text += (
            "# HELP paved_worker_cpu_seconds_total CPU time of the worker process (user + system).\n"
            "# TYPE paved_worker_cpu_seconds_total counter\n"
            f'paved_worker_cpu_seconds_total{{worker="{name}"}} {time.process_time():.6f}\n'
        )
        refusals = getattr(boot, "refusals", None)
        if refusals is not None:
            text += refusals.exposition(name)
        gate = getattr(boot, "gate", None)
        if gate is not None:
            text += gate.exposition(name)
        for queue, slots in capacity_slots.items():
            text += slots.exposition(name, queue)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def close_session(_: web.Application) -> None:
        await session.close()

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", healthz)
    app.router.add_get("/metrics", metrics)
    app.on_cleanup.append(close_session)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, os.environ.get("PAVED_HTTP_HOST", "127.0.0.1"), port)
    await site.start()
    bound = port
    for addr in runner.addresses:  # (host, port, ...) of each listening socket
        bound = int(addr[1])
    return runner, bound
