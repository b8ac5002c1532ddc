"""The detector as a service: metrics for Prometheus, findings for people, setup from a project.

``paved stuck --serve PORT`` (run by ``paved dev``) scans every ``interval``
seconds and serves:

- ``/metrics``: ``paved_stuck_workflows{namespace,workflow_type,owner,reason}`` (0 for
  every type and reason of the specs, so alerts and dashboards have series),
  ``paved_task_queue_backlog``, ``paved_task_queue_backlog_age_seconds`` and
  ``paved_task_queue_pollers{namespace,task_queue,kind,owner}`` from
  ``DescribeTaskQueue``, and the pass's own cost (``paved_stuck_scan_seconds``,
  ``paved_stuck_scan_calls``);
- ``/findings``: the last pass as JSON (the page shows it);
- ``/healthz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from temporalio.api.common.v1 import Payload

from paved import sdk, specs
from paved.observe import _stuck as stuck

log = logging.getLogger("paved.stuck")


def metrics_text(loaded: specs.Specs, scan: stuck.Scan) -> str:
    """Prometheus exposition of one pass."""
    r = CollectorRegistry()
    g = Gauge(
        "paved_stuck_workflows",
        "Workflows the detector finds stuck, by reason",
        ["namespace", "workflow_type", "owner", "reason"],
        registry=r,
    )
    counts: Counter[tuple[str, str, str, str]] = Counter()
    owners = {w.name: w.owner for w in loaded.workers.workers}
    ns_owner = {n.name: n.owner for n in loaded.namespaces.namespaces}
    for wf in loaded.workflows.workflows:
        owner = owners.get(wf.worker, ns_owner.get(wf.namespace, ""))
        for reason in stuck.REASONS:
            counts[(wf.namespace, wf.name, owner, reason)] += 0
    for f in scan.findings:
        counts[(f.namespace, f.workflow_type, f.owner, f.reason)] += 1
    for labels, n in counts.items():
        g.labels(*labels).set(n)
    qlabels = ["namespace", "task_queue", "kind", "owner"]
    backlog = Gauge(
        "paved_task_queue_backlog", "Approximate backlog (DescribeTaskQueue)", qlabels, registry=r
    )
    age = Gauge(
        "paved_task_queue_backlog_age_seconds", "Age of the oldest task", qlabels, registry=r
    )
    pollers = Gauge(
        "paved_task_queue_pollers", "Pollers seen in the last minute", qlabels, registry=r
    )
    for q in scan.queues:
        key = (q.namespace, q.task_queue, q.kind, q.owner)
        backlog.labels(*key).set(q.backlog)
        age.labels(*key).set(q.backlog_age_seconds)
        pollers.labels(*key).set(q.pollers)
    Gauge("paved_stuck_scan_seconds", "Duration of the last pass", registry=r).set(scan.seconds)
    calls = Gauge(
        "paved_stuck_scan_calls", "Temporal calls of the last pass", ["method"], registry=r
    )
    for method, n in scan.calls.items():
        calls.labels(method).set(n)
    return generate_latest(r).decode()


def lines(scan: stuck.Scan) -> list[str]:
    """Human-readable findings, one block each."""
    out = []
    for f in sorted(scan.findings, key=lambda f: (f.namespace, f.owner, f.reason, f.workflow_id)):
        out.append(
            f"{f.reason}: {f.workflow_type} {f.workflow_id} ({f.namespace}, owner {f.owner})"
        )
        out.append(f"  {f.detail}")
        if f.last_failure:
            out.append(f"  last failure: {f.last_failure}")
        out.append(f"  {f.ui_url}")
    out.append(
        f"{len(scan.findings)} finding(s); {scan.running} running workflows, {scan.described} described, "
        f"{scan.total_calls} Temporal calls in {scan.seconds:.2f}s"
    )
    return out


async def detector_for(
    project: specs.Project,
    *,
    environment: str,
    ui_url: str | None = None,
    env: sdk.RuntimeEnv | None = None,
    max_describes: int = 5000,
) -> stuck.Detector:
    """A detector connected the way this process is configured (``PAVED_*``).

    Decode permission: with an API key (through the proxy), the principal's
    ``decode`` role in the project's policy decides; without one (direct to a
    local server) whoever can read ``.paved/keys.json`` decrypts anyway, so the
    key ring's presence decides.
    """
    env = env or sdk.RuntimeEnv.from_env()
    loaded = project.specs()
    logical = loaded.namespaces.namespaces[0].name
    client = await sdk.connect(logical, env=env, codec=None)
    can_decode = _decode_permission(project, env)
    decode_failure = None
    if not env.via_proxy:
        from paved import codec

        state = project.state_dir

        async def decode_failure(ns: str, p: Payload) -> Payload:
            c = codec.codec_for(ns, state_dir=state)
            return (await c.decode([p]))[0]

    return stuck.Detector(
        client=client,
        loaded=loaded,
        config=project.config.observability.stuck,
        ui_url=ui_url or project.config.observability.ui_url or "http://127.0.0.1:8233",
        environment=environment,
        can_decode=can_decode,
        decode_failure=decode_failure,
        max_describes=max_describes,
    )


def _decode_permission(project: specs.Project, env: sdk.RuntimeEnv) -> Any:
    from paved.auth import Policy

    if env.api_key:
        path = project.root / "policy.yaml"
        if not path.exists():
            path = project.state_dir / "dev-policy.yaml"
        if not path.exists():
            return lambda _ns: False
        policy = Policy.load(path)
        principal = policy.authenticate_bearer(env.api_key)
        return lambda ns: policy.allowed(principal, "decode", ns)
    keys = Path(os.environ.get("PAVED_STATE_DIR") or project.state_dir) / "keys.json"
    present = keys.exists()
    return lambda _ns: present


async def serve(
    make_detector: Callable[[], Awaitable[stuck.Detector]],
    loaded: specs.Specs,
    port: int,
    interval: float,
    stop: asyncio.Event,
) -> None:
    """Scan every ``interval`` seconds and serve /metrics, /findings, /healthz until ``stop``.

    The HTTP side starts first; the detector connects (and reconnects) in the loop,
    so a Temporal or proxy that is still starting is waited for, not fatal.
    """
    state: dict[str, Any] = {"scan": stuck.Scan(), "error": "not scanned yet"}

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=metrics_text(loaded, state["scan"]), content_type="text/plain")

    async def findings(_: web.Request) -> web.Response:
        scan: stuck.Scan = state["scan"]
        return web.json_response(
            {
                "findings": [f.as_dict() for f in scan.findings],
                "queues": [q.__dict__ for q in scan.queues],
                "running": scan.running,
                "calls": scan.total_calls,
                "seconds": scan.seconds,
                "error": state["error"],
            }
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, "error": state["error"]})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/findings", findings)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    detector: stuck.Detector | None = None
    try:
        while not stop.is_set():
            try:
                if detector is None:
                    detector = await make_detector()
                state["scan"] = await detector.scan()
                state["error"] = None
            except Exception as e:  # Temporal (re)starting: keep serving the last pass
                state["error"] = f"{type(e).__name__}: {e}"
                log.warning("stuck scan failed: %s", state["error"])
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        await runner.cleanup()
