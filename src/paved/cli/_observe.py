"""``paved observe gen|check-queries|cloud-scrape`` and ``paved stuck``."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from paved._proc import stop_on_signals
from paved.cli._options import load_project as _project
from paved.cli._options import project_option


@click.group()
def observe() -> None:
    """Metrics, alerts and dashboards generated from the specs (see docs/observe.md)."""


@observe.command("gen")
@project_option
@click.option("--check", is_flag=True, help="Write nothing; exit 1 naming stale files.")
def observe_gen(project_dir: str | None, check: bool) -> None:
    """Write observability/: Prometheus rules, Alertmanager routes, Grafana dashboards.

    \b
    From paved.yaml and specs/ (run `paved gen` first):
      observability/prometheus-rules.yml   recording rules and alerts per namespace
                                           and workflow type, labelled owner=<team>
      observability/alertmanager.yml       one route per owning team
      observability/dashboards/*.json      Grafana dashboards per namespace and type
    Validate with `promtool check rules` and `amtool check-config`.
    """
    from paved import observe as obs

    project = _project(project_dir)
    t0 = time.perf_counter()
    files = obs.generate(project)
    if check:
        bad = obs.stale(project, files)
        if bad:
            for rel in bad:
                click.echo(f"stale: {rel}")
            click.secho(
                "observability files are stale: run `paved observe gen` and commit observability/",
                fg="red",
                err=True,
            )
            sys.exit(1)
        click.echo(f"observability files up to date ({time.perf_counter() - t0:.2f}s)")
        return
    changed = obs.write(project, files)
    for rel in changed:
        click.echo(f"wrote {rel}")
    if not changed:
        click.echo("observability files unchanged")


@click.command()
@project_option
@click.option(
    "--env",
    "environment",
    default="dev",
    show_default=True,
    help="Environment whose physical namespaces are scanned.",
)
@click.option(
    "--ui-url",
    default=None,
    help="Temporal UI base URL for links (default: observability.ui_url, else the local UI).",
)
@click.option(
    "--max-describes",
    type=int,
    default=5000,
    show_default=True,
    help="DescribeWorkflowExecution budget per pass (oldest runs first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option(
    "--serve",
    "serve_port",
    type=int,
    default=None,
    help="Keep scanning and serve /metrics, /findings on this port.",
)
@click.option(
    "--interval",
    type=float,
    default=15.0,
    show_default=True,
    help="Seconds between passes with --serve.",
)
def stuck(
    project_dir: str | None,
    environment: str,
    ui_url: str | None,
    max_describes: int,
    as_json: bool,
    serve_port: int | None,
    interval: float,
) -> None:
    """Find stuck workflows: each with its owner, reason, last failure and a UI link.

    \b
    Reasons:
      workflow_task_failing  Temporal's TemporalReportedProblems: the workflow task
                             keeps failing (a bug, or non-determinism after a deploy)
      activity_retrying      a pending activity past observability.stuck.max_activity_attempts
      heartbeat_stale        a started activity silent past heartbeat_stale_seconds
      no_poller              its task queue has a backlog and no worker polls it
      running_long           running far longer than its type's usual (p95) duration
    Connects like the workers (PAVED_ADDRESS, PAVED_API_KEY, PAVED_VIA_PROXY). The last
    failure is shown decrypted only if your principal holds `decode` on the namespace.
    Exit code 1 when something is stuck. With --serve it runs as an exporter
    (paved_stuck_workflows{namespace,workflow_type,owner,reason}); `paved dev` runs it so.
    """
    import asyncio
    import json

    from paved.observe import detector_for, stuck_lines, stuck_serve

    project = _project(project_dir)

    async def main() -> int:
        async def make() -> Any:
            return await detector_for(
                project, environment=environment, ui_url=ui_url, max_describes=max_describes
            )

        if serve_port is not None:
            stop = stop_on_signals()
            click.echo(
                f"paved stuck: serving http://127.0.0.1:{serve_port}/metrics every {interval:.0f}s"
            )
            await stuck_serve(make, project.specs(), serve_port, interval, stop)
            return 0
        scan = await (await make()).scan()
        if as_json:
            click.echo(json.dumps([f.as_dict() for f in scan.findings], indent=2))
        else:
            for line in stuck_lines(scan):
                click.echo(line)
        return 1 if scan.findings else 0

    sys.exit(asyncio.run(main()))


@observe.command("check-queries")
@project_option
@click.option(
    "--prometheus",
    "prometheus_url",
    default="http://127.0.0.1:9090",
    show_default=True,
    help="A running Prometheus (paved dev prints its URL).",
)
@click.option("--require-data", is_flag=True, help="Also fail when a query returns no series.")
def observe_check_queries(project_dir: str | None, prometheus_url: str, require_data: bool) -> None:
    """Run every dashboard panel's query: through a PromQL parser, then on a live Prometheus.

    Grafana itself does not run here; this is how the generated dashboards are
    validated: each query parses, executes without error, and (with --require-data)
    returns series.
    """
    import promql_parser

    from paved import observe as obs

    project = _project(project_dir)
    queries = obs.panel_queries(obs.generate(project))
    bad = 0
    for dash, title, expr in queries:
        try:
            promql_parser.parse(expr)
        except ValueError as e:
            bad += 1
            click.secho(f"PARSE {dash} / {title}: {e}\n  {expr}", fg="red")
    for c in obs.check_queries(prometheus_url, queries):
        if c.error or (require_data and c.series == 0):
            bad += 1
            what = "ERROR" if c.error else "EMPTY"
            click.secho(
                f"{what} {c.dashboard} / {c.panel}: {c.error or 'no series'}\n  {c.expr}", fg="red"
            )
        else:
            click.echo(f"ok    {c.series:>3} series  {c.dashboard} / {c.panel}")
    if bad:
        sys.exit(1)


@observe.command("cloud-scrape")
@project_option
@click.option(
    "--endpoint",
    default="https://metrics.temporal.io",
    show_default=True,
    help="Temporal Cloud OpenMetrics endpoint.",
)
@click.option(
    "--api-key-env",
    default="TEMPORAL_CLOUD_METRICS_API_KEY",
    show_default=True,
    help="Environment variable holding the metrics API key (never a flag: it would land in shell history).",
)
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    help="Cloud namespaces to fetch (wildcards allowed); default: all.",
)
@click.option(
    "--interval",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds between polls (the account may poll 180 times an hour).",
)
@click.option(
    "--port",
    type=int,
    default=9464,
    show_default=True,
    help="Serve the relabelled metrics on 127.0.0.1:PORT/metrics.",
)
def observe_cloud_scrape(
    project_dir: str | None,
    endpoint: str,
    api_key_env: str,
    namespaces: tuple[str, ...],
    interval: float,
    port: int,
) -> None:
    """Poll Temporal Cloud's OpenMetrics endpoint, add owners from the specs, re-serve for Prometheus.

    \b
    Every series gets paved_namespace and owner labels (the Cloud namespace
    <name>.<account> is mapped through specs/namespaces.yaml; series with
    temporal_workflow_type get that type's worker owner). Scrape it with
    honor_timestamps: true. Create the key as a service account with the
    "Metrics Read-Only" role.
    """
    import asyncio
    import os

    from paved import observe as obs
    from paved._errors import RuntimeSetupError

    key = os.environ.get(api_key_env, "").strip()
    if not key:
        raise RuntimeSetupError(
            f"no Temporal Cloud metrics API key: ${api_key_env} is empty",
            code="PAVED-CLOUD-METRICS-KEY",
            fix=f"export {api_key_env}=<key of a service account with the Metrics Read-Only role>",
        )
    project = _project(project_dir)
    scraper = obs.CloudScraper(
        api_key=key,
        owners=obs.Owners.from_specs(project.specs()),
        endpoint=endpoint,
        namespaces=list(namespaces),
        interval=interval,
    )

    async def main() -> None:
        stop = stop_on_signals()
        click.echo(
            f"polling {endpoint} every {interval:.0f}s; serving http://127.0.0.1:{port}/metrics"
        )
        await scraper.run(port, stop)

    asyncio.run(main())


@click.command("dashboard")
@project_option
@click.option("--port", type=int, default=8290, show_default=True)
@click.option("--prometheus", "prometheus_url", default="http://127.0.0.1:9090", show_default=True)
@click.option(
    "--stuck", "stuck_url", default=None, help="Base URL of `paved stuck --serve` (for /findings)."
)
@click.option(
    "--ui-url", default="http://127.0.0.1:8233", show_default=True, help="Temporal UI, for links."
)
def dashboard(
    project_dir: str | None, port: int, prometheus_url: str, stuck_url: str | None, ui_url: str
) -> None:
    """Serve the local page: per namespace and workflow type, charts, stuck workflows, logs, traces.

    `paved dev` runs it for you (with its Prometheus and stuck detector); run it by
    hand to point it at another Prometheus.
    """
    import asyncio

    from paved.dashboard import PageConfig, serve_page

    project = _project(project_dir)
    cfg = PageConfig(
        project=project,
        prometheus_url=prometheus_url,
        stuck_url=stuck_url,
        ui_url=ui_url,
        logs_dir=project.state_dir / "logs",
        traces_dir=project.state_dir / "traces",
    )

    async def main() -> None:
        stop = stop_on_signals()
        click.echo(f"paved page on http://127.0.0.1:{port}/")
        await serve_page(cfg, port, stop)

    asyncio.run(main())


def register(group: click.Group) -> None:
    group.add_command(observe)
    group.add_command(stuck)
    group.add_command(dashboard)
