"""``paved operator run|plan|apply``: thin commands over ``paved.operator.Operator``."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from paved import operator as op_api
from paved._proc import stop_on_signals
from paved.cli._options import load_project as _project
from paved.cli._options import project_option

if TYPE_CHECKING:
    from paved.operator import Change, OperatorSettings, PassResult

_SYMBOL = {"CREATE": "+", "UPDATE": "~", "DEPRECATE": "-", "DELETE": "x", "HOLD": "!"}


def _duration(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise click.BadParameter(f"{text!r}: use a duration like 7d, 12h, 30m or 0")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


F = TypeVar("F", bound=Callable[..., Any])


def _options(f: F) -> F:
    for opt in reversed(
        [
            project_option,
            click.option(
                "--temporal",
                "temporal",
                default=lambda: os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
                show_default="$TEMPORAL_ADDRESS or 127.0.0.1:7233",
                help="Temporal frontend (dev server or cluster) whose namespaces to reconcile. "
                "API key from $TEMPORAL_API_KEY.",
            ),
            click.option("--tls", is_flag=True, help="Connect to Temporal with TLS."),
            click.option(
                "--clusters",
                is_flag=True,
                help="Reconcile every cluster paved.yaml declares under `clusters:` (each "
                "physical namespace in its region's Temporal, workers in each Kubernetes "
                "cluster) instead of the one Temporal at --temporal.",
            ),
            click.option(
                "--policy-out",
                type=click.Path(dir_okay=False),
                default=None,
                help="Write the proxies' effective policy (policy.yaml + the specs' teams and "
                "worker principals) to this file; running proxies reload it.",
            ),
            click.option(
                "--grace",
                default="7d",
                show_default=True,
                help="How long a namespace removed from the specs stays deprecated before deletion.",
            ),
            click.option(
                "--force",
                is_flag=True,
                help="Delete deprecated namespaces even with open workflows (never on a failed read).",
            ),
        ]
    ):
        f = opt(f)
    return f


def _settings(
    temporal: str,
    tls: bool,
    clusters: bool,
    policy_out: str | None,
    grace: str,
    force: bool,
    **kw: object,
) -> OperatorSettings:
    return op_api.OperatorSettings(
        temporal_address=temporal,
        temporal_tls=tls,
        clusters=clusters,
        temporal_api_key=os.environ.get("TEMPORAL_API_KEY") or None,
        policy_out=Path(policy_out).resolve() if policy_out else None,
        grace_seconds=_duration(grace),
        force=force,
        **kw,  # type: ignore[arg-type]
    )


def _fmt_spec(spec: object) -> str:
    if isinstance(spec, dict):
        if len(spec) > 8:  # a whole Kubernetes object: its size, not every leaf
            return f"({len(spec)} fields)"
        return " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in spec.items())
    return ""


def _line(c: Change) -> str:
    sym = _SYMBOL.get(c.op.name, " ")
    head = f"  {sym} {c.kind} {c.name}"
    if c.op == op_api.Op.CREATE and c.desired is not None:
        return f"{head}  {_fmt_spec(c.desired.spec)}"
    if c.op == op_api.Op.UPDATE:
        return f"{head}  " + ", ".join(
            f"{f.field}: {json.dumps(f.actual, default=str)} -> {json.dumps(f.desired, default=str)}"
            for f in c.fields
        )
    return f"{head}  ({c.op.value}: {c.reason})"


def print_plan(result: PassResult, *, verbose: bool = False) -> None:
    """Terraform-like: + create, ~ update, - deprecate, x delete, ! held."""
    counts = {op: 0 for op in op_api.Op}
    for t in result.targets:
        n = len(t.changes)
        shown = [c for c in t.changes if c.op != op_api.Op.NONE or verbose]
        in_sync = sum(1 for c in t.changes if c.op == op_api.Op.NONE)
        click.echo(f"{t.name}: {n} objects, {in_sync} in sync")
        if t.read_error:
            click.secho(f"  ! {t.read_error}", fg="red")
        for c in shown:
            counts[c.op] += 1
            color = {"+": "green", "~": "yellow", "-": "magenta", "x": "red", "!": "cyan"}.get(
                _SYMBOL.get(c.op.name, " ")
            )
            click.secho(_line(c), fg=color)
    click.echo(
        f"Plan: {counts[op_api.Op.CREATE]} to create, {counts[op_api.Op.UPDATE]} to update, "
        f"{counts[op_api.Op.DEPRECATE]} to deprecate, {counts[op_api.Op.DELETE]} to delete; "
        f"{counts[op_api.Op.HOLD]} held ({result.seconds:.2f}s)."
    )


@click.group()
def operator() -> None:
    """Reconcile the specs into namespaces, search attributes and the proxies' policy.

    \b
    The operator reads specs/ (written by `paved gen`), paved.yaml and
    policy.yaml, reads what exists in Temporal, and makes it match: it
    registers each physical namespace (logical x region x environment),
    updates retention, description and owner data, adds and removes search
    attributes, and writes the proxies' policy. It only ever changes what it
    created (marked in the namespace data). A namespace removed from the specs
    is marked deprecated, and deleted after --grace, only if no workflow is
    still open (unless --force), never after a failed read.

    \b
      paved operator plan              what would change (exit 1 if anything: for CI)
      paved operator apply --once      converge now, then exit
      paved operator run               keep converging (watches the files; one
                                       operator acts, others stand by: --lease)
    Status: `paved status`; metrics: `run --metrics-port`.
    """


@operator.command()
@_options
@click.option("--all", "verbose", is_flag=True, help="List objects in sync too.")
def plan(project_dir: str | None, verbose: bool, **kw: object) -> None:
    """Print the diff between the specs and what exists; write nothing.

    Exit 0: in sync. Exit 1: drift (something to create, update, deprecate or
    delete). Exit 2: a target could not be read (nothing can be concluded).
    """
    import asyncio

    op = op_api.Operator(_project(project_dir), _settings(**kw))  # type: ignore[arg-type]
    result = asyncio.run(op.plan())
    print_plan(result, verbose=verbose)
    if any(t.read_error for t in result.targets):
        sys.exit(2)
    sys.exit(1 if result.drift else 0)


@operator.command()
@_options
@click.option("--once", is_flag=True, required=True, help="Converge, then exit (required).")
@click.option(
    "--timeout", default=120.0, show_default=True, help="Give up retrying after this many seconds."
)
@click.option(
    "--lease",
    default=lambda: os.environ.get("PAVED_OPERATOR_LEASE"),
    help="redis://host:port/db for a Redis lease shared by operators on several machines "
    "(default: $PAVED_OPERATOR_LEASE, else a file lock in .paved/operator/).",
)
def apply(
    project_dir: str | None, once: bool, timeout: float, lease: str | None, **kw: object
) -> None:
    """Apply the plan now (taking the lease), retry failed objects, then exit.

    Exit 0 when converged, 1 when objects are left in error or held.
    """
    import asyncio

    op = op_api.Operator(_project(project_dir), _settings(lease_url=lease, **kw))  # type: ignore[arg-type]
    result = asyncio.run(op.apply_once(timeout=timeout))
    print_plan(result)
    errors = [o for t in result.targets for o in t.objects if o.state in ("error", "waiting")]
    for o in errors[:20]:
        click.secho(f"  error {o.kind} {o.name}: {o.last_error or o.reason}", fg="red", err=True)
    click.echo(
        f"applied: {op.writes} writes in {op.passes} passes, {result.errors} errors left; "
        "status: paved status"
    )
    sys.exit(0 if not errors and not any(t.read_error for t in result.targets) else 1)


@operator.command()
@_options
@click.option(
    "--lease",
    default=lambda: os.environ.get("PAVED_OPERATOR_LEASE"),
    help="redis://host:port/db: one operator acts, the others stand by "
    "(default: $PAVED_OPERATOR_LEASE, else a file lock in .paved/operator/).",
)
@click.option(
    "--lease-ttl",
    default=15.0,
    show_default=True,
    help="Seconds; a dead holder's lease expires after it.",
)
@click.option(
    "--metrics-port", type=int, default=None, help="Serve Prometheus metrics on this port."
)
@click.option("--resync", default="60s", show_default=True, help="Full pass at least this often.")
@click.option("--concurrency", default=16, show_default=True, help="Parallel writes per phase.")
def run(
    project_dir: str | None,
    lease: str | None,
    lease_ttl: float,
    metrics_port: int | None,
    resync: str,
    concurrency: int,
    **kw: object,
) -> None:
    """Reconcile continuously: on every change of the specs or policy, on retry, and on resync."""
    import asyncio

    settings = _settings(
        lease_url=lease,
        lease_ttl=lease_ttl,
        metrics_port=metrics_port,
        resync_seconds=_duration(resync),
        concurrency=concurrency,
        **kw,  # type: ignore[arg-type]
    )
    op = op_api.Operator(_project(project_dir), settings)

    async def main() -> None:
        stop = stop_on_signals()
        click.echo(
            f"paved operator: {', '.join(t.name for t in op.targets)}; holder {op.lease.holder}"
        )

        def report(r: PassResult) -> None:
            states: dict[str, int] = {}
            for t in r.targets:
                for o in t.objects:
                    states[o.state] = states.get(o.state, 0) + 1
            summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no objects"
            click.echo(
                f"pass {op.passes}: {r.writes} writes, {r.errors} errors; {summary} ({r.seconds:.2f}s)"
            )

        await op.run(stop, on_pass=report)

    asyncio.run(main())


def register(cli: click.Group) -> None:
    cli.add_command(operator)
