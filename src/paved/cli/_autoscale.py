"""``paved autoscale explain WORKER``: the live signals, the decision and its reason."""

from __future__ import annotations

import click

from paved.cli._options import load_project, project_option


@click.group()
def autoscale() -> None:
    """Autoscaling of managed workers on Temporal's own signals (docs/autoscale.md).

    \b
    A worker is autoscaled when paved.yaml gives it a policy:
      workers:
        render:
          autoscaler: {kind: keda, min_replicas: 1, max_replicas: 4,
                       target_slot_utilization: 0.8, scale_down_after_seconds: 60}
    `paved dev` then scales its local replicas; in Kubernetes the operator renders
    the same policy as a KEDA ScaledObject (kind: keda) or an HPA (kind: hpa).
    """


@autoscale.command("explain")
@click.argument("worker")
@project_option
@click.option("--env", "environment", default="dev", show_default=True,
              help="Environment `paved dev` runs.")  # fmt: skip
@click.option("--sample", "sample_seconds", type=float, default=2.0, show_default=True,
              help="Seconds between the two readings rates are computed from.")  # fmt: skip
def explain(worker: str, project_dir: str | None, environment: str, sample_seconds: float) -> None:
    """Print WORKER's signals now, what its policy decides, and why.

    \b
    Reads a running `paved dev`: per task queue the backlog, its age, add and
    dispatch rates (Temporal's DescribeTaskQueue), slots used and free (worker
    heartbeats, else the replicas' /metrics), CPU per replica, refusals of the
    dependency (activity failures marked 429/busy/rate limit) and the proxy's
    rate limiting of the namespace. Then the decision:
      UP / DOWN     scale (down only after the quiet window; replicas drain)
      HOLD          more replicas would not help: CPU-starved replicas (tune
                    the worker), the namespace at its rate limit (raise it),
                    the dependency refusing (let retries back off)
      WAIT          demand fell; the quiet window has not passed yet
      STEADY        the replicas fit the demand
    A signal that could not be read is printed as MISSING, never guessed.

    \b
    Example:
      paved autoscale explain imagegen-gpu
    """
    import asyncio

    from paved.autoscale import explain as run_explain

    project = load_project(project_dir)
    lines = asyncio.run(
        run_explain(project, worker, environment=environment, sample_seconds=sample_seconds)
    )
    for line in lines:
        click.echo(line)


def register(cli: click.Group) -> None:
    cli.add_command(autoscale)
