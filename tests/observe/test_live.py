"""One real ``paved dev`` run with Prometheus, Alertmanager, the detector and the page, shared by the module.

The fixture starts ``paved dev`` on the test project (``obsproj``), then drives it
through the proxy like a product team would: healthy workflows, a business
failure, a burst above the namespace's rate limit, and the planted stuck cases
(a workflow task that keeps failing, an activity failing forever, a typo'd task
queue nobody polls, a run far longer than its type's usual). Grafana cannot run
here: its dashboards' queries are run on this Prometheus instead.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from paved import observe
from paved.dev import free_port
from tests.observe import browser

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
pytestmark = pytest.mark.skipif(
    observe.missing_hint() is not None, reason=observe.missing_hint() or ""
)


class Live:
    def __init__(self, root: Path, urls: dict[str, str], trace_id: str, details: str) -> None:
        self.root, self.urls, self.trace_id, self.details = root, urls, trace_id, details

    def query(self, expr: str) -> list[dict[str, Any]]:
        return observe.query(self.urls["prometheus"], expr)

    def get(self, path: str, base: str = "page") -> str:
        with urllib.request.urlopen(self.urls[base] + path, timeout=30) as r:
            return str(r.read().decode())


DRIVE = """
import asyncio, json, os, sys
sys.path.insert(0, os.environ["PAVED_PROJECT"])
import paved
from obsflows.flows import BadTask, Greet, Rejects, RetryForever, Sleepy

async def main():
    c = await paved.connect("obs")
    for i in range(4):
        await c.execute_workflow(Greet.run, f"n{i}", id=f"greet-{i}", task_queue="obs-worker-workflows")
        await c.execute_workflow(Sleepy.run, 0.05, id=f"sleepy-{i}", task_queue="obs-slow-workflows")
    await c.execute_workflow(Sleepy.run, 0.05, id="sleepy-4", task_queue="obs-slow-workflows")
    try:
        await c.execute_workflow(Rejects.run, "x", id="rejects-1", task_queue="obs-worker-workflows")
    except Exception:
        pass
    # A burst above the namespace's 10 actions/s: some starts are refused and retried.
    await asyncio.gather(*(c.start_workflow(Sleepy.run, 0.0, id=f"burst-{i}", task_queue="obs-slow-workflows") for i in range(40)))
    await c.start_workflow(BadTask.run, "b", id="bad-1", task_queue="obs-worker-workflows")
    await c.start_workflow(RetryForever.run, "r", id="retry-1", task_queue="obs-worker-workflows")
    await c.start_workflow(Greet.run, "np", id="nopoll-1", task_queue="obs-worker-workflow")
    await c.start_workflow(Sleepy.run, 600.0, id="late-1", task_queue="obs-slow-workflows")
    d = await c.get_workflow_handle("greet-0").describe()
    print(json.dumps({"details": await d.static_details(), "run_id": d.run_id}), flush=True)

asyncio.run(main())
os._exit(0)  # skip finalisation: Core SDK threads can abort it (temporalio/sdk-python#300)
"""


CLOUD_KEY = "tcm-live-key"


class _CloudFixture(http.server.BaseHTTPRequestHandler):
    """Temporal Cloud's OpenMetrics endpoint as documented (no Cloud is reachable here):
    bearer key, gauges stamped with the last complete minute, `<namespace>.<account>`."""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {CLOUD_KEY}":
            self.send_response(401)
            self.end_headers()
            return
        ts = int(time.time()) // 60 * 60
        body = (
            "# TYPE temporal_cloud_v1_workflow_success_count gauge\n"
            "# HELP temporal_cloud_v1_workflow_success_count Successful workflows per second\n"
            f'temporal_cloud_v1_workflow_success_count{{temporal_namespace="obs-dev-local.acct42",temporal_workflow_type="Sleepy"}} 4.0 {ts}\n'
            f'temporal_cloud_v1_workflow_success_count{{temporal_namespace="obs-dev-local.acct42",temporal_workflow_type="Greet"}} 12.0 {ts}\n'
            "# EOF\n"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/openmetrics-text")
        self.send_header("X-Completeness", "complete")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return


def _wait(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("live") / "obsproj"
    shutil.copytree(HERE / "obsproj", root, ignore=shutil.ignore_patterns("__pycache__", ".paved"))
    # Temporal Cloud's metrics endpoint (a fixture: no Cloud here), configured as a team would.
    cloud = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _CloudFixture)
    threading.Thread(target=cloud.serve_forever, daemon=True).start()
    config = yaml.safe_load((root / "paved.yaml").read_text())
    config["observability"]["cloud_metrics"] = {
        "endpoint": f"http://127.0.0.1:{cloud.server_port}", "api_key_env": "OBS_CLOUD_METRICS_KEY",
        "interval_seconds": 2,
    }  # fmt: skip
    (root / "paved.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    port, ui_port = free_port(), free_port()
    log = open(root.parent / "dev.out", "wb")  # noqa: SIM115
    dev = subprocess.Popen(
        [sys.executable, "-m", "paved.cli", "dev", "--project", str(root), "--port", str(port),
         "--ui-port", str(ui_port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env=dict(os.environ, OBS_CLOUD_METRICS_KEY=CLOUD_KEY),
    )  # fmt: skip
    try:
        _wait(
            lambda: (root / ".paved" / "dev.json").exists() or dev.poll() is not None,
            120,
            "paved dev",
        )
        assert dev.poll() is None, (root.parent / "dev.out").read_text()
        urls = json.loads((root / ".paved" / "observe.json").read_text())
        key = (root / ".paved" / "dev-api-key").read_text().strip()
        env = dict(os.environ, PAVED_ADDRESS=f"127.0.0.1:{port}", PAVED_VIA_PROXY="1", PAVED_CODEC="off",
                   PAVED_API_KEY=key, PAVED_PROJECT=str(root), PAVED_TRACING="1",
                   PAVED_TRACE_DIR=str(root / ".paved" / "traces"), PAVED_SERVICE_NAME="test-client",
                   PAVED_LOGS_URL=urls["page"] + "/logs?workflow_id={workflow_id}",
                   PAVED_TRACE_URL=urls["page"] + "/traces/{trace_id}")  # fmt: skip
        r = subprocess.run(
            [sys.executable, "-c", DRIVE], env=env, capture_output=True, text=True, timeout=180
        )
        assert r.returncode == 0, r.stdout + r.stderr
        out = json.loads(r.stdout.strip().splitlines()[-1])
        m = re.search(r"/traces/([0-9a-f]{32})", out["details"])
        assert m, out["details"]
        yield Live(root, urls, m.group(1), out["details"])
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
        log.close()
        cloud.shutdown()


def test_prometheus_scrapes_what_paved_dev_started(live: Live) -> None:
    def up() -> dict[str, float] | None:
        got = {
            f"{r['metric']['job']}:{r['metric'].get('process', '')}": float(r["value"][1])
            for r in live.query("up")
        }
        return got if len(got) >= 6 and all(v == 1 for v in got.values()) else None

    got = _wait(up, 60, "every target up")
    assert set(got) >= {"temporal:temporal", "proxy:proxy", "stuck-detector:stuck-detector",
                        "worker:worker obs-worker", "worker:worker obs-slow",
                        "operator:operator", "cloud-metrics:cloud-metrics"}  # fmt: skip


def test_the_in_process_operator_is_scraped_and_its_metrics_queried(live: Live) -> None:
    """`paved dev` runs the operator in-process; its /metrics is a target like any process."""

    def operator_series() -> dict[str, float] | None:
        passes = live.query('sum(paved_operator_passes_total{job="operator"})')
        objects = live.query('sum by (target, state) (paved_operator_objects{job="operator"})')
        if not passes or float(passes[0]["value"][1]) < 1 or not objects:
            return None
        return {
            f"{r['metric']['target']}/{r['metric']['state']}": float(r["value"][1]) for r in objects
        }

    got = _wait(operator_series, 90, "the operator's metrics in Prometheus")
    # Its targets: the dev server's namespaces and the local worker replica sets, in sync.
    assert got.get("temporal/in-sync", 0) >= 1 and got.get("workers/in-sync", 0) >= 2, got
    assert not any(k.endswith(("/error", "/drift")) and v for k, v in got.items()), got
    assert live.query('paved_operator_lease_held{job="operator"} == 1')


def test_paved_dev_runs_the_cloud_scraper_when_configured(live: Live) -> None:
    """observability.cloud_metrics in paved.yaml + its key in the environment: `paved dev`
    runs `paved observe cloud-scrape`, Prometheus scrapes it, owners come from the specs."""

    def series() -> dict[str, dict[str, str]] | None:
        got = live.query('temporal_cloud_v1_workflow_success_count{job="cloud-metrics"}')
        by = {r["metric"]["temporal_workflow_type"]: r["metric"] for r in got}
        return by if {"Sleepy", "Greet"} <= set(by) else None

    got = _wait(series, 90, "Cloud metrics in Prometheus")
    assert got["Sleepy"]["owner"] == "team-slow" and got["Greet"]["owner"] == "team-obs"
    assert got["Sleepy"]["paved_namespace"] == "obs"
    assert live.query('paved_cloud_scrape_success{job="cloud-metrics"} == 1')
    assert live.urls["cloud_metrics"]


def test_every_dashboard_query_executes_and_returns_data(live: Live) -> None:
    """Namespace dashboard: every query returns series. Type dashboards: each panel
    returns series for at least one type (a type without activities has no activity data)."""
    files = {
        str(p.relative_to(live.root)): p.read_text()
        for p in (live.root / "observability" / "dashboards").glob("*.json")
    }
    queries = observe.panel_queries(files)

    def missing() -> list[str]:
        empty_ns: list[str] = []
        by_panel: dict[str, int] = {}
        for dash, title, expr in queries:
            promql_parser.parse(expr)
            n = len(live.query(expr))  # raises PromQLError if Prometheus refuses it
            if dash.endswith("/obs.json"):
                if n == 0:
                    empty_ns.append(f"{title}: {expr}")
            else:
                key = title + " | " + re.sub(r'workflow_type="[^"]+"|task_queue="[^"]+"', "", expr)
                by_panel[key] = by_panel.get(key, 0) + n
        return empty_ns + [k for k, n in by_panel.items() if n == 0]

    # rate() over a 5m window needs two scrapes after the events: allow a few.
    deadline = time.monotonic() + 60
    gaps = missing()
    while gaps and time.monotonic() < deadline:
        time.sleep(3)
        gaps = missing()
    assert not gaps, gaps
    assert len(queries) >= 50


def test_stuck_detector_finds_each_planted_case(live: Live) -> None:
    def found() -> dict[tuple[str, str], float] | None:
        res = live.query("paved_stuck_workflows > 0")
        got = {
            (r["metric"]["workflow_type"], r["metric"]["reason"]): float(r["value"][1]) for r in res
        }
        want = {("BadTask", "workflow_task_failing"), ("RetryForever", "activity_retrying"),
                ("Greet", "no_poller"), ("Sleepy", "running_long")}  # fmt: skip
        return got if want <= set(got) else None

    got = _wait(found, 90, "the planted cases in paved_stuck_workflows")
    # Healthy types and reasons stay at zero: nothing else is called stuck.
    assert set(got) <= {("BadTask", "workflow_task_failing"), ("RetryForever", "activity_retrying"),
                        ("Greet", "no_poller"), ("Sleepy", "running_long"), ("Greet", "running_long")}  # fmt: skip
    owners = {
        r["metric"]["workflow_type"]: r["metric"]["owner"]
        for r in live.query("paved_stuck_workflows > 0")
    }
    assert owners["Sleepy"] == "team-slow" and owners["BadTask"] == "team-obs"
    findings = json.loads(live.get("/findings", "stuck"))["findings"]
    retry = next(f for f in findings if f["workflow_id"] == "retry-1")
    # Through the proxy as the local developer, who holds decode: the message is readable.
    assert "the flaky service refused r" in retry["last_failure"]
    assert "/namespaces/obs-dev-local/workflows/retry-1/" in retry["ui_url"]


def test_alert_rules_evaluate_on_live_data(live: Live) -> None:
    def alerts() -> dict[str, dict[str, Any]] | None:
        with urllib.request.urlopen(live.urls["prometheus"] + "/api/v1/alerts", timeout=10) as r:
            data = json.loads(r.read())["data"]["alerts"]
        got = {
            a["labels"]["alertname"]
            + "/"
            + a["labels"].get("workflow_type", a["labels"].get("task_queue", "")): a
            for a in data
        }
        return (
            got
            if {"PavedStuckWorkflows/BadTask", "PavedTaskQueueBacklogNoPollers/obs-worker-workflow"}
            <= set(got)
            else None
        )

    got = _wait(alerts, 60, "pending alerts")
    assert got["PavedStuckWorkflows/BadTask"]["labels"]["owner"] == "team-obs"
    assert got["PavedStuckWorkflows/BadTask"]["state"] in ("pending", "firing")


def test_trace_id_joins_client_proxy_workflow_and_activities(live: Live) -> None:
    def spans() -> list[dict[str, Any]] | None:
        out = []
        for p in (live.root / ".paved" / "traces").glob("*.jsonl"):
            out += [
                json.loads(line) for line in p.read_text().splitlines() if live.trace_id in line
            ]
        return (
            out
            if {"RunActivity:obs_greet", "CompleteWorkflow:Greet"} <= {s["name"] for s in out}
            else None
        )

    got = _wait(spans, 30, "the workflow's spans")
    services = {s["service"] for s in got}
    assert {"test-client", "proxy", "worker obs-worker"} <= services, services
    names = {s["name"] for s in got}
    assert {
        "StartWorkflow:Greet",
        "proxy StartWorkflowExecution",
        "RunWorkflow:Greet",
        "RunActivity:obs_greet",
    } <= names
    proxy_span = next(s for s in got if s["name"] == "proxy StartWorkflowExecution")
    client_span = next(s for s in got if s["name"] == "StartWorkflow:Greet")
    assert proxy_span["parent_id"] == client_span["span_id"]
    # The Temporal UI shows the links (static details) to this trace and the logs.
    assert "[Logs](" in live.details and "logs?workflow_id=greet-0" in live.details
    # The worker's JSON log lines carry the workflow id, run id and the same trace id.
    logs = [json.loads(line) for line in (live.root / ".paved" / "logs" / "worker-obs-worker.log").read_text().splitlines()
            if line.startswith("{") and '"workflow_id":"greet-0"' in line]  # fmt: skip
    assert logs and all(entry["trace_id"] == live.trace_id and entry["run_id"] for entry in logs)
    assert {"temporalio.workflow", "temporalio.activity"} <= {entry["logger"] for entry in logs}


@pytest.mark.skipif(
    browser.chromium() is None, reason="chromium missing: apt-get install -y chromium"
)
def test_page_in_headless_chromium(live: Live, tmp_path: Path) -> None:
    # Let the detector and Prometheus catch up so the page has something to show.
    _wait(lambda: live.query("paved_stuck_workflows > 0"), 60, "stuck series")
    dom = browser.dump_dom(live.urls["page"] + "/")
    assert "Workflows of obs" in dom
    for reason in ("workflow_task_failing", "activity_retrying", "no_poller", "running_long"):
        assert reason in dom, reason
    assert dom.count("<polyline") >= 3  # charts drawn from Prometheus, not empty boxes
    assert "the flaky service refused r" in dom
    wf = browser.dump_dom(live.urls["page"] + "/ns/obs/wf/Greet")
    assert "End-to-end latency" in wf and "<polyline" in wf
    trace = browser.dump_dom(f"{live.urls['page']}/traces/{live.trace_id}")
    assert "proxy StartWorkflowExecution" in trace and "worker obs-worker" in trace
    logs = browser.dump_dom(live.urls["page"] + "/logs?workflow_id=greet-0")
    assert "greeting workflow for n0" in logs
    shot = tmp_path / "page.png"
    browser.screenshot(live.urls["page"] + "/", shot)
    assert shot.stat().st_size > 20_000
    if os.environ.get("PAVED_UPDATE_SCREENSHOTS"):
        docs = ROOT / "docs" / "img"
        shutil.copy(shot, docs / "observe-page.png")
        browser.screenshot(
            f"{live.urls['page']}/traces/{live.trace_id}", docs / "observe-trace.png", height=500
        )


# Last: it waits for `for: 1m` to pass, which the tests above spend anyway.
def test_a_firing_alert_reaches_the_owners_receiver_on_the_page(live: Live) -> None:
    """Prometheus fires, Alertmanager routes by owner (the committed routes), its webhook
    delivers to the page, and the page shows the alert with that receiver."""

    def delivered() -> list[dict[str, Any]] | None:
        got = [a for a in json.loads(live.get("/api/alerts")) if a.get("status") == "firing"]
        names = {a["labels"]["alertname"] for a in got if a.get("receiver") == "team-obs"}
        return got if names & {"PavedTaskQueueBacklogNoPollers", "PavedStuckWorkflows"} else None

    # `for: 1m` (no pollers) / `for: 2m` (stuck) after the fixture's drive.
    got = _wait(delivered, 240, "a firing alert delivered to the page")
    for a in got:
        # Every alert reached the receiver of its owner (routes from paved.yaml's owners).
        assert a["receiver"] == a["labels"].get("owner", "paved-unrouted"), a
    with urllib.request.urlopen(live.urls["alertmanager"] + "/api/v2/alerts", timeout=10) as r:
        am = json.loads(r.read())
    routed = {
        (a["labels"]["alertname"], a["labels"].get("task_queue") or a["labels"].get("workflow_type")):
        {x["name"] for x in a["receivers"]} for a in am
    }  # fmt: skip
    sent = got[0]["labels"]
    key = (sent["alertname"], sent.get("task_queue") or sent.get("workflow_type"))
    assert routed[key] == {"team-obs"}, routed
    page = live.get("/")
    assert sent["alertname"] in page and "receiver team-obs" in page
