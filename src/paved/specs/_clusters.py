"""Clusters and autoscalers as declared in ``paved.yaml``.

A project that runs in more than one place declares its clusters: for each
region (and optionally a subset of environments) the Temporal frontend that
holds the physical namespaces of that region (a self-hosted cluster or a
Temporal Cloud endpoint), and optionally the Kubernetes cluster where the
workers of that region run::

    clusters:
      eu:
        region: eu
        temporal:
          address: eu-west-1.aws.api.temporal.io:7233   # Temporal Cloud, API key
          tls: true
          api_key_env: PAVED_EU_TEMPORAL_API_KEY
          cloud: true
          account: a2b3c            # namespaces there are <physical>.a2b3c
        kubernetes:
          context: prod-eu            # kubeconfig context
          proxy_address: paved-proxy.paved.svc:7233
      us:
        region: us
        environments: [prod]
        temporal: {address: temporal.us.internal:7233, ca_file: /etc/paved/us-ca.pem}

Without ``clusters:`` everything goes to the one Temporal the proxy and the
operator are started with (the behaviour before clusters existed).

The operator creates each physical namespace in the cluster its region maps to;
the proxy sends each call to the cluster of the physical namespace it routes to.
Secrets are never written here: an API key is named by its source (an
environment variable or a file), read by the process that needs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from paved._errors import ProjectError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemporalEndpoint(_Strict):
    """How to reach one Temporal (dev server, self-hosted cluster or Temporal Cloud)."""

    address: str = Field(min_length=3, description="host:port of the Temporal frontend")
    tls: bool = Field(default=False, description="use TLS (implied by ca_file/cert_file)")
    ca_file: str | None = None
    cert_file: str | None = Field(default=None, description="client certificate (mTLS)")
    key_file: str | None = Field(default=None, description="client key (mTLS)")
    server_name: str | None = None
    api_key_env: str | None = Field(
        default=None,
        description="environment variable holding the API key (sent as `authorization: Bearer`)",
    )
    api_key_file: str | None = Field(default=None, description="file holding the API key")
    cloud: bool = Field(
        default=False,
        description="Temporal Cloud: namespaces are managed through the Cloud Operations API",
    )
    account: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="Temporal Cloud account id: the namespaces here are named "
        "`<physical name>.<account>` (the proxy routes to and maps back from that name)",
    )

    def namespace_name(self, physical: str) -> str:
        """The name this Temporal gives the physical namespace ``physical``."""
        return f"{physical}.{self.account}" if self.account else physical

    @model_validator(mode="after")
    def _one_key_source(self) -> TemporalEndpoint:
        if self.api_key_env and self.api_key_file:
            raise ValueError("set api_key_env or api_key_file, not both")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("mTLS needs both cert_file and key_file")
        return self

    def api_key(self) -> str | None:
        """The API key from its declared source, read now (never stored in the config)."""
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if not value:
                raise ProjectError(
                    f"API key for Temporal at {self.address}: environment variable "
                    f"{self.api_key_env} is not set",
                    code="PAVED-CLUSTER-API-KEY",
                    fix=f"export {self.api_key_env}=<key> for this process, or change "
                    "clusters.<name>.temporal.api_key_env in paved.yaml",
                )
            return value
        if self.api_key_file:
            try:
                return Path(self.api_key_file).expanduser().read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ProjectError(
                    f"API key for Temporal at {self.address}: {self.api_key_file} cannot be "
                    f"read ({e.strerror})",
                    code="PAVED-CLUSTER-API-KEY",
                    fix="create the file (mode 0600) or fix clusters.<name>.temporal.api_key_file",
                ) from None
        return None


class KubernetesEndpoint(_Strict):
    """Where a region's managed workers run in Kubernetes."""

    context: str | None = Field(
        default=None,
        description="kubeconfig context (default: current; in a pod: its ServiceAccount)",
    )
    kubeconfig: str | None = Field(default=None, description="kubeconfig file (default: standard)")
    namespace: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="Kubernetes namespace of the workers (default: the logical namespace)",
    )
    proxy_address: str = Field(
        default="paved-proxy:7233",
        description="the Paved proxy the workers (and KEDA's scaler) of this cluster connect to",
    )
    proxy_tls: bool = Field(default=False, description="the in-cluster proxy serves TLS")
    capacity_redis_url: str | None = Field(
        default=None,
        pattern=r"^rediss?://",
        description="the Redis (redis://host:port/db) where the replicas of a worker with a "
        "declared `capacity` share its permits (given to the pods as PAVED_CAPACITY_REDIS_URL); "
        "without it each replica gets a static share (PAVED-CAPACITY-UNSHARED)",
    )


class ClusterConfig(_Strict):
    """One cluster: a region (and some or all environments) and where it runs."""

    region: str = Field(min_length=1)
    environments: list[str] | None = Field(
        default=None, description="environments served here (default: all)"
    )
    temporal: TemporalEndpoint
    kubernetes: KubernetesEndpoint | None = None

    def serves(self, region: str, environment: str) -> bool:
        return region == self.region and (
            self.environments is None or environment in self.environments
        )


AutoscalerKind = Literal["none", "hpa", "keda"]


class AutoscalerConfig(_Strict):
    """How a worker's replicas scale in Kubernetes (``workers.<name>.autoscaler``).

    The same policy drives the local autoscaler of ``paved dev`` (``paved.autoscale``,
    for every worker whose kind is not ``none``) and the Kubernetes objects, so
    that both behave alike: min/max, target utilisation, the quiet window before
    a scale-down, and the step limit of a scale-up.

    ``hpa``: a HorizontalPodAutoscaler on CPU and on the worker's slot
    utilisation (the Prometheus gauge ``paved_worker_slot_utilization``, served
    by a custom-metrics adapter). ``keda``: a KEDA ScaledObject with the Temporal
    scaler on the task-queue backlog (KEDA >= 2.17). Either way the operator
    stops writing ``replicas`` once the autoscaler object exists.
    """

    kind: AutoscalerKind = "none"
    min_replicas: int = Field(default=1, ge=0, description="KEDA may scale to zero; HPA needs 1")
    max_replicas: int = Field(default=10, ge=1)
    target_slot_utilization: float = Field(
        default=0.8, gt=0, le=1, description="hpa: average slot utilisation per pod"
    )
    target_backlog_per_replica: int | None = Field(
        default=None,
        ge=1,
        description="keda: task-queue backlog per replica (targetQueueSize); default: the "
        "queue's slots per replica x target_slot_utilization, as the local autoscaler counts",
    )
    scale_down_after_seconds: float = Field(
        default=300.0,
        ge=0,
        description="quiet window: replicas are removed only after demand stayed below them "
        "this long (local loop; HPA scaleDown stabilisation; KEDA cooldownPeriod)",
    )
    max_scale_up_factor: float = Field(
        default=2.0,
        ge=1.0,
        le=10.0,
        description="at most this many times the replicas per step (HPA scaleUp Percent)",
    )
    interval_seconds: float = Field(
        default=15.0,
        gt=0,
        description="seconds between decisions (local loop; KEDA pollingInterval; HPA period)",
    )
    cpu_saturation: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="a replica using this fraction of a core while slots are free is "
        "CPU-starved: hold (tune the worker) instead of adding replicas",
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalerConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}"
            )
        if self.kind == "hpa" and self.min_replicas < 1:
            raise ValueError("an HPA cannot scale to zero: use min_replicas >= 1 or kind: keda")
        return self


def cluster_for(
    clusters: dict[str, ClusterConfig], region: str, environment: str
) -> tuple[str, ClusterConfig] | None:
    """The (name, cluster) serving ``region``/``environment``, or None if none is declared."""
    for name in sorted(clusters):
        c = clusters[name]
        if c.serves(region, environment):
            return name, c
    return None


def cluster_problems(clusters: dict[str, ClusterConfig], pairs: list[tuple[str, str]]) -> list[str]:
    """Why the clusters do not serve each (region, environment) exactly once (when any is declared)."""
    if not clusters:
        return []
    problems = []
    for region, env in sorted(set(pairs)):
        owners = sorted(n for n, c in clusters.items() if c.serves(region, env))
        if not owners:
            problems.append(
                f"no cluster serves region {region!r}, environment {env!r}: add a cluster with "
                f"`region: {region}` under `clusters:` (or list {env!r} in its environments)"
            )
        elif len(owners) > 1:
            problems.append(
                f"clusters {', '.join(owners)} all serve region {region!r}, environment "
                f"{env!r}: give each cluster its own region, or split the environments"
            )
    return problems
