"""The Temporal Cloud metrics scraper against a fixture server serving the documented format.

No Temporal Cloud is reachable here: the fixture serves ``/v1/metrics`` as the
OpenMetrics API reference describes it (bearer API key, gauges with timestamps,
``temporal_namespace`` = ``<namespace>.<account>``, ``X-Completeness``, 429 with
``Retry-After``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from paved import observe, specs
from paved.dev import free_port

HERE = Path(__file__).resolve().parent
KEY = "tcm-test-key"
TS = 1795850000  # seconds, as OpenMetrics says

DOCUMENTED = f"""\
# TYPE temporal_cloud_v1_workflow_success_count gauge
# HELP temporal_cloud_v1_workflow_success_count The number of successful workflows per second
temporal_cloud_v1_workflow_success_count{{temporal_namespace="obs-dev-local.acct42",temporal_workflow_type="Sleepy",region="aws-us-west-2"}} 42.0 {TS}
temporal_cloud_v1_workflow_success_count{{temporal_namespace="obs-dev-local.acct42",temporal_workflow_type="Greet",region="aws-us-west-2"}} 128.0 {TS}
# TYPE temporal_cloud_v1_approximate_backlog_count gauge
# HELP temporal_cloud_v1_approximate_backlog_count Approximate number of tasks in a task queue
temporal_cloud_v1_approximate_backlog_count{{temporal_namespace="obs-dev-local.acct42",temporal_task_queue="obs-worker-workflows",task_type="workflow",region="aws-us-west-2"}} 15.0 {TS}
# TYPE temporal_cloud_v1_total_action_count gauge
# HELP temporal_cloud_v1_total_action_count Actions per second
temporal_cloud_v1_total_action_count{{temporal_namespace="someone-else.acct42",region="aws-us-west-2"}} 7.5 {TS}
# EOF
"""


class Fixture:
    def __init__(self) -> None:
        self.requests: list[aiohttp.web.Request] = []
        self.rate_limit_next = False
        self.url = ""


@pytest.fixture
async def cloud() -> AsyncIterator[Fixture]:
    fx = Fixture()

    async def metrics(request: web.Request) -> web.Response:
        fx.requests.append(request)
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return web.Response(status=401, text="unauthenticated")
        if fx.rate_limit_next:
            fx.rate_limit_next = False
            return web.Response(status=429, headers={"Retry-After": "7"})
        return web.Response(
            text=DOCUMENTED,
            headers={"Content-Type": "application/openmetrics-text", "X-Completeness": "complete"},
        )

    app = web.Application()
    app.router.add_get("/v1/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fx.url = f"http://127.0.0.1:{port}"
    try:
        yield fx
    finally:
        await runner.cleanup()


def owners() -> observe.Owners:
    return observe.Owners.from_specs(specs.Project.load(HERE / "obsproj").specs())


async def test_scraper_adds_owners_and_reserves_for_prometheus(cloud: Fixture) -> None:
    scraper = observe.CloudScraper(
        api_key=KEY, owners=owners(), endpoint=cloud.url, namespaces=["obs-*"], interval=30
    )
    stop = asyncio.Event()
    port = free_port()
    task = asyncio.create_task(scraper.run(port, stop))
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(50):
                if scraper.polls:
                    break
                await asyncio.sleep(0.05)
            async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                text = await r.text()
    finally:
        stop.set()
        await task
    req = cloud.requests[0]
    assert req.query.getall("namespaces") == ["obs-*"]
    samples = {
        (
            s.name,
            s.labels.get("temporal_workflow_type")
            or s.labels.get("temporal_task_queue")
            or s.labels.get("temporal_namespace", ""),
        ): s
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    sleepy = samples[("temporal_cloud_v1_workflow_success_count", "Sleepy")]
    assert sleepy.value == 42.0
    assert sleepy.labels["paved_namespace"] == "obs"
    assert sleepy.labels["owner"] == "team-slow"  # the type's worker owner
    assert (
        samples[("temporal_cloud_v1_workflow_success_count", "Greet")].labels["owner"] == "team-obs"
    )
    backlog = samples[("temporal_cloud_v1_approximate_backlog_count", "obs-worker-workflows")]
    assert backlog.labels["owner"] == "team-obs"
    assert backlog.timestamp == TS  # the original minute, for honor_timestamps
    other = samples[("temporal_cloud_v1_total_action_count", "someone-else.acct42")]
    assert "owner" not in other.labels  # not ours: passed through without an owner
    assert samples[("paved_cloud_scrape_success", "")].value == 1
    assert "paved_cloud_scrape_complete 1" in text


async def test_wrong_key_and_rate_limit_are_reported(cloud: Fixture) -> None:
    async with aiohttp.ClientSession() as s:
        bad = observe.CloudScraper(api_key="wrong", owners=owners(), endpoint=cloud.url)
        assert await bad.poll_once(s) == 30.0
        assert (
            bad.last_error is not None
            and "HTTP 401" in bad.last_error
            and "Metrics Read-Only" in bad.last_error
        )
        assert "paved_cloud_scrape_success 0" in bad.exposition()

        good = observe.CloudScraper(api_key=KEY, owners=owners(), endpoint=cloud.url)
        cloud.rate_limit_next = True
        assert await good.poll_once(s) == 7.0  # Retry-After honoured
        assert good.last_error is not None and "429" in good.last_error
        await good.poll_once(s)
        assert good.last_error is None and good.samples == 4


def test_millisecond_timestamps_as_in_the_docs_example_are_kept() -> None:
    text = DOCUMENTED.replace(f" {TS}\n", f" {TS * 1000}\n")
    out, n = observe.relabel(text, owners())
    assert n == 4
    assert f" {TS * 1000}\n" in out
