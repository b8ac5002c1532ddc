"""``paved observe gen|check-queries|cloud-scrape`` and ``paved stuck``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from paved import specs


def _project(path: str | None) -> specs.Project:
    return specs.Project.load(Path(path)) if path else specs.Project.find()


project_option = click.option(
    "--project",
    "project_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Project directory (default: nearest parent holding paved.yaml).",
)


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


def register(group: click.Group) -> None:
    group.add_command(observe)
