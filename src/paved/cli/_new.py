"""``paved new worker``: ask a few questions, then scaffold a ready managed worker.

The questions (name, owner, namespace, and tier and retention for a new
namespace) are asked only for values not given as flags, and only when a
person is at the terminal; scripts pass flags (``--yes`` never asks) and get a
clear error for a missing one. The work is done by ``paved.scaffold``; the
Kubernetes manifests by ``paved.operator`` (the two services never import each
other, so this command hands the one to the other).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from paved import operator, scaffold, sdk, specs
from paved._errors import PavedError, ProjectError


def _validated(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Turn a scaffold check into a click value_proc, so a bad answer is asked again."""

    def proc(value: Any) -> Any:
        try:
            return check(value)
        except PavedError as e:
            raise click.BadParameter(e.message + (f" ({e.fix})" if e.fix else "")) from None

    return proc


def _tier(v: Any) -> int:
    try:
        return scaffold.check_tier(int(v))
    except ValueError:
        raise ProjectError(
            f"tier {v!r} is not a number", code="PAVED-NEW-TIER", fix="use 0, 1, 2 or 3"
        ) from None


def _missing(flag: str, what: str) -> ProjectError:
    return ProjectError(
        f"{what} is required: pass {flag} (no prompts: --yes was given or stdin is not a terminal)",
        code="PAVED-NEW-MISSING",
        fix=f"add {flag} VALUE, or run `paved new worker` in a terminal to be asked",
    )


@click.group()
def new() -> None:
    """Scaffold new parts of a Paved project."""


@new.command("worker")
@click.option("--name", help="Worker name: lower-case letters, digits and '-' (e.g. image-gen).")
@click.option("--owner", help="Owning team handle (labels, alerts), e.g. team-images.")
@click.option(
    "--namespace", help="Logical namespace the worker serves (created in paved.yaml if new)."
)
@click.option(
    "--tier",
    type=click.IntRange(0, 3),
    help=f"Tier of a new namespace: 0 critical .. 3 best effort [{sdk.DEFAULT_TIER}].",
)
@click.option(
    "--retention",
    help=f"History retention of a new namespace, e.g. 7d or 72h [{specs.DEFAULT_RETENTION}].",
)
@click.option(
    "--project",
    "project_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Project directory (default: nearest parent holding paved.yaml, else the current one).",
)
@click.option("--yes", "-y", is_flag=True, help="Never prompt: take flags and defaults only.")
@click.option(
    "--interactive/--no-interactive",
    default=None,
    help="Force prompting on or off (default: prompt when stdin is a terminal).",
)
def worker(
    name: str | None,
    owner: str | None,
    namespace: str | None,
    tier: int | None,
    retention: str | None,
    project_dir: str | None,
    yes: bool,
    interactive: bool | None,
) -> None:
    """Generate a ready managed worker: code stubs, tests, specs, image and manifests.

    \b
    Creates <pkg>/ (workflows, activities, models), tests/test_<pkg>.py,
    deploy/<name>/Dockerfile and deploy/<name>/k8s/*.yaml, adds the worker (and
    its namespace) to paved.yaml and runs `paved gen`. Refuses to overwrite an
    existing worker, package or deploy directory.
    """
    root = Path(project_dir).resolve() if project_dir else scaffold.find_root()
    ask = (not yes and sys.stdin.isatty()) if interactive is None else interactive
    config = specs.Project.load(root).config if (root / specs.PROJECT_FILE).exists() else None

    def value(
        current: Any,
        flag: str,
        what: str,
        check: Callable[[Any], Any],
        default: Any = None,
        script_default: Any = None,
    ) -> Any:
        if current is not None:
            return check(current)
        if ask:
            return click.prompt(
                what[0].upper() + what[1:], default=default, value_proc=_validated(check)
            )
        if script_default is not None:
            return script_default
        raise _missing(flag, what)

    def available(n: str) -> str:
        scaffold.check_name("worker", n)
        scaffold.check_available(root, n)
        return n

    name = value(name, "--name", "worker name", available)
    owner = value(owner, "--owner", "owner", scaffold.check_owner)
    known = sorted(config.namespaces) if config else []
    hint = f" (existing: {', '.join(known)})" if known else ""
    namespace = value(
        namespace,
        "--namespace",
        f"namespace{hint}",
        lambda n: scaffold.check_name("namespace", n),
        default=known[0] if len(known) == 1 else None,  # only offered when asking
    )
    if config is not None and namespace in config.namespaces:
        ns = config.namespaces[namespace]
        for flag, given, actual in (
            ("--tier", tier, ns.tier),
            ("--retention", retention, ns.retention),
        ):
            if given is not None and str(given) != str(actual):
                click.secho(
                    f"note: namespace {namespace!r} exists with {flag.lstrip('-')} {actual}; {flag} {given} "
                    "is ignored (edit paved.yaml to change it)",
                    fg="yellow",
                    err=True,
                )
        tier, retention = ns.tier, str(ns.retention)
    else:
        tier = value(
            tier,
            "--tier",
            "tier (0 critical .. 3 best effort)",
            _tier,
            default=sdk.DEFAULT_TIER,
            script_default=sdk.DEFAULT_TIER,
        )
        retention = value(
            retention,
            "--retention",
            "retention (e.g. 7d, 72h)",
            scaffold.check_retention,
            default=specs.DEFAULT_RETENTION,
            script_default=specs.DEFAULT_RETENTION,
        )

    result = scaffold.scaffold_worker(
        scaffold.ScaffoldRequest(
            root=root, name=name, owner=owner, namespace=namespace, tier=tier, retention=retention
        ),
        manifests=lambda spec, project: operator.render_k8s(spec, project=project),
    )
    click.secho(f"created worker {name!r} in {result.root}", fg="green")
    for p in result.created:
        click.echo(f"  created   {p}")
    for p in result.modified:
        click.echo(f"  updated   {p}")
    for p in result.specs_written:
        if p not in result.created:
            click.echo(f"  generated {p}")
    for note in result.notes:
        click.secho(f"note: {note}", fg="yellow")
    assert result.spec is not None
    queues = ", ".join(f"{q.name} ({q.kind})" for q in result.spec.queues)
    click.echo(f"queues: {queues}")
    click.echo("next:")
    for cmd, why in scaffold.next_steps(result):
        click.echo(f"  {cmd}")
        click.secho(f"      {why}", dim=True)


def register(group: click.Group) -> None:
    """Add ``paved new`` (and its ``worker`` command) to ``group``."""
    group.add_command(new)
