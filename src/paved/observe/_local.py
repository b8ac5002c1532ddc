"""What ``paved dev`` adds for observability: processes, environment, targets, dynamic config.

:func:`local_stack` decides, for one project, everything the dev assembly needs
and nothing about how it supervises processes:

- the stuck detector as an exporter (``paved stuck --serve``), the local page
  (``paved dashboard``), and, when their binaries are installed, Prometheus and
  Alertmanager (otherwise :attr:`LocalStack.notes` says how to get them);
- the Temporal Cloud scraper (``paved observe cloud-scrape``) when ``paved.yaml``
  configures ``observability.cloud_metrics`` and its key variable is set (else a
  note says which variable to export);
- the in-process operator's metrics port (a scrape target like the processes);
- the environment every child gets: tracing on, spans to ``.paved/traces``, JSON
  logs, and the log/trace link templates (``paved.yaml``'s, else the page's);
- the dev server's dynamic config (the ``TemporalReportedProblems`` threshold)
  and its ``--metrics-port``;
- :meth:`LocalStack.write_targets`: Prometheus's file-SD from what was started.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from paved import specs
from paved._net import free_port
from paved._proc import paved_command
from paved.observe import _generate as gen
from paved.observe import _prometheus as prom

PROBLEMS_THRESHOLD_KEY = "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute"


@dataclass(frozen=True)
class Process:
    """A process for the dev assembly to run and supervise."""

    name: str
    command: list[str]
    log_name: str
    health_url: str | None
    metrics_url: str | None = None


@dataclass
class LocalStack:
    project: specs.Project
    ui_url: str
    state: Path
    page_port: int
    stuck_port: int
    temporal_metrics_port: int
    prometheus_port: int | None
    alertmanager_port: int | None
    notes: list[str] = field(default_factory=list)
    # The in-process operator's /metrics (``OperatorSettings.metrics_port``).
    operator_metrics_port: int = field(default_factory=free_port)
    # ``paved observe cloud-scrape`` when paved.yaml configures Temporal Cloud metrics
    # and their key is in the environment; None otherwise (a note says why).
    cloud_port: int | None = None

    @property
    def page_url(self) -> str:
        return f"http://127.0.0.1:{self.page_port}"

    @property
    def prometheus_url(self) -> str | None:
        return f"http://127.0.0.1:{self.prometheus_port}" if self.prometheus_port else None

    @property
    def alertmanager_url(self) -> str | None:
        return f"http://127.0.0.1:{self.alertmanager_port}" if self.alertmanager_port else None

    @property
    def stuck_url(self) -> str:
        return f"http://127.0.0.1:{self.stuck_port}"

    @property
    def temporal_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.temporal_metrics_port}/metrics"

    @property
    def cloud_url(self) -> str | None:
        return f"http://127.0.0.1:{self.cloud_port}" if self.cloud_port else None

    @property
    def operator_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.operator_metrics_port}/metrics"

    def dynamic_config(self) -> dict[str, str]:
        """The dev server's local-mode settings for the detector."""
        n = self.project.config.observability.stuck.workflow_task_problems
        return {PROBLEMS_THRESHOLD_KEY: str(n)}

    def child_env(self) -> dict[str, str]:
        """Tracing, JSON logs and link templates for every process ``paved dev`` runs."""
        cfg = self.project.config.observability
        return {
            "PAVED_TRACING": "1",
            "PAVED_TRACE_DIR": str(self.state / "traces"),
            "PAVED_LOG_FORMAT": "json",
            "PAVED_LOGS_URL": cfg.logs_url or f"{self.page_url}/logs?workflow_id={{workflow_id}}",
            "PAVED_TRACE_URL": cfg.trace_url or f"{self.page_url}/traces/{{trace_id}}",
        }

    def processes(self) -> list[Process]:
        root = str(self.project.root)
        py = paved_command()
        out = [
            Process(
                "stuck-detector",
                [
                    *py,
                    "stuck",
                    "--project",
                    root,
                    "--serve",
                    str(self.stuck_port),
                    "--interval",
                    "5",
                    "--ui-url",
                    self.ui_url,
                ],
                "stuck-detector.log",
                f"{self.stuck_url}/healthz",
                f"{self.stuck_url}/metrics",
            ),
            Process(
                "page",
                [
                    *py,
                    "dashboard",
                    "--project",
                    root,
                    "--port",
                    str(self.page_port),
                    "--prometheus",
                    self.prometheus_url or "",
                    "--stuck",
                    self.stuck_url,
                    "--ui-url",
                    self.ui_url,
                ],
                "page.log",
                f"{self.page_url}/healthz",
            ),
        ]
        cloud = self.project.config.observability.cloud_metrics
        if cloud is not None and self.cloud_url:
            cmd = [*py, "observe", "cloud-scrape", "--project", root, "--endpoint", cloud.endpoint,
                   "--api-key-env", cloud.api_key_env, "--interval", str(cloud.interval_seconds),
                   "--port", str(self.cloud_port)]  # fmt: skip
            for ns in cloud.namespaces:
                cmd += ["--namespace", ns]
            out.append(
                Process("cloud-metrics", cmd, "cloud-metrics.log", f"{self.cloud_url}/healthz")
            )
        d = self.state / "prometheus"
        binary = prom.prometheus_binary()
        if self.prometheus_port and binary:
            out.append(
                Process(
                    "prometheus",
                    prom.prometheus_command(
                        binary, d / "prometheus.yml", d / "data", self.prometheus_port
                    ),
                    "prometheus.log",
                    f"{self.prometheus_url}/-/ready",
                )
            )
        am = prom.alertmanager_binary()
        if self.alertmanager_port and am:
            out.append(
                Process(
                    "alertmanager",
                    prom.alertmanager_command(
                        am, d / "alertmanager.yml", d / "am-data", self.alertmanager_port
                    ),
                    "alertmanager.log",
                    f"{self.alertmanager_url}/-/ready",
                )
            )
        return out

    def write_configs(self) -> None:
        """prometheus.yml and the local alertmanager.yml (from the committed files)."""
        d = self.state / "prometheus"
        d.mkdir(parents=True, exist_ok=True)
        committed = self.project.root / gen.OUT_DIR
        rules = committed / gen.RULES_FILE
        am_file = committed / gen.ALERTMANAGER_FILE
        if not rules.exists() or not am_file.exists():
            # Not generated yet: use what the specs say now (and tell the user).
            files = gen.generate(self.project)
            gen_dir = d / "generated"
            for rel, text in files.items():
                p = gen_dir / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(text, encoding="utf-8")
            rules, am_file = (
                gen_dir / gen.OUT_DIR / gen.RULES_FILE,
                gen_dir / gen.OUT_DIR / gen.ALERTMANAGER_FILE,
            )
            self.notes.append(
                "observability/ is not generated: run `paved observe gen` and commit it"
            )
        (d / "prometheus.yml").write_text(
            prom.prometheus_config(
                d / "targets.json",
                [rules],
                f"127.0.0.1:{self.alertmanager_port}" if self.alertmanager_port else None,
            ),
            encoding="utf-8",
        )
        (d / "alertmanager.yml").write_text(
            prom.local_alertmanager_config(
                am_file.read_text(encoding="utf-8"), f"{self.page_url}/api/alerts"
            ),
            encoding="utf-8",
        )
        if not (d / "targets.json").exists():
            (d / "targets.json").write_text("[]", encoding="utf-8")
        # Where everything is, for tools and tests (`paved status` shows dev.json).
        urls = {"page": self.page_url, "stuck": self.stuck_url, "prometheus": self.prometheus_url,
                "alertmanager": self.alertmanager_url, "temporal_metrics": self.temporal_metrics_url,
                "operator_metrics": self.operator_metrics_url, "cloud_metrics": self.cloud_url}  # fmt: skip
        (self.state / "observe.json").write_text(json.dumps(urls, indent=2), encoding="utf-8")

    def targets(self, running: list[tuple[str, str | None]]) -> list[prom.Target]:
        """Scrape targets from ``(process name, health URL)`` of what ``paved dev`` runs.

        Workers (and an operator) serve ``/metrics`` beside ``/healthz``; the proxy's
        health URL is its metrics URL; the stuck detector's is known; the dev server
        exports on ``--metrics-port``. Processes without metrics are left out.
        """
        out = [
            prom.target_from_url("temporal", self.temporal_metrics_url, process="temporal"),
            # The operator runs inside `paved dev` and serves its own /metrics.
            prom.target_from_url("operator", self.operator_metrics_url, process="operator"),
        ]
        for name, health in running:
            url: str | None = None
            if name == "stuck-detector":
                url = f"{self.stuck_url}/metrics"
            elif name == "cloud-metrics" and self.cloud_url:
                url = f"{self.cloud_url}/metrics"
            elif health and (name.startswith(("worker", "operator"))):
                url = health.rsplit("/", 1)[0] + "/metrics"
            elif health and health.endswith("/metrics"):
                url = health
            if url:
                out.append(prom.target_from_url(name.split(" ", 1)[0], url, process=name))
        return out

    def write_targets(self, targets: list[prom.Target]) -> None:
        """Prometheus's file-SD (re-read within 5 s): call again when a process moves."""
        d = self.state / "prometheus"
        d.mkdir(parents=True, exist_ok=True)
        text = prom.file_sd(targets)
        current = d / "targets.json"
        if current.exists() and current.read_text(encoding="utf-8") == text:
            return
        tmp = d / "targets.json.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(d / "targets.json")

    def urls(self) -> dict[str, str]:
        out = {"page (charts, stuck, logs, traces)": self.page_url + "/"}
        if self.prometheus_url:
            out["prometheus"] = self.prometheus_url
        if self.alertmanager_url:
            out["alertmanager"] = self.alertmanager_url
        return out


def local_stack(
    project: specs.Project, *, ui_url: str | None = None, page_port: int | None = None
) -> LocalStack:
    """Choose ports and collect what ``paved dev`` runs for observability."""
    hint = prom.missing_hint()
    stack = LocalStack(
        project=project,
        ui_url=ui_url or project.config.observability.ui_url or "http://127.0.0.1:8233",
        state=project.state_dir,
        page_port=page_port or free_port(),
        stuck_port=free_port(),
        temporal_metrics_port=free_port(),
        prometheus_port=free_port() if prom.prometheus_binary() else None,
        alertmanager_port=free_port()
        if prom.alertmanager_binary() and prom.prometheus_binary()
        else None,
    )
    if hint:
        stack.notes.append(hint)
    cloud = project.config.observability.cloud_metrics
    if cloud is not None:
        if os.environ.get(cloud.api_key_env, "").strip():
            stack.cloud_port = free_port()
        else:
            stack.notes.append(
                f"Temporal Cloud metrics are configured (observability.cloud_metrics) but "
                f"${cloud.api_key_env} is not set: the Cloud scraper is not started; export "
                f"{cloud.api_key_env}=<key of a Metrics Read-Only service account> and restart"
            )
    return stack
