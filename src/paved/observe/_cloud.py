"""Temporal Cloud metrics into the team's Prometheus, with owners: ``paved observe cloud-scrape``.

The seed's platform ran "a service continuously polling" Temporal Cloud's metrics
endpoint and pushing what it scraped, actions and requests per second, into its
own observability system. This is that service:

- polls ``GET {endpoint}/v1/metrics`` (Temporal Cloud's OpenMetrics endpoint,
  ``https://metrics.temporal.io``) with ``Authorization: Bearer <metrics API key>``
  every ``interval`` seconds (the account may make 180 requests an hour: 30 s is
  the documented interval), optionally filtered with ``namespaces=``;
- honours ``429`` + ``Retry-After``, and records ``X-Completeness``;
- parses the OpenMetrics text (every metric is a gauge with a timestamp, the
  last complete minute) and adds ``paved_namespace`` and ``owner`` labels: the
  Cloud namespace ``<physical>.<account>`` is mapped back through the specs, and
  a series with ``temporal_workflow_type`` gets the owner of that type's worker;
- re-serves the result on ``/metrics`` in Prometheus text format with the
  original timestamps (scrape it with ``honor_timestamps: true``), plus its own
  ``paved_cloud_scrape_*`` health gauges.

No Temporal Cloud is reachable from this project's machines: it is tested
against a fixture server that serves the documented format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from paved import specs

log = logging.getLogger("paved.cloud_metrics")

DEFAULT_ENDPOINT = "https://metrics.temporal.io"
CLOUD_NS_LABEL = "temporal_namespace"
CLOUD_TYPE_LABEL = "temporal_workflow_type"


@dataclass(frozen=True)
class Owners:
    """Physical namespace -> (logical, owner), workflow type -> owner, from the specs."""

    namespaces: dict[str, tuple[str, str]]
    types: dict[tuple[str, str], str]

    @classmethod
    def from_specs(cls, loaded: specs.Specs) -> Owners:
        worker_owner = {w.name: w.owner for w in loaded.workers.workers}
        ns = {p.name: (n.name, n.owner) for n in loaded.namespaces.namespaces for p in n.physical}
        types = {
            (wf.namespace, wf.name): worker_owner.get(wf.worker, "")
            for wf in loaded.workflows.workflows
        }
        return cls(ns, types)

    def labels_for(self, labels: dict[str, str]) -> dict[str, str]:
        cloud_ns = labels.get(CLOUD_NS_LABEL, "")
        # Cloud names are "<namespace>.<account id>"; the specs know "<namespace>".
        hit = self.namespaces.get(cloud_ns) or self.namespaces.get(cloud_ns.split(".", 1)[0])
        if hit is None:
            return {}
        logical, owner = hit
        wtype = labels.get(CLOUD_TYPE_LABEL)
        if wtype and self.types.get((logical, wtype)):
            owner = self.types[(logical, wtype)]
        return {"paved_namespace": logical, "owner": owner}


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def relabel(openmetrics: str, owners: Owners) -> tuple[str, int]:
    """OpenMetrics text -> Prometheus text with owner labels; and the number of samples."""
    if "# EOF" not in openmetrics:
        openmetrics = openmetrics.rstrip("\n") + "\n# EOF\n"
    lines: list[str] = []
    n = 0
    for fam in text_string_to_metric_families(openmetrics):  # type: ignore[no-untyped-call]
        lines.append(f"# HELP {fam.name} {fam.documentation}")
        lines.append(f"# TYPE {fam.name} gauge")
        for s in fam.samples:
            labels = dict(s.labels)
            labels.update(owners.labels_for(labels))
            body = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            ts = ""
            if s.timestamp is not None:
                sec = float(s.timestamp)
                # The docs' example shows milliseconds; OpenMetrics says seconds. Accept both.
                ms = sec if sec > 1e11 else sec * 1000
                ts = f" {int(ms)}"
            value = "NaN" if math.isnan(s.value) else repr(float(s.value))
            lines.append(f"{s.name}{{{body}}} {value}{ts}")
            n += 1
    return "\n".join(lines) + "\n", n


@dataclass
class CloudScraper:
    """Polls the Cloud endpoint and keeps the last relabelled result."""

    api_key: str
    owners: Owners
    endpoint: str = DEFAULT_ENDPOINT
    namespaces: list[str] = field(default_factory=list)
    interval: float = 30.0
    text: str = ""
    samples: int = 0
    last_success: float = 0.0
    last_error: str | None = None
    completeness: str = ""
    polls: int = 0

    async def poll_once(self, session: aiohttp.ClientSession) -> float:
        """One scrape; returns seconds to wait before the next (Retry-After on 429)."""
        self.polls += 1
        params = [("namespaces", n) for n in self.namespaces]
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/openmetrics-text",
        }
        try:
            async with session.get(
                f"{self.endpoint.rstrip('/')}/v1/metrics", params=params, headers=headers
            ) as r:
                if r.status == 429:
                    wait = float(r.headers.get("Retry-After", self.interval))
                    self.last_error = f"429 rate limited; retrying in {wait:.0f}s"
                    return max(wait, 1.0)
                if r.status != 200:
                    self.last_error = f"HTTP {r.status} from {self.endpoint}"
                    if r.status in (401, 403):
                        self.last_error += (
                            " (check the metrics API key: a service account with Metrics Read-Only)"
                        )
                    return self.interval
                raw = await r.text()
                self.completeness = r.headers.get("X-Completeness", "")
        except (TimeoutError, aiohttp.ClientError) as e:
            self.last_error = f"{type(e).__name__}: {e}"
            return self.interval
        try:
            self.text, self.samples = relabel(raw, self.owners)
        except ValueError as e:
            self.last_error = f"unparseable OpenMetrics: {e}"
            return self.interval
        self.last_success, self.last_error = time.time(), None
        return self.interval

    def exposition(self) -> str:
        health = [
            "# HELP paved_cloud_scrape_success 1 if the last poll of Temporal Cloud succeeded.",
            "# TYPE paved_cloud_scrape_success gauge",
            f"paved_cloud_scrape_success {0 if self.last_error else 1}",
            "# HELP paved_cloud_scrape_last_success_timestamp_seconds When the last poll succeeded.",
            "# TYPE paved_cloud_scrape_last_success_timestamp_seconds gauge",
            f"paved_cloud_scrape_last_success_timestamp_seconds {self.last_success}",
            "# HELP paved_cloud_scrape_samples Samples in the last successful poll.",
            "# TYPE paved_cloud_scrape_samples gauge",
            f"paved_cloud_scrape_samples {self.samples}",
            "# HELP paved_cloud_scrape_complete 1 if Cloud said X-Completeness: complete.",
            "# TYPE paved_cloud_scrape_complete gauge",
            f"paved_cloud_scrape_complete {1 if self.completeness == 'complete' else 0}",
        ]
        return self.text + "\n".join(health) + "\n"

    async def run(self, port: int, stop: asyncio.Event, host: str = "127.0.0.1") -> None:
        """Poll until ``stop``, serving /metrics (and /healthz) on ``host:port``."""

        async def metrics(_: web.Request) -> web.Response:
            return web.Response(text=self.exposition(), content_type="text/plain")

        async def healthz(_: web.Request) -> web.Response:
            body: dict[str, Any] = {
                "ok": self.last_error is None,
                "error": self.last_error,
                "polls": self.polls,
            }
            return web.json_response(body)

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/healthz", healthz)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
                while not stop.is_set():
                    wait = await self.poll_once(session)
                    if self.last_error:
                        log.warning("temporal cloud metrics: %s", self.last_error)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), wait)
        finally:
            await runner.cleanup()
