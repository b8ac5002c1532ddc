"""``paved gen``, ``paved worker run``, ``paved dev``, ``paved status``."""

from __future__ import annotations

import sys
import time

import click

from paved import specs
from paved.cli._options import load_project as _project
from paved.cli._options import project_option


@click.command()
@project_option
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 with a diff if the committed specs are stale.",
)
def gen(project_dir: str | None, check: bool) -> None:
    """Generate specs/ (namespaces, workflows, workers) from the code's decorators.

    Imports every module of the packages listed in paved.yaml, validates the
    placements (unknown namespaces, duplicate names, queue conflicts) and writes
    deterministic YAML meant to be committed.
    """
    project = _project(project_dir)
    t0 = time.perf_counter()
    files = project.generate()
    if check:
        diff = project.diff_specs(files)
        if diff:
            click.echo(diff, nl=False)
            click.secho("specs are stale: run `paved gen` and commit specs/", fg="red", err=True)
            sys.exit(1)
        click.echo(f"specs up to date ({time.perf_counter() - t0:.2f}s)")
        _observability(project, check=True)
        return
    written = project.write_specs(files)
    for p in written:
        click.echo(f"wrote {p.relative_to(project.root)}")
    if not written:
        click.echo("specs unchanged")
    _observability(project, check=False)
    click.echo(f"done in {time.perf_counter() - t0:.2f}s")


def _observability(project: specs.Project, *, check: bool) -> None:
    """Once a project has observability/ (`paved observe gen`), `paved gen` keeps it current."""
    from paved import observe

    if not (project.root / observe.OUT_DIR).is_dir():
        return
    files = observe.generate(project)
    if check:
        stale = observe.stale(project, files)
        if stale:
            click.echo("\n".join(f"stale: {rel}" for rel in stale))
            click.secho(
                "observability/ is stale: run `paved gen` and commit it", fg="red", err=True
            )
            sys.exit(1)
        return
    for rel in observe.write(project, files):
        click.echo(f"wrote {rel}")


@click.group()
def worker() -> None:
    """Run managed workers (bootstrapped from specs/workers.yaml)."""


@worker.command("run")
@click.argument("name")
@project_option
@click.option(
    "--http-port",
    type=int,
    default=0,
    show_default=True,
    help="Port for /healthz and /metrics (0 = any free port, -1 = off).",
)
@click.option("--log-level", default="INFO", show_default=True)
def worker_run(name: str, project_dir: str | None, http_port: int, log_level: str) -> None:
    """Run worker NAME: registers every workflow and activity of its queues.

    \b
    Connects to PAVED_ADDRESS (default localhost:7233) for PAVED_REGION /
    PAVED_ENV (physical namespace <logical>-<env>-<region>); behind a Paved
    proxy set PAVED_VIA_PROXY=1 and PAVED_API_KEY. SIGTERM drains in-flight
    activities before exiting.
    """
    from paved.worker import serve_forever

    serve_forever(_project(project_dir), name, http_port=http_port, log_level=log_level)


@click.command()
@project_option
@click.option(
    "--port",
    type=int,
    default=7233,
    show_default=True,
    help="Where workers, clients and the temporal CLI connect: the proxy (Temporal itself "
    "then listens on an internal port), or Temporal with --no-proxy.",
)
@click.option("--ui-port", type=int, default=8233, show_default=True, help="Temporal Web UI port.")
@click.option("--no-ui", is_flag=True, help="Run the dev server headless.")
@click.option(
    "--no-proxy",
    is_flag=True,
    help="No proxy: workers talk to Temporal directly and encrypt with the SDK codec.",
)
@click.option(
    "--env",
    "environment",
    default="dev",
    show_default=True,
    help="Environment whose physical namespaces are created locally.",
)
@click.option(
    "--max-failed-starts",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="A worker or service that exits this many times in a row is held (not restarted, "
    "PAVED-SETUP-UNHEALTHY with its error) until a file of the project changes.",
)
@click.option(
    "--check-specs",
    is_flag=True,
    help="Refuse to start (and to reload) when specs/ is stale instead of writing it "
    "(PAVED-SETUP-SPECS-STALE, with the `paved gen` fix).",
)
def dev(
    project_dir: str | None,
    port: int,
    ui_port: int,
    no_ui: bool,
    no_proxy: bool,
    environment: str,
    max_failed_starts: int,
    check_specs: bool,
) -> None:
    """Run the whole platform locally: Temporal, proxy, codec server, workers, services.

    \b
    Starts the real Temporal dev server (SQLite in .paved/, WAL, UI on) and
    creates the physical namespaces of the local environment; puts the Paved
    proxy on --port in front of it (authentication, routing, encryption); runs
    the codec server the UI uses to show payloads; runs every managed worker
    from specs/workers.yaml as its own process (restarted if it crashes) and
    the project's services from paved.yaml; then prints the URLs.
    Specs are regenerated from the code at start and on every save (written,
    one line says what changed; --check-specs refuses instead), and a save
    restarts only the workers whose code or spec changed.
    Credentials: a generated dev policy (.paved/dev-policy.yaml, key in
    .paved/dev-api-key), or the project's policy.yaml with PAVED_API_KEY.
    Ctrl-C stops everything it started.
    """
    import asyncio

    from paved import dev as dev_mod

    options = dev_mod.DevOptions(
        port=port,
        ui_port=None if no_ui else ui_port,
        environment=environment,
        use_proxy=not no_proxy,
        max_failed_starts=max_failed_starts,
        check_specs=check_specs,
    )
    platform = dev_mod.assemble(_project(project_dir), options, echo=click.echo)
    asyncio.run(platform.run())


@click.command()
@project_option
def status(project_dir: str | None) -> None:
    """Show the project's namespaces and workers, and what `paved dev` runs.

    Reads specs/ and, if `paved dev` is running for this project, checks that
    each process it started is alive and each worker answers /healthz.
    """
    from paved.dev import status_at

    for line in status_at(project_dir):
        click.echo(line)


def register(group: click.Group) -> None:
    group.add_command(gen)
    group.add_command(worker)
    group.add_command(dev)
    group.add_command(status)
