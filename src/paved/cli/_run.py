"""``paved run WORKFLOW``: parse the flags, call :func:`paved.dev.run_workflow`, print."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from paved.cli._options import load_project as _project
from paved.cli._options import project_option


@click.command(
    "run",
    epilog="""\b
Examples (in a project whose `paved dev` runs in another terminal):
  paved run ImageGenWorkflow --input '{"text": "hello"}'
  paved run ImageGenWorkflow --input-file request.json --id my-first-run
  paved run ImageGenWorkflow --input '{"text": "hi"}' --no-wait
""",
)
@click.argument("workflow")
@click.option(
    "--input",
    "input_json",
    metavar="JSON",
    help="The workflow's input as JSON: the value of its one parameter (a model is a JSON "
    "object), or an array with one item per parameter.",
)
@click.option(
    "--input-file",
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    help="Read the JSON input from a file ('-' = stdin).",
)
@click.option("--id", "workflow_id", help="Workflow id (default: <WORKFLOW>-<8 hex digits>).")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Follow the run to its end and print its result, or return once it has started.",
)
@project_option
def run(
    workflow: str,
    input_json: str | None,
    input_file: Path | None,
    workflow_id: str | None,
    wait: bool,
    project_dir: str | None,
) -> None:
    """Start workflow WORKFLOW (its type name) and print its result.

    \b
    1. Looks up its namespace and task queue in specs/workflows.yaml
       (written by `paved gen`).
    2. Validates --input against the workflow's run() parameters (the
       Pydantic models in your code) before sending anything: a bad field is
       printed like a Pydantic error and nothing is started.
    3. Starts it through the running `paved dev` of this project, with its
       local dev key (no PAVED_API_KEY needed; it says which principal it
       acts as). PAVED_ADDRESS / PAVED_API_KEY, when set, win.
    4. Prints one line per history event as it happens, then the decoded
       result (exit 0) or the decoded failure: message, type and cause
       chain (exit 1). The result goes to stdout, everything else to
       stderr. Exit 2: nothing was started (unknown workflow, bad input,
       no `paved dev`).
    """
    from paved import dev

    if input_json is not None and input_file is not None:
        raise click.UsageError("give --input or --input-file, not both")
    if input_file is not None:
        input_json = (
            sys.stdin.read() if str(input_file) == "-" else input_file.read_text(encoding="utf-8")
        )
    req = dev.RunRequest(workflow, input_json=input_json, workflow_id=workflow_id, wait=wait)
    project = _project(project_dir)
    try:
        out = dev.run_workflow(project, req, echo=lambda line: click.echo(line, err=True))
    except KeyboardInterrupt:
        click.echo("stopped following; the workflow keeps running", err=True)
        sys.exit(130)
    if out.ui_url:
        click.echo(f"ui: {out.ui_url}", err=True)
    if out.status == "started":
        click.echo(f"started {workflow}: id {out.workflow_id}, run {out.run_id}", err=True)
        click.echo(
            f"  follow it: paved temporal workflow show -n {out.namespace} -w {out.workflow_id} "
            "--follow",
            err=True,
        )
        click.echo(out.workflow_id)
        return
    if out.status == "completed":
        click.secho(f"{workflow} completed (id {out.workflow_id})", fg="green", err=True)
        click.echo(json.dumps(out.result, indent=2, ensure_ascii=False))
        return
    click.secho(f"{workflow} {out.status} (id {out.workflow_id})", fg="red", err=True)
    for depth, (kind, typ, message) in enumerate(out.failure):
        lead = "  " * depth + ("caused by " if depth else "")
        click.echo(f"{lead}{kind}{f' [{typ}]' if typ else ''}: {message}", err=True)
    if out.stack_trace:
        click.secho("stack trace of the innermost failure:", dim=True, err=True)
        lines = [ln for ln in out.stack_trace.splitlines() if ln.strip()]
        for line in lines[-8:]:
            click.secho(f"  {line}", dim=True, err=True)
    sys.exit(1)


def register(group: click.Group) -> None:
    """Add ``paved run`` to ``group``."""
    group.add_command(run)
