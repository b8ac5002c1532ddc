"""Reading a worker's signals: the Temporal server first, then the workers and the proxy.

:meth:`Collector.collect` fills one :class:`~paved.autoscale.Signals` for one
worker (a :class:`Target`):

- per task queue and task type, ``DescribeTaskQueue`` with ``report_stats``:
  backlog count and age, add and dispatch rates, ``rate_limiting_active``;
- slots used/available from Temporal's worker heartbeats (``ListWorkers``; the
  dev server needs ``frontend.WorkerHeartbeatsEnabled`` and
  ``frontend.ListWorkersEnabled``, which ``paved dev`` sets), a heartbeat older
  than ``heartbeat_stale_seconds`` does not count; without a fresh heartbeat the
  replicas' own ``/metrics`` (``temporal_worker_task_slots_*``) stand in, and the
  source says so;
- from each replica's ``/metrics``: CPU (``paved_worker_cpu_seconds_total`` as
  a rate), mean activity time (``temporal_activity_execution_latency`` sum/count
  over the interval) and refusals (``paved_activity_refusals_total`` as a rate);
- from the proxy's ``/metrics``: calls of the namespace refused by its limiter
  (``paved_proxy_rate_limited_total``) and its request rate against the limit.

Rates need two samples: the collector keeps the previous reading of every
counter (its only state). A signal it cannot read is ``None`` and named in
``missing`` with the reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from temporalio.api.enums.v1 import TaskQueueType, WorkerStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, ListWorkersRequest
from temporalio.client import Client

from paved import specs
from paved.autoscale._model import QueueKind, QueueSignals, Signals

# Dynamic config the dev server needs for the heartbeat signal (paved dev sets it).
SIGNALS_DYNAMIC_CONFIG = {
    "frontend.WorkerHeartbeatsEnabled": "true",
    "frontend.ListWorkersEnabled": "true",
}
_TYPES: dict[QueueKind, int] = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}
_WORKER_TYPE: dict[QueueKind, str] = {"workflow": "WorkflowWorker", "activity": "ActivityWorker"}


@dataclass(frozen=True)
class Target:
    """One worker to read, and where its signals are.

    Attributes:
        worker: the worker's spec (queues and slot limits).
        namespace: the namespace as ``client`` sends it (physical when talking to
            Temporal directly, logical through the Paved proxy).
        metrics_urls: the ``/metrics`` of each running replica.
        proxy_metrics_url: the proxy's ``/metrics`` (None: no proxy, no limiter signal).
        physical_namespace: the namespace's physical name (the proxy's metric label).
        rate_limit: the namespace's limits (for the usage fraction).
    """

    worker: specs.WorkerSpec
    namespace: str
    metrics_urls: tuple[str, ...] = ()
    proxy_metrics_url: str | None = None
    physical_namespace: str | None = None
    rate_limit: specs.RateLimit | None = None


def queue_kinds(worker: specs.WorkerSpec) -> list[tuple[str, QueueKind]]:
    """(task queue, task type) pairs the worker serves."""
    out: list[tuple[str, QueueKind]] = []
    for q in worker.queues:
        if q.kind in ("workflow", "shared"):
            out.append((q.name, "workflow"))
        if q.kind in ("activity", "shared"):
            out.append((q.name, "activity"))
    return out


def slots_per_replica(worker: specs.WorkerSpec, kind: QueueKind) -> int:
    t = worker.tuning
    return t.max_concurrent_activities if kind == "activity" else t.max_concurrent_workflow_tasks


@dataclass
class _Scrape:
    url: str
    ok: bool
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)
    error: str = ""


class Collector:
    """Reads signals for workers; keeps the previous counter readings for rates.

    Args:
        client: a temporalio Client (to Temporal or through the Paved proxy).
        heartbeat_stale_seconds: a worker heartbeat older than this is ignored.
        timeout: seconds for each HTTP scrape and RPC.
        clock: wall clock (seconds); tests pass their own.
    """

    def __init__(
        self,
        client: Client,
        *,
        heartbeat_stale_seconds: float = 15.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.heartbeat_stale_seconds = heartbeat_stale_seconds
        self.timeout = timeout
        self.clock = clock
        self._prev: dict[tuple[str, ...], tuple[float, float]] = {}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def collect(self, target: Target) -> Signals:
        """The worker's signals now (one DescribeTaskQueue per queue and type, one
        ListWorkers, one scrape per replica and of the proxy, concurrently)."""
        now = self.clock()
        pairs = queue_kinds(target.worker)
        missing: list[str] = []
        sources: list[str] = []
        described, heartbeats, scrapes, proxy = await asyncio.gather(
            asyncio.gather(*(self._describe(target.namespace, q, k) for q, k in pairs)),
            self._heartbeats(target.namespace),
            asyncio.gather(*(self._scrape(u) for u in target.metrics_urls)),
            self._scrape(target.proxy_metrics_url) if target.proxy_metrics_url else _none(),
        )
        live = [s for s in scrapes if s.ok]
        for s in scrapes:
            if not s.ok:
                missing.append(f"metrics of replica {s.url}: {s.error}")
        if not target.metrics_urls:
            missing.append("replica metrics: no running replica to scrape")
        hb_ok, hb_rows, hb_note = heartbeats
        if not hb_ok:
            missing.append(f"worker heartbeats: {hb_note}")
        sources.append("backlog, rates: server (DescribeTaskQueue stats)")

        queues: list[QueueSignals] = []
        for (queue, kind), (stats, err) in zip(pairs, described, strict=True):
            if err:
                missing.append(f"backlog of {queue} ({kind}): {err}")
            used, avail, src = self._slots(queue, kind, hb_rows, live, now)
            if used is None:
                missing.append(f"slots of {queue} ({kind}): {src}")
            elif src not in sources:
                sources.append(src)
            queues.append(
                QueueSignals(
                    task_queue=queue,
                    kind=kind,
                    slots_per_replica=slots_per_replica(target.worker, kind),
                    backlog=stats.get("backlog"),
                    backlog_age_seconds=stats.get("age"),
                    add_rate=stats.get("add"),
                    dispatch_rate=stats.get("dispatch"),
                    slots_used=used,
                    slots_available=avail,
                    mean_task_seconds=self._mean_task(queue, kind, live, used, stats.get("dispatch"), now),
                    rate_limiting_active=stats.get("limited"),
                )
            )  # fmt: skip

        cpu = self._cpu(live, now)
        refusals = self._counter_rate(
            ("refusals", target.worker.name), live, "paved_activity_refusals", {}, now
        )
        limited, usage = None, None
        if proxy is not None:
            if proxy.ok:
                limited, usage = self._namespace(target, proxy, now)
                sources.append("namespace limit: proxy limiter metrics")
            else:
                missing.append(f"proxy metrics {proxy.url}: {proxy.error}")
        return Signals(
            worker=target.worker.name,
            at=now,
            queues=tuple(queues),
            replicas_reporting=len(live),
            cpu=cpu,
            namespace_limited=limited,
            namespace_usage=usage,
            dependency_refusals=refusals,
            sources=tuple(sources),
            missing=tuple(missing),
        )

    # ----- the server ----------------------------------------------------------------

    async def _describe(
        self, namespace: str, queue: str, kind: QueueKind
    ) -> tuple[dict[str, Any], str]:
        req = DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=_TYPES[kind],  # type: ignore[arg-type]
            report_stats=True,
        )
        try:
            r = await self.client.workflow_service.describe_task_queue(
                req, timeout=_td(self.timeout)
            )
        except Exception as e:  # an RPCError, a timeout, a closed channel: named, not raised
            return {}, f"DescribeTaskQueue failed ({_short(e)})"
        st = r.stats
        if not r.HasField("stats"):
            return {}, "DescribeTaskQueue returned no stats (server too old?)"
        return {
            "backlog": int(st.approximate_backlog_count),
            "age": st.approximate_backlog_age.ToTimedelta().total_seconds(),
            "add": float(st.tasks_add_rate),
            "dispatch": float(st.tasks_dispatch_rate),
            "limited": bool(st.rate_limiting_active),
        }, ""

    async def _heartbeats(self, namespace: str) -> tuple[bool, list[Any], str]:
        rows: list[Any] = []
        token = b""
        try:
            for _ in range(20):
                r = await self.client.workflow_service.list_workers(
                    ListWorkersRequest(namespace=namespace, page_size=200, next_page_token=token),
                    timeout=_td(self.timeout),
                )
                rows += [w.worker_heartbeat for w in r.workers_info]
                token = r.next_page_token
                if not token:
                    break
        except Exception as e:
            return (
                False,
                [],
                f"ListWorkers failed ({_short(e)}; is frontend.ListWorkersEnabled set?)",
            )
        return True, rows, ""

    def _slots(
        self, queue: str, kind: QueueKind, hb: Sequence[Any], live: Sequence[_Scrape], now: float
    ) -> tuple[int | None, int | None, str]:
        fresh: list[Any] = []
        stale = 0
        for h in hb:
            if h.task_queue != queue or h.status == WorkerStatus.WORKER_STATUS_SHUTDOWN:
                continue
            beat = h.heartbeat_time.seconds + h.heartbeat_time.nanos / 1e9
            if now - beat <= self.heartbeat_stale_seconds:
                fresh.append(h)
            else:
                stale += 1
        if fresh:
            info = [
                h.activity_task_slots_info if kind == "activity" else h.workflow_task_slots_info
                for h in fresh
            ]
            # A custom slot supplier (the adaptive slots of a worker with a declared
            # capacity, paved.worker._prefetch) reports no free slots: unknown, not zero.
            custom = any(i.slot_supplier_kind == "Custom" for i in info)
            return (sum(i.current_used_slots for i in info),
                    None if custom else sum(i.current_available_slots for i in info),
                    "slots: server (worker heartbeats, ListWorkers)")  # fmt: skip
        used = _sum(live, "temporal_worker_task_slots_used", queue, _WORKER_TYPE[kind])
        avail = _sum(live, "temporal_worker_task_slots_available", queue, _WORKER_TYPE[kind])
        why = f"{stale} stale heartbeat(s)" if stale else "no heartbeat"
        if used is not None:
            free = None if avail is None else int(avail)  # a custom supplier reports none
            return int(used), free, f"slots: replicas' /metrics ({why} for the queue)"
        return None, None, f"{why} for the queue and no /metrics sample"

    # ----- the replicas and the proxy ------------------------------------------------------

    async def _scrape(self, url: str) -> _Scrape:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.get(url) as r:
                if r.status != 200:
                    return _Scrape(url, False, error=f"HTTP {r.status}")
                text = await r.text()
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            return _Scrape(url, False, error=_short(e))
        samples = [
            (s.name, dict(s.labels), float(s.value))
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
        ]
        return _Scrape(url, True, samples)

    def _rate(self, key: tuple[str, ...], value: float, now: float) -> float | None:
        """Per-second increase since the previous reading of ``key`` (None: first, or reset)."""
        prev = self._prev.get(key)
        self._prev[key] = (now, value)
        if prev is None or value < prev[1] or now <= prev[0]:
            return None
        return (value - prev[1]) / (now - prev[0])

    def _counter_rate(
        self, key: tuple[str, ...], live: Sequence[_Scrape], name: str, labels: dict[str, str],
        now: float,
    ) -> float | None:  # fmt: skip
        """Sum over replicas of each replica's rate of counter ``name`` (None: no rate yet)."""
        rates = []
        for s in live:
            total = sum(v for n, lab, v in s.samples if n in (name, name + "_total")
                        and all(lab.get(k) == w for k, w in labels.items()))  # fmt: skip
            r = self._rate((*key, s.url), total, now)
            if r is not None:
                rates.append(r)
        return sum(rates) if rates else (0.0 if live and not any(
            n.startswith(name) for s in live for n, _, _ in s.samples) else None)  # fmt: skip

    def _cpu(self, live: Sequence[_Scrape], now: float) -> float | None:
        rates = []
        for s in live:
            v = [val for n, _, val in s.samples if n == "paved_worker_cpu_seconds_total"]
            if v:
                r = self._rate(("cpu", s.url), v[0], now)
                if r is not None:
                    rates.append(r)
        return sum(rates) / len(rates) if rates else None

    def _mean_task(
        self, queue: str, kind: QueueKind, live: Sequence[_Scrape], used: int | None,
        dispatch: float | None, now: float,
    ) -> float | None:  # fmt: skip
        if kind == "activity":
            tot_s = tot_n = 0.0
            for s in live:
                total = sum(v for n, lab, v in s.samples
                            if n == "temporal_activity_execution_latency_sum" and lab.get("task_queue") == queue)  # fmt: skip
                count = sum(v for n, lab, v in s.samples
                            if n == "temporal_activity_execution_latency_count" and lab.get("task_queue") == queue)  # fmt: skip
                ds = self._rate(("lat_s", queue, s.url), total, now)
                dn = self._rate(("lat_n", queue, s.url), count, now)
                if ds is not None and dn is not None:
                    tot_s, tot_n = tot_s + ds, tot_n + dn
            if tot_n > 0:
                return tot_s / tot_n
        if used and dispatch:  # Little's law the other way round: W = L / lambda
            return used / dispatch
        return None

    def _namespace(self, target: Target, proxy: _Scrape, now: float) -> tuple[bool, float | None]:
        ns = target.physical_namespace or target.namespace
        refused = sum(v for n, lab, v in proxy.samples
                      if n == "paved_proxy_rate_limited_total" and lab.get("namespace") == ns)  # fmt: skip
        r = self._rate(("proxy-limited", ns), refused, now)
        requests = sum(v for n, lab, v in proxy.samples
                       if n == "paved_proxy_requests_total" and lab.get("namespace") == ns)  # fmt: skip
        rr = self._rate(("proxy-requests", ns), requests, now)
        usage = None
        if rr is not None and target.rate_limit is not None:
            usage = rr / target.rate_limit.requests_per_second
        return bool(r), usage


def _sum(live: Sequence[_Scrape], name: str, queue: str, worker_type: str) -> float | None:
    vals = [v for s in live for n, lab, v in s.samples
            if n == name and lab.get("task_queue") == queue and lab.get("worker_type") == worker_type]  # fmt: skip
    return sum(vals) if vals else None


async def _none() -> None:
    return None


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:160]


def _td(seconds: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=seconds)
