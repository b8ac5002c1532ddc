"""Traces, structured logs and links for every Paved process (clients, workers, the proxy).

Turned on by ``PAVED_TRACING=1`` (``paved dev`` sets it for everything it runs):

- **Tracing** with OpenTelemetry through temporalio's own interceptor
  (``temporalio.contrib.opentelemetry.TracingInterceptor``): a client's
  ``StartWorkflow`` span, the workflow's and each activity's spans share one trace
  id, carried in the Temporal header ``_tracer-data`` (encrypted like every header).
  The client also sends W3C ``traceparent`` gRPC metadata, so the Paved proxy
  puts its span for the call in the same trace. Spans are written as JSON lines
  to ``PAVED_TRACE_DIR`` (``.paved/traces/<service>-<pid>.jsonl``), where
  ``paved dev``'s page shows them; any OTel exporter can be added to the
  provider instead.
- **Structured logs**: with ``PAVED_LOG_FORMAT=json`` every log line is one JSON
  object with the workflow id, run id, activity and trace id when known
  (temporalio puts the workflow/activity info on its loggers' records).
- **Links** in Temporal's workflow metadata: each workflow started through a
  Paved client gets ``static_details`` (shown by the Temporal UI) with links to
  its logs and its trace, from the URL templates ``PAVED_LOGS_URL`` and
  ``PAVED_TRACE_URL`` (``observability.logs_url``/``trace_url`` in
  ``paved.yaml``; placeholders ``{namespace}``, ``{workflow_id}``,
  ``{workflow_type}``, ``{trace_id}``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from temporalio import client as tclient

TRACING_ENV = "PAVED_TRACING"
TRACE_DIR_ENV = "PAVED_TRACE_DIR"
SERVICE_ENV = "PAVED_SERVICE_NAME"
LOG_FORMAT_ENV = "PAVED_LOG_FORMAT"
LOGS_URL_ENV = "PAVED_LOGS_URL"
TRACE_URL_ENV = "PAVED_TRACE_URL"

_lock = threading.Lock()
_provider: TracerProvider | None = None


def tracing_enabled() -> bool:
    return os.environ.get(TRACING_ENV, "").lower() in ("1", "on", "true", "yes")


def service_name() -> str:
    """``PAVED_SERVICE_NAME``, else from the command line (``worker imagegen-gpu``, ``proxy``)."""
    if os.environ.get(SERVICE_ENV):
        return os.environ[SERVICE_ENV]
    args = sys.argv
    # `paved worker run NAME`, or `python -m paved.worker run NAME` (how paved dev starts one).
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    as_worker = "worker" in args or str(getattr(spec, "name", "")).startswith("paved.worker")
    if as_worker and "run" in args and args.index("run") + 1 < len(args):
        return f"worker {args[args.index('run') + 1]}"
    for known in ("proxy", "stuck", "codec-server", "operator"):
        if known in args[1:3]:
            return known
    return Path(args[0]).stem if args and args[0] else f"paved-{os.getpid()}"


def _span_line(span: ReadableSpan) -> str:
    ctx = span.get_span_context()
    assert ctx is not None
    attrs = {k: v for k, v in (span.attributes or {}).items() if isinstance(v, str | int | float)}
    return (
        json.dumps(
            {
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
                "name": span.name,
                "service": span.resource.attributes.get("service.name", ""),
                "start": (span.start_time or 0) / 1e9,
                "end": (span.end_time or 0) / 1e9,
                "status": span.status.status_code.name,
                "attributes": attrs,
            },
            separators=(",", ":"),
        )
        + "\n"
    )


def setup_tracing(service: str | None = None, directory: Path | None = None) -> TracerProvider:
    """Install the process's tracer provider (once): spans as JSON lines in ``directory``."""
    global _provider
    with _lock:
        if _provider is not None:
            return _provider
        name = service or service_name()
        d = directory or Path(os.environ.get(TRACE_DIR_ENV) or ".paved/traces")
        d.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "process"
        out = open(d / f"{slug}-{os.getpid()}.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - process lifetime
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        # Simple (synchronous) export: a worker leaves with os._exit after draining,
        # which would drop a batch processor's queue. One small write per span.
        provider.add_span_processor(
            SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=_span_line))
        )
        trace.set_tracer_provider(provider)
        _provider = provider
        return provider


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, with the Temporal workflow/activity and trace ids."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "service": service_name(),
            "msg": record.getMessage(),
        }
        wf = getattr(record, "temporal_workflow", None)
        if isinstance(wf, dict):
            out.update(
                workflow_id=wf.get("workflow_id"),
                run_id=wf.get("run_id"),
                workflow_type=wf.get("workflow_type"),
                namespace=wf.get("namespace"),
            )
        act = getattr(record, "temporal_activity", None)
        if isinstance(act, dict):
            out.update(
                workflow_id=act.get("workflow_id"),
                run_id=act.get("workflow_run_id"),
                workflow_type=act.get("workflow_type"),
                activity_type=act.get("activity_type"),
                activity_id=act.get("activity_id"),
                attempt=act.get("attempt"),
                namespace=act.get("namespace"),
            )
        tid = current_trace_id()
        if tid:
            out["trace_id"] = tid
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"), default=str)


def setup_logging() -> None:
    """With ``PAVED_LOG_FORMAT=json``: JSON lines on every root handler (added if none)."""
    if os.environ.get(LOG_FORMAT_ENV, "").lower() != "json":
        return
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for h in root.handlers:
        if not isinstance(h.formatter, JsonLogFormatter):
            h.setFormatter(JsonLogFormatter())


def render_links(templates: dict[str, str], **values: str) -> str:
    """Markdown links (``[Logs](...) · [Trace](...)``) from the templates that have their values."""
    parts = []
    for label, tpl in templates.items():
        try:
            parts.append(f"[{label}]({tpl.format(**values)})")
        except (KeyError, IndexError):
            continue  # e.g. no trace id when tracing is off
    return " · ".join(parts)


def link_templates() -> dict[str, str]:
    out = {}
    if os.environ.get(LOGS_URL_ENV):
        out["Logs"] = os.environ[LOGS_URL_ENV]
    if os.environ.get(TRACE_URL_ENV) and tracing_enabled():
        out["Trace"] = os.environ[TRACE_URL_ENV]
    return out


class LinksInterceptor(tclient.Interceptor):
    """Adds log/trace links to ``static_details`` and W3C ``traceparent`` to the start call."""

    def __init__(self, namespace: str, templates: dict[str, str]) -> None:
        self.namespace = namespace
        self.templates = templates

    def intercept_client(self, next: tclient.OutboundInterceptor) -> tclient.OutboundInterceptor:
        return _LinksOutbound(next, self)


class _LinksOutbound(tclient.OutboundInterceptor):
    def __init__(self, next: tclient.OutboundInterceptor, root: LinksInterceptor) -> None:
        super().__init__(next)
        self.root = root

    async def start_workflow(self, input: tclient.StartWorkflowInput) -> Any:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)  # the current span: temporalio's StartWorkflow span
        if carrier:
            input.rpc_metadata = {**input.rpc_metadata, **carrier}
        values = {
            "namespace": self.root.namespace,
            "workflow_id": input.id,
            "workflow_type": input.workflow,
            "now": str(int(time.time())),
        }
        tid = current_trace_id()
        if tid:
            values["trace_id"] = tid
        links = render_links(self.root.templates, **values)
        if links:
            input.static_details = (
                f"{input.static_details}\n\n{links}" if input.static_details else links
            )
        return await super().start_workflow(input)


def server_span(name: str, metadata: Any) -> contextlib.AbstractContextManager[Any]:
    """A span for one call a server (the proxy) handles, child of the caller's ``traceparent``.

    Only calls that carry a ``traceparent`` are traced (a workflow start, not the
    workers' long polls); with tracing off this is a no-op context.
    """
    if not tracing_enabled():
        return contextlib.nullcontext()
    carrier = {k: v for k, v in (metadata or ()) if k in ("traceparent", "tracestate")}
    if "traceparent" not in carrier:
        return contextlib.nullcontext()
    setup_tracing()
    parent = propagate.extract(carrier)
    return trace.get_tracer("paved.proxy").start_as_current_span(
        name, context=parent, kind=trace.SpanKind.SERVER
    )


def interceptors(namespace: str) -> list[Any]:
    """The interceptors ``paved.connect`` adds: OTel tracing (when on) and links (when templated)."""
    out: list[Any] = []
    setup_logging()
    if tracing_enabled():
        from temporalio.contrib.opentelemetry import TracingInterceptor

        setup_tracing()
        out.append(TracingInterceptor())
    templates = link_templates()
    if templates or tracing_enabled():
        out.append(LinksInterceptor(namespace, templates))
    return out
