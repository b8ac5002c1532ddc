"""PromQL for Paved's metric sources, in one place: rules, dashboards and the page use these.

The sources (all scraped by the Prometheus ``paved dev`` runs, or a team's own):

- managed workers' ``/metrics``: the Core SDK's metrics (``temporal_workflow_completed``,
  ``temporal_workflow_task_execution_failed{failure_reason}``,
  ``temporal_*_schedule_to_start_latency`` histograms, slots, sticky cache), with the
  *physical* namespace in ``namespace``; plus ``paved_worker_slot_utilization``;
- the proxy: ``paved_proxy_requests_total{namespace=<logical>,code}``,
  ``paved_proxy_rate_limited_total{namespace=<physical>,bucket}``;
- the stuck detector's exporter: ``paved_stuck_workflows{namespace=<logical>,
  workflow_type,owner,reason}`` and the task queues' backlog from
  ``DescribeTaskQueue`` (``paved_task_queue_backlog``, ``..._backlog_age_seconds``,
  ``..._pollers``), labelled with the owner;
- the Temporal server (``--metrics-port``; Temporal Cloud through ``paved observe
  cloud-scrape``): ``service_requests``, ``action`` per namespace.

A query is built for one logical namespace (its physical names as a regex) and,
optionally, one workflow type.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW = "5m"


@dataclass(frozen=True)
class Scope:
    """What a query is about: a logical namespace (and its physical names), maybe a type."""

    namespace: str
    physical: tuple[str, ...]
    owner: str
    workflow_type: str | None = None
    workers: tuple[str, ...] = ()
    task_queue: str | None = None

    @property
    def phys_re(self) -> str:
        """Every name this namespace's series carry, as a RE2 alternation.

        Workers label their metrics with the namespace they connected with: the
        logical name through the proxy, the physical one directly. The Temporal
        server's own metrics write the physical name with ``_`` for ``-``. Names
        are ``[a-z0-9-]`` (spec schema): nothing to escape.
        """
        names = [self.namespace, *self.physical, *(p.replace("-", "_") for p in self.physical)]
        return "|".join(dict.fromkeys(names))

    def sdk(self, extra: str = "") -> str:
        """Label matchers for Core SDK metrics (physical namespace, maybe the type)."""
        parts = [f'namespace=~"{self.phys_re}"']
        if self.workflow_type:
            parts.append(f'workflow_type="{self.workflow_type}"')
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}"

    def paved(self, extra: str = "") -> str:
        """Label matchers for Paved's own metrics (logical namespace, maybe the type)."""
        parts = [f'namespace="{self.namespace}"']
        if self.workflow_type:
            parts.append(f'workflow_type="{self.workflow_type}"')
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}"

    def queue(self) -> str:
        """Matchers for metrics without a workflow_type label (schedule-to-start): the type's queue."""
        q = f',task_queue="{self.task_queue}"' if self.task_queue else ""
        return f'{{namespace=~"{self.phys_re}"{q}}}'

    def workers_re(self) -> str:
        return "|".join(self.workers) or "$^"


def rate(metric: str, sel: str, by: str, window: str = WINDOW) -> str:
    return f"sum by ({by}) (rate({metric}{sel}[{window}]))"


def quantile(q: float, metric: str, sel: str, by: str, window: str = WINDOW) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{sel}[{window}])))"


@dataclass(frozen=True)
class Panel:
    """One chart: a title, its queries (expr, legend) and a unit."""

    title: str
    queries: tuple[tuple[str, str], ...]
    unit: str = "short"
    description: str = ""


def namespace_panels(s: Scope) -> list[Panel]:
    """Panels of a namespace's dashboard (in the spirit of Temporal's SDK and Cloud dashboards)."""
    sdk, pv = s.sdk(), s.paved()
    return [
        Panel(
            "Workflows completed / s by type",
            ((rate("temporal_workflow_completed", sdk, "workflow_type"), "{{workflow_type}}"),),
            "ops",
        ),
        Panel(
            "Workflows failed / s by type",
            ((rate("temporal_workflow_failed", sdk, "workflow_type"), "{{workflow_type}}"),),
            "ops",
        ),
        Panel(
            "Requests through the proxy / s by code",
            ((rate("paved_proxy_requests_total", pv, "code"), "{{code}}"),),
            "reqps",
            "Every call to Temporal goes through the proxy; non-OK codes are failures.",
        ),
        Panel(
            "Rate-limited calls at the proxy / s",
            ((rate("paved_proxy_rate_limited_total", sdk, "bucket"), "{{bucket}}"),),
            "reqps",
            "Refused by the namespace's rate_limit in paved.yaml (actions or requests).",
        ),
        Panel(
            "Workflow task failures / s by reason",
            (
                (
                    rate(
                        "temporal_workflow_task_execution_failed",
                        sdk,
                        "workflow_type, failure_reason",
                    ),
                    "{{workflow_type}} {{failure_reason}}",
                ),
            ),
            "ops",
            "NonDeterminismError here means a deploy broke replay.",
        ),
        Panel(
            "Activity failures / s by type",
            (
                (
                    rate("temporal_activity_execution_failed", sdk, "activity_type"),
                    "{{activity_type}}",
                ),
            ),
            "ops",
        ),
        Panel(
            "Workflow task schedule-to-start p95",
            (
                (
                    quantile(
                        0.95, "temporal_workflow_task_schedule_to_start_latency", sdk, "task_queue"
                    ),
                    "{{task_queue}}",
                ),
            ),
            "s",
            "Time a workflow task waits for a worker: grows when workers are too few or starved.",
        ),
        Panel(
            "Activity schedule-to-start p95",
            (
                (
                    quantile(
                        0.95, "temporal_activity_schedule_to_start_latency", sdk, "task_queue"
                    ),
                    "{{task_queue}}",
                ),
            ),
            "s",
        ),
        Panel(
            "Task queue backlog",
            ((f"max by (task_queue) (paved_task_queue_backlog{pv})", "{{task_queue}}"),),
            "short",
            "Approximate backlog from DescribeTaskQueue.",
        ),
        Panel(
            "Task queue backlog age",
            (
                (
                    f"max by (task_queue) (paved_task_queue_backlog_age_seconds{pv})",
                    "{{task_queue}}",
                ),
            ),
            "s",
        ),
        Panel(
            "Worker slot utilisation",
            (
                (
                    f'max by (worker, task_queue, worker_type) (paved_worker_slot_utilization{{worker=~"{s.workers_re()}"}})',
                    "{{worker}} {{worker_type}}",
                ),
            ),
            "percentunit",
            "Near 1 for long: the worker is starved of slots (tune it, or add replicas).",
        ),
        Panel(
            "Sticky cache size and hits / s",
            (
                (f"sum by (task_queue) (temporal_sticky_cache_size{sdk})", "size {{task_queue}}"),
                (rate("temporal_sticky_cache_hit", sdk, "task_queue"), "hits {{task_queue}}"),
            ),
        ),
        Panel(
            "Stuck workflows by type and reason",
            (
                (
                    f"sum by (workflow_type, reason) (paved_stuck_workflows{pv})",
                    "{{workflow_type}} {{reason}}",
                ),
            ),
            "short",
            "From `paved stuck`: failing workflow tasks, activities retrying forever, queues without pollers, overdue runs.",
        ),
        Panel(
            "Server: actions / s (billing unit)",
            ((rate("action", f'{{namespace=~"{s.phys_re}"}}', "action_type"), "{{action_type}}"),),
            "ops",
            "From the Temporal server's own metrics (Temporal Cloud: via `paved observe cloud-scrape`).",
        ),
    ]


def workflow_panels(s: Scope) -> list[Panel]:
    """Panels of one workflow type's dashboard."""
    sdk = s.sdk()
    return [
        Panel(
            "Completed and failed / s",
            (
                (rate("temporal_workflow_completed", sdk, "workflow_type"), "completed"),
                (rate("temporal_workflow_failed", sdk, "workflow_type"), "failed"),
            ),
            "ops",
        ),
        Panel(
            "End-to-end latency p50 / p95",
            (
                (quantile(0.5, "temporal_workflow_endtoend_latency", sdk, "workflow_type"), "p50"),
                (quantile(0.95, "temporal_workflow_endtoend_latency", sdk, "workflow_type"), "p95"),
            ),
            "s",
        ),
        Panel(
            "Workflow task failures / s by reason",
            (
                (
                    rate("temporal_workflow_task_execution_failed", sdk, "failure_reason"),
                    "{{failure_reason}}",
                ),
            ),
            "ops",
        ),
        Panel(
            "Workflow task schedule-to-start p95",
            (
                (
                    quantile(
                        0.95,
                        "temporal_workflow_task_schedule_to_start_latency",
                        s.queue(),
                        "task_queue",
                    ),
                    "p95 {{task_queue}}",
                ),
            ),
            "s",
        ),
        Panel(
            "Activity failures / s by activity",
            (
                (
                    rate("temporal_activity_execution_failed", sdk, "activity_type"),
                    "{{activity_type}}",
                ),
            ),
            "ops",
        ),
        Panel(
            "Activity execution latency p95 by activity",
            (
                (
                    quantile(0.95, "temporal_activity_execution_latency", sdk, "activity_type"),
                    "{{activity_type}}",
                ),
            ),
            "s",
        ),
        Panel(
            "Stuck workflows by reason",
            ((f"sum by (reason) (paved_stuck_workflows{s.paved()})", "{{reason}}"),),
        ),
    ]
