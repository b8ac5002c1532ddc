"""The project file (hand-written) and the three generated spec files.

``paved.yaml`` is what a team writes: its logical namespaces (owner, tier,
retention, regions, environments, rate limits) and optional worker tuning.
``paved gen`` combines it with what the decorators declare and writes
``specs/namespaces.yaml``, ``specs/workflows.yaml`` and ``specs/workers.yaml``.
Every model forbids unknown keys, so a typo is an error, not a silent default.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from paved import sdk
from paved.specs import _clusters
from paved.specs import _defaults as defaults

SPEC_VERSION = 1
_NAME = sdk.NAME_PATTERN
_RETENTION = re.compile(r"^(\d+)\s*([dh]?)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    """Per physical namespace limits, enforced by the proxy."""

    actions_per_second: float = Field(default=200.0, gt=0)
    requests_per_second: float = Field(default=1000.0, gt=0)


SearchAttributeType = Literal["Text", "Keyword", "Int", "Double", "Bool", "Datetime", "KeywordList"]
_SA_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"


class NamespaceConfig(_Strict):
    """A logical namespace as written in ``paved.yaml``."""

    owner: str = Field(min_length=1)
    tier: int = Field(default=sdk.DEFAULT_TIER, ge=min(sdk.TIERS), le=max(sdk.TIERS))
    retention: str | int = defaults.DEFAULT_RETENTION
    regions: list[str] | None = None
    environments: list[str] | None = None
    rate_limit: RateLimit = RateLimit()
    description: str = ""
    search_attributes: dict[str, SearchAttributeType] = Field(
        default_factory=dict,
        description="Custom search attributes (name: type); registered by `paved dev` and the operator. "
        "Their values stay in the clear so that visibility queries work.",
    )

    @field_validator("search_attributes")
    @classmethod
    def _sa_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not re.match(_SA_NAME, name):
                raise ValueError(
                    f"search attribute name {name!r}: use letters, digits and '_', starting with a letter"
                )
        return v

    @field_validator("retention")
    @classmethod
    def _retention(cls, v: str | int) -> str | int:
        retention_days(v)
        return v


def retention_days(v: str | int) -> int:
    """``7``, ``"7d"`` -> 7; ``"72h"`` -> 3. Temporal keeps at least one day."""
    if isinstance(v, int):
        days = v
    else:
        m = _RETENTION.match(v.strip())
        if not m:
            raise ValueError(
                f"retention {v!r} is not a duration; use days like '7d' or hours like '72h'"
            )
        n, unit = int(m.group(1)), m.group(2) or "d"
        days = n if unit == "d" else max(1, n // 24)
    if not 1 <= days <= 3650:
        raise ValueError(f"retention {v!r} must be between 1 and 3650 days")
    return days


class WorkerTuning(_Strict):
    """Worker settings the managed runtime applies (and the operator templates)."""

    max_concurrent_activities: int = Field(default=200, ge=1)
    max_concurrent_workflow_tasks: int = Field(default=200, ge=1)
    max_cached_workflows: int = Field(default=2000, ge=0)
    poller_min: int = Field(default=2, ge=1)
    poller_max: int = Field(default=100, ge=1)
    poller_initial: int = Field(default=10, ge=1)
    graceful_shutdown_seconds: float = Field(default=30.0, ge=0)


def capacity_prefetch(gate: int) -> int:
    """Tasks a replica holds ready behind its gate: half the gate, at least 2, at most 32.

    Enough to cover the measured dispatch latency of a busy local server for
    activities of a few hundred milliseconds (bench/bench_burst.py); bounded so a
    replica never hoards work another replica could run."""
    return min(32, max(2, -(-gate // 2)))


def capacity_slots(capacity: int) -> int:
    """Activity slots of one replica of a worker with a declared ``capacity``.

    The gate is shared by the replicas (``paved.worker.CapacityGate`` and its
    fleet-wide stores), so one replica alone may run the whole capacity: its slots
    are the capacity plus the prefetch, whatever the replica count. The autoscaler's
    Little's law counts these slots per replica and caps demand at the capacity."""
    return capacity + capacity_prefetch(capacity)


def capacity_prefetch_ceiling(gate: int) -> int:
    """The most tasks a replica may hold ready behind its gate when dispatch is slow.

    The managed worker grows its prefetch from ``capacity_prefetch`` towards this
    bound by Little's law (rate x measured dispatch latency, ``paved.worker._prefetch``):
    three gates' worth, at most 64, so one replica never hoards a fleet's backlog."""
    return min(64, max(capacity_prefetch(gate), 3 * gate))


class WorkerConfig(_Strict):
    """Optional per-worker overrides in ``paved.yaml``."""

    owner: str | None = None
    replicas: int = Field(default=1, ge=0)
    capacity: int | None = Field(
        default=None,
        ge=1,
        description="the concurrency of the dependency this worker's activities call (a GPU "
        "fleet, a rate-limited API): at most this many of its activities run at once across "
        "all its replicas (a gate they share: slot files on one host, Redis across hosts), "
        "with a few more held ready behind the limit (paved.worker.CapacityGate)",
    )
    tuning: WorkerTuning = WorkerTuning()
    image: str | None = None
    autoscaler: _clusters.AutoscalerConfig | None = Field(
        default=None,
        description="Kubernetes autoscaler (hpa or keda); default: the project's `autoscaler`",
    )


class ServiceConfig(_Strict):
    """A process of the project that ``paved dev`` runs beside the workers (front ends, fakes).

    ``command`` is run from the project root with ``{python}`` replaced by the
    current interpreter and ``{port}`` by ``port``; PAVED_* variables are set.
    """

    command: list[str] = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    env: dict[str, str] = Field(default_factory=dict)
    health_path: str | None = None
    description: str = ""


class StuckConfig(_Strict):
    """Thresholds of the stuck-workflow detector (``paved stuck``)."""

    max_activity_attempts: int = Field(
        default=5, ge=1, description="a pending activity past this attempt is stuck"
    )
    heartbeat_stale_seconds: float = Field(
        default=120.0, gt=0, description="a heartbeating activity silent this long is stuck"
    )
    long_running_factor: float = Field(
        default=5.0, gt=1, description="running longer than factor x the type's p95 duration"
    )
    min_running_seconds: float = Field(
        default=300.0, ge=0, description="never call a workflow younger than this long-running"
    )
    workflow_task_problems: int = Field(
        default=3,
        ge=1,
        description="consecutive workflow-task failures before Temporal sets TemporalReportedProblems (set in local mode)",
    )


class OwnerRoute(_Strict):
    """Where an owning team's alerts go (Alertmanager receiver settings)."""

    webhook_url: str | None = None
    slack_channel: str | None = None


class CloudMetricsConfig(_Strict):
    """Temporal Cloud's metrics endpoint, scraped by ``paved dev`` (``observability.cloud_metrics``).

    The key is named by its environment variable, never written here; when the
    variable is not set, ``paved dev`` says so and runs without the scraper.
    """

    endpoint: str = Field(
        default="https://metrics.temporal.io", description="the OpenMetrics endpoint"
    )
    api_key_env: str = Field(
        default="TEMPORAL_CLOUD_METRICS_API_KEY",
        description="environment variable holding a Metrics Read-Only service account's key",
    )
    namespaces: list[str] = Field(
        default_factory=list, description="Cloud namespaces to fetch (wildcards); default all"
    )
    interval_seconds: float = Field(
        default=30.0, ge=1, description="seconds between polls (180 requests an hour allowed)"
    )


class ObservabilityConfig(_Strict):
    """Links, alert routing and detector thresholds (``observability:`` in ``paved.yaml``).

    URL templates take ``{namespace}``, ``{workflow_id}``, ``{run_id}``,
    ``{trace_id}`` and ``{workflow_type}``; unset, ``paved dev`` points them at its
    own page. They become links in each workflow's details in the Temporal UI.
    """

    logs_url: str | None = None
    trace_url: str | None = None
    ui_url: str | None = Field(
        default=None, description="Temporal UI base URL for links (default: the dev server's UI)"
    )
    owners: dict[str, OwnerRoute] = Field(default_factory=dict)
    stuck: StuckConfig = StuckConfig()
    cloud_metrics: CloudMetricsConfig | None = Field(
        default=None,
        description="Temporal Cloud metrics: `paved dev` runs `paved observe cloud-scrape` "
        "with these settings and Prometheus scrapes it",
    )


class LoadStep(_Strict):
    """One step of ``paved readiness``'s load test."""

    count: int = Field(ge=1, description="workflows started in this step")
    rate: float = Field(gt=0, description="starts per second (at most)")
    concurrency: int = Field(ge=1, description="workflows of this step in flight at most")


class LoadTestConfig(_Strict):
    """The load ``paved readiness`` drives through the proxy (``readiness.load``)."""

    workflow: str = Field(min_length=1, description="workflow type to start")
    input: Any = Field(default=None, description="its one argument, as JSON (a dict for a model)")
    steps: list[LoadStep] = Field(
        default_factory=lambda: [
            LoadStep(count=10, rate=5, concurrency=5),
            LoadStep(count=20, rate=10, concurrency=10),
        ],
        min_length=1,
    )
    step_timeout_seconds: float = Field(
        default=120.0, gt=0, description="a step's bound: what has not finished by then counts"
    )


class ReadinessConfig(_Strict):
    """What ``paved readiness`` checks a launch against (``readiness:`` in ``paved.yaml``)."""

    peak: dict[str, float] = Field(
        default_factory=dict,
        description="expected peak starts per second, per workflow type (the launch's forecast)",
    )
    margin: float = Field(
        default=0.5, ge=0, description="headroom required: capacity >= demand x (1 + margin)"
    )
    max_schedule_to_start_seconds: float = Field(
        default=2.0, gt=0, description="the load test's p99 workflow-task schedule-to-start bound"
    )
    production_environments: list[str] = Field(
        default_factory=lambda: ["prod", "production"],
        description="environments that must be spread over >= 2 regions or clusters",
    )
    rate_limited_activities: list[str] = Field(
        default_factory=list,
        description="activities calling a rate-limited dependency, beyond those found calling "
        "the network",
    )
    load: LoadTestConfig | None = None


class ProjectConfig(_Strict):
    """``paved.yaml``."""

    project: str = Field(pattern=_NAME)
    packages: list[str] = Field(
        min_length=1, description="Python packages whose modules `paved gen` imports"
    )
    specs_dir: str = "specs"
    regions: list[str] = Field(default_factory=lambda: ["local"], min_length=1)
    environments: list[str] = Field(default_factory=lambda: ["dev"], min_length=1)
    namespaces: dict[str, NamespaceConfig] = Field(default_factory=dict)
    workers: dict[str, WorkerConfig] = Field(default_factory=dict)
    max_payload_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    observability: ObservabilityConfig = ObservabilityConfig()
    readiness: ReadinessConfig = ReadinessConfig()
    clusters: dict[str, _clusters.ClusterConfig] = Field(
        default_factory=dict,
        description="Temporal (and Kubernetes) clusters per region/environment; "
        "default: the one Temporal the proxy and operator are given",
    )
    autoscaler: _clusters.AutoscalerConfig | None = Field(
        default=None, description="default Kubernetes autoscaler of every worker"
    )

    @model_validator(mode="after")
    def _clusters_cover_regions(self) -> ProjectConfig:
        pairs = [(r, e) for r in self.regions for e in self.environments]
        for ns in self.namespaces.values():
            pairs += [
                (r, e)
                for r in ns.regions or self.regions
                for e in ns.environments or self.environments
            ]
        problems = _clusters.cluster_problems(self.clusters, pairs)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def autoscaler_of(self, worker: str) -> _clusters.AutoscalerConfig:
        """The autoscaler of ``worker``: its own, else the project's, else none."""
        w = self.workers.get(worker)
        return (w.autoscaler if w else None) or self.autoscaler or _clusters.AutoscalerConfig()


# ----- generated specs -------------------------------------------------------------


class PhysicalNamespace(_Strict):
    name: str
    region: str
    environment: str


class NamespaceSpec(_Strict):
    name: str = Field(pattern=_NAME)
    owner: str
    tier: int = Field(ge=min(sdk.TIERS), le=max(sdk.TIERS))
    retention_days: int = Field(ge=1)
    regions: list[str]
    environments: list[str]
    rate_limit: RateLimit
    search_attributes: dict[str, SearchAttributeType] = {}
    physical: list[PhysicalNamespace]
    description: str = ""


class NamespacesFile(_Strict):
    version: Literal[1] = 1
    generated_by: str = "paved gen"
    namespaces: list[NamespaceSpec]


class TypeSpec(_Strict):
    """One workflow or activity type: where it runs and where its code is."""

    name: str
    namespace: str
    task_queue: str
    worker: str
    module: str
    qualname: str
    tier: int | None = None


class WorkflowsFile(_Strict):
    version: Literal[1] = 1
    generated_by: str = "paved gen"
    workflows: list[TypeSpec]
    activities: list[TypeSpec]


class QueueSpec(_Strict):
    name: str
    kind: Literal["workflow", "activity", "shared"]
    workflows: list[str] = []
    activities: list[str] = []
    # Activities declared local=True on this worker: its workflow queue's Worker runs
    # them as local activities (Paved's local rule, paved.sdk.runs_local). Written
    # only when there are some.
    local_activities: list[str] = Field(default=[], exclude_if=lambda v: not v)


class WorkerSpec(_Strict):
    name: str = Field(pattern=_NAME)
    namespace: str
    owner: str
    tier: int
    replicas: int
    image: str | None = None
    modules: list[str]
    queues: list[QueueSpec]
    tuning: WorkerTuning
    # The dependency's concurrency from paved.yaml (written only when declared).
    capacity: int | None = Field(default=None, ge=1, exclude_if=lambda v: v is None)


class WorkersFile(_Strict):
    version: Literal[1] = 1
    generated_by: str = "paved gen"
    workers: list[WorkerSpec]
