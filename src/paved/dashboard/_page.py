"""The local page ``paved dev`` serves: per namespace and workflow type, pictures first.

Routes:

``/``                          every namespace: owner, a few charts, stuck workflows, alerts
``/ns/{ns}``                   the namespace's dashboard: every panel of
                               ``observability/dashboards/<ns>.json`` drawn from Prometheus
``/ns/{ns}/wf/{type}``         one workflow type's dashboard, its stuck runs, UI links
``/logs?workflow_id=...``      the JSON log lines of one workflow from ``.paved/logs/``
``/traces/{trace_id}``         one trace as a waterfall, from ``.paved/traces/``
``POST /api/alerts``           Alertmanager's webhook: firing alerts show on the page
``/healthz``

The panels are the committed Grafana dashboards' own queries (``paved observe
gen``), so the page and Grafana show the same numbers; stuck workflows come from
the detector's ``/findings`` (``paved stuck --serve``). Read-only, loopback only.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import jinja2
from aiohttp import web

from paved import specs
from paved.dashboard import _charts as charts

RANGE_SECONDS = 30 * 60
STEP_SECONDS = 15
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("paved.dashboard", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)


@dataclass
class PageConfig:
    """What the page reads.

    Attributes:
        project: for the specs (namespaces, types, owners) and the dashboards.
        prometheus_url: the Prometheus to query (``paved dev`` runs one).
        stuck_url: the detector's base URL (``/findings``), or None.
        ui_url: the Temporal UI, for links.
        logs_dir, traces_dir: where ``paved dev`` keeps process logs and spans.
    """

    project: specs.Project
    prometheus_url: str | None
    stuck_url: str | None = None
    ui_url: str = "http://127.0.0.1:8233"
    logs_dir: Path | None = None
    traces_dir: Path | None = None
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def dashboard(self, slug: str) -> dict[str, Any] | None:
        path = self.project.root / "observability" / "dashboards" / f"{slug}.json"
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data


async def _range(
    session: aiohttp.ClientSession, cfg: PageConfig, expr: str, legend: str
) -> list[charts.Series]:
    if not cfg.prometheus_url:
        return []
    end = time.time()
    params = {
        "query": expr,
        "start": f"{end - RANGE_SECONDS:.0f}",
        "end": f"{end:.0f}",
        "step": str(STEP_SECONDS),
    }
    try:
        async with session.get(f"{cfg.prometheus_url}/api/v1/query_range", params=params) as r:
            body = await r.json()
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return []
    out = []
    for res in body.get("data", {}).get("result", []):
        label = legend
        for k, v in res.get("metric", {}).items():
            label = label.replace("{{" + k + "}}", v)
        label = label.replace("{{", "").replace("}}", "").strip() or expr[:40]
        pts = tuple((float(t), float(v)) for t, v in res.get("values", []))
        out.append(charts.Series(label, pts))
    return out


async def _panels(
    session: aiohttp.ClientSession, cfg: PageConfig, dash: dict[str, Any], only: int | None = None
) -> list[dict[str, Any]]:
    panels = dash.get("panels", [])[: only or None]

    async def one(p: dict[str, Any]) -> dict[str, Any]:
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        series: list[charts.Series] = []
        for t in p.get("targets", []):
            series += await _range(session, cfg, t["expr"], t.get("legendFormat", ""))
        series = charts.interesting(series)
        return {
            "title": p["title"],
            "description": p.get("description", ""),
            "svg": charts.line_chart(series, unit=unit),
            "legend": charts.legend(series, unit),
            "queries": [t["expr"] for t in p.get("targets", [])],
        }

    return list(await asyncio.gather(*(one(p) for p in panels)))


async def _findings(session: aiohttp.ClientSession, cfg: PageConfig) -> dict[str, Any]:
    if not cfg.stuck_url:
        return {"findings": [], "error": "the stuck detector is not running"}
    try:
        async with session.get(f"{cfg.stuck_url}/findings") as r:
            data: dict[str, Any] = await r.json()
            return data
    except (TimeoutError, aiohttp.ClientError, ValueError) as e:
        return {"findings": [], "error": f"stuck detector unreachable: {type(e).__name__}"}


def _ui_list(cfg: PageConfig, physical: str, workflow_type: str | None = None) -> str:
    base = f"{cfg.ui_url.rstrip('/')}/namespaces/{physical}/workflows"
    if workflow_type:
        return base + "?query=" + quote(f'WorkflowType="{workflow_type}"')
    return base


def _alerts_for(cfg: PageConfig, ns: str, wf: str | None = None) -> list[dict[str, Any]]:
    out = []
    for a in cfg.alerts.values():
        labels = a.get("labels", {})
        if labels.get("paved_namespace") != ns or a.get("status") != "firing":
            continue
        if wf and labels.get("workflow_type") not in (None, wf):
            continue
        out.append(a)
    return sorted(out, key=lambda a: a.get("labels", {}).get("alertname", ""))


def page_app(cfg: PageConfig) -> web.Application:
    """The page's aiohttp application."""
    loaded = cfg.project.specs()
    session_key = web.AppKey("session", aiohttp.ClientSession)

    def ns_info(ns: specs.NamespaceSpec) -> dict[str, Any]:
        physical = ns.physical[0].name if ns.physical else ns.name
        types = [w.name for w in loaded.workflows.workflows if w.namespace == ns.name]
        return {"name": ns.name, "owner": ns.owner, "tier": ns.tier, "physical": physical,
                "types": types, "ui": _ui_list(cfg, physical)}  # fmt: skip

    def render(name: str, **ctx: Any) -> web.Response:
        html = _TEMPLATES.get_template(name).render(project=cfg.project.config.project, **ctx)
        return web.Response(text=html, content_type="text/html")

    async def index(request: web.Request) -> web.Response:
        session = request.app[session_key]
        found = await _findings(session, cfg)
        rows = []
        for ns in loaded.namespaces.namespaces:
            dash = cfg.dashboard(ns.name) or {"panels": []}
            picks = [
                p
                for p in dash["panels"]
                if p["title"].startswith(
                    ("Workflows completed", "Workflows failed", "Task queue backlog", "Stuck")
                )
            ]
            panels = await _panels(session, cfg, {"panels": picks})
            stuck = [f for f in found.get("findings", []) if f["namespace"] == ns.name]
            rows.append(
                {
                    **ns_info(ns),
                    "panels": panels,
                    "stuck": stuck,
                    "alerts": _alerts_for(cfg, ns.name),
                }
            )
        return render(
            "index.html",
            namespaces=rows,
            stuck_error=found.get("error"),
            prometheus=cfg.prometheus_url,
        )

    async def namespace(request: web.Request) -> web.Response:
        name = request.match_info["ns"]
        ns = next((n for n in loaded.namespaces.namespaces if n.name == name), None)
        dash = cfg.dashboard(name)
        if ns is None or dash is None:
            raise web.HTTPNotFound(
                text=f"unknown namespace {name!r} (or no dashboard: run `paved observe gen`)"
            )
        session = request.app[session_key]
        panels, found = await asyncio.gather(_panels(session, cfg, dash), _findings(session, cfg))
        stuck = [f for f in found.get("findings", []) if f["namespace"] == name]
        return render("scope.html", ns=ns_info(ns), wf=None, panels=panels, stuck=stuck,
                      alerts=_alerts_for(cfg, name), stuck_error=found.get("error"))  # fmt: skip

    async def workflow_type(request: web.Request) -> web.Response:
        name, wf = request.match_info["ns"], request.match_info["wf"]
        ns = next((n for n in loaded.namespaces.namespaces if n.name == name), None)
        dash = cfg.dashboard(f"{name}--{wf}")
        if ns is None or dash is None:
            raise web.HTTPNotFound(text=f"unknown workflow type {wf!r} in {name!r}")
        session = request.app[session_key]
        panels, found = await asyncio.gather(_panels(session, cfg, dash), _findings(session, cfg))
        stuck = [
            f
            for f in found.get("findings", [])
            if f["namespace"] == name and f["workflow_type"] == wf
        ]
        info = ns_info(ns)
        return render("scope.html", ns=info, wf={"name": wf, "ui": _ui_list(cfg, info["physical"], wf)},
                      panels=panels, stuck=stuck, alerts=_alerts_for(cfg, name, wf),
                      stuck_error=found.get("error"))  # fmt: skip

    async def logs(request: web.Request) -> web.Response:
        wid = request.query.get("workflow_id", "")
        lines = read_logs(cfg.logs_dir, wid) if wid and cfg.logs_dir else []
        return render("logs.html", workflow_id=wid, lines=lines)

    async def traces(request: web.Request) -> web.Response:
        tid = request.match_info["trace_id"]
        spans = read_trace(cfg.traces_dir, tid) if cfg.traces_dir else []
        services = sorted({s.service for s in spans})
        return render(
            "trace.html", trace_id=tid, svg=charts.waterfall(spans), spans=spans, services=services
        )

    async def alerts(request: web.Request) -> web.Response:
        body = await request.json()
        for a in body.get("alerts", []):
            # The receiver Alertmanager routed the group to: the owner's, in the committed routes.
            a = {**a, "receiver": body.get("receiver", "")}
            cfg.alerts[a.get("fingerprint") or json.dumps(a.get("labels"), sort_keys=True)] = a
        return web.json_response({"ok": True})

    async def alerts_list(_: web.Request) -> web.Response:
        return web.json_response(list(cfg.alerts.values()))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def session_ctx(app: web.Application) -> Any:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
            app[session_key] = s
            yield

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/", index)
    app.router.add_get("/ns/{ns}", namespace)
    app.router.add_get("/ns/{ns}/wf/{wf}", workflow_type)
    app.router.add_get("/logs", logs)
    app.router.add_get("/traces/{trace_id}", traces)
    app.router.add_post("/api/alerts", alerts)
    app.router.add_get("/api/alerts", alerts_list)
    app.router.add_get("/healthz", healthz)
    return app


def read_logs(directory: Path | None, workflow_id: str, limit: int = 500) -> list[dict[str, Any]]:
    """JSON log lines that name ``workflow_id``, from every ``*.log`` in ``directory``, by time."""
    out: list[dict[str, Any]] = []
    if directory is None or not directory.is_dir():
        return out
    needle = f'"workflow_id":"{workflow_id}"'
    for path in sorted(directory.glob("*.log")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if needle not in line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                rec["file"] = path.name
                out.append(rec)
    out.sort(key=lambda r: r.get("ts", 0))
    return out[-limit:]


def read_trace(directory: Path | None, trace_id: str) -> list[charts.Span]:
    """Every span of ``trace_id`` across the processes' ``*.jsonl`` span files."""
    spans: list[charts.Span] = []
    if directory is None or not directory.is_dir():
        return spans
    needle = f'"trace_id":"{trace_id}"'
    for path in sorted(directory.glob("*.jsonl")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if needle in line:
                    d = json.loads(line)
                    spans.append(charts.Span(d["name"], d.get("service", ""), d["start"], d["end"],
                                             d.get("status", ""), d["span_id"], d.get("parent_id")))  # fmt: skip
    return spans


async def serve_page(
    cfg: PageConfig, port: int, stop: asyncio.Event, host: str = "127.0.0.1"
) -> None:
    """Serve the page until ``stop`` is set."""
    runner = web.AppRunner(page_app(cfg), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
