"""``paved observe gen|check-queries|cloud-scrape`` and ``paved stuck``."""

from __future__ import annotations

import sys
import time

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
        det = await detector_for(
            project, environment=environment, ui_url=ui_url, max_describes=max_describes
        )
        if serve_port is not None:
            stop = stop_on_signals()
            click.echo(
                f"paved stuck: serving http://127.0.0.1:{serve_port}/metrics every {interval:.0f}s"
            )
            await stuck_serve(det, serve_port, interval, stop)
            return 0
        scan = await det.scan()
        if as_json:
            click.echo(json.dumps([f.as_dict() for f in scan.findings], indent=2))
        else:
            for line in stuck_lines(scan):
                click.echo(line)
        return 1 if scan.findings else 0

    sys.exit(asyncio.run(main()))


def register(group: click.Group) -> None:
    group.add_command(observe)
    group.add_command(stuck)
