"""The operator's targets when ``paved.yaml`` declares clusters: one per cluster.

Each physical namespace is created in the cluster its region (and environment)
maps to: a ``TemporalNamespaces`` target per self-hosted cluster, connected with
that cluster's address, TLS and API key (read from its declared source when the
target first connects), selecting only the routes the cluster serves. Temporal
Cloud clusters (``temporal.cloud: true``) get a ``CloudNamespaces`` target: their
namespaces are managed through the Cloud Operations API (``_cloud.py``). Clusters with a
``kubernetes:`` section also get a ``KubernetesTarget`` for their workers.

Without ``clusters:`` the operator keeps its single Temporal target.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from temporalio.client import Client
from temporalio.service import TLSConfig

from paved import specs
from paved._errors import ProjectError
from paved.operator._cloud import cloud_target
from paved.operator._k8s import KubernetesTarget
from paved.operator._k8s_client import Connection, KubeApi
from paved.operator._target import Target
from paved.operator._temporal import TemporalNamespaces


def _read(path: str | None, what: str, cluster: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as e:
        raise ProjectError(
            f"cluster {cluster}: {what} {path} cannot be read ({e.strerror})",
            code="PAVED-CLUSTER-TLS",
            fix=f"fix clusters.{cluster}.temporal in paved.yaml or the file's permissions",
        ) from None


def connector(name: str, endpoint: specs.TemporalEndpoint) -> Callable[[], Awaitable[Client]]:
    """Connects to one cluster's Temporal (called lazily, and again after a failure)."""

    async def connect() -> Client:
        tls: bool | TLSConfig = endpoint.tls
        if endpoint.ca_file or endpoint.cert_file or endpoint.server_name:
            tls = TLSConfig(
                server_root_ca_cert=_read(endpoint.ca_file, "CA file", name),
                client_cert=_read(endpoint.cert_file, "certificate", name),
                client_private_key=_read(endpoint.key_file, "key", name),
                domain=endpoint.server_name,
            )
        return await Client.connect(
            endpoint.address, namespace="default", tls=tls, api_key=endpoint.api_key()
        )

    return connect


def _serves(cluster: specs.ClusterConfig) -> Callable[[specs.Route], bool]:
    return lambda r: cluster.serves(r.region, r.environment)


def cluster_targets(
    project: str,
    config: specs.ProjectConfig,
    *,
    fence: Callable[[], int] = lambda: 0,
    kubernetes: bool = True,
    connect: Mapping[str, Callable[[], Awaitable[Client]]] | None = None,
    kube: Mapping[str, Connection] | None = None,
) -> list[Target]:
    """The Temporal (and Kubernetes) targets of every declared cluster, in name order.

    ``connect``/``kube`` replace a cluster's connection (tests); by default they
    come from ``paved.yaml``.
    """
    out: list[Target] = []
    for name in sorted(config.clusters):
        c = config.clusters[name]
        if not c.temporal.cloud:
            out.append(
                TemporalNamespaces(
                    project,
                    (connect or {}).get(name) or connector(name, c.temporal),
                    name=f"temporal:{name}",
                    select=_serves(c),
                    fence=fence,
                )
            )
        else:
            out.append(
                cloud_target(
                    project,
                    name,
                    c.region,
                    c.temporal.address,
                    c.temporal.api_key,
                    select=_serves(c),
                )
            )
    if kubernetes:
        for name in sorted(config.clusters):
            k = config.clusters[name].kubernetes
            if k is None:
                continue
            conn = (kube or {}).get(name) or Connection(kubeconfig=k.kubeconfig, context=k.context)
            out.append(KubernetesTarget(name, project, KubeApi(conn)))
    return out
