"""The proxy's upstream: Temporal (dev server, cluster or Cloud) and a small pool of channels.

Many downstream connections (every worker and client) share ``connections``
upstream gRPC channels, each one HTTP/2 connection (a local subchannel pool
keeps channels to the same address from being merged into one). Calls are
spread round-robin. gRPC reconnects a channel by itself when the upstream
restarts; the reconnect backoff is kept short so the proxy follows a restarted
dev server within a second or two, and callers' SDKs retry UNAVAILABLE.

TLS, mTLS and an API key (sent as ``authorization: Bearer``, the Temporal
Cloud convention) are supported; the key never appears in ``repr``.

With clusters declared in ``paved.yaml`` there is one pool per cluster
(``Upstreams``): each call goes to the cluster of the physical namespace it
routes to. A Temporal Cloud cluster with an ``account`` names its namespaces
``<physical>.<account>``: ``Upstreams.qualify`` gives the proxy's routes those
names, so calls are sent under them and answers are mapped back from them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from paved import specs
from paved._errors import RuntimeSetupError

MAX_MESSAGE = 128 * 1024 * 1024


@dataclass(frozen=True)
class Upstream:
    """Where the proxy forwards to.

    Attributes:
        address: ``host:port`` of the Temporal frontend.
        connections: upstream channels (HTTP/2 connections) shared by all callers.
        tls: use TLS (implied by ``ca_file``/``cert_file``).
        ca_file: CA bundle to verify the server (default: system roots).
        cert_file, key_file: client certificate and key for mTLS.
        server_name: override the TLS server name.
        api_key: sent upstream as ``authorization: Bearer <key>``.
    """

    address: str = "127.0.0.1:7233"
    connections: int = 2
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    api_key: str | None = field(default=None, repr=False)

    def credentials(self) -> grpc.ChannelCredentials | None:
        if not (self.tls or self.ca_file or self.cert_file):
            return None

        def read(p: str | None, what: str) -> bytes | None:
            if p is None:
                return None
            try:
                return Path(p).read_bytes()
            except OSError as e:
                raise RuntimeSetupError(
                    f"upstream {what} {p} cannot be read: {e.strerror}",
                    code="PAVED-SETUP-TLS",
                    fix="check the upstream TLS paths in the proxy config",
                ) from None

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca_file, "CA file"),
            private_key=read(self.key_file, "key file"),
            certificate_chain=read(self.cert_file, "certificate file"),
        )


def channel_options(upstream: Upstream) -> list[tuple[str, Any]]:
    opts: list[tuple[str, Any]] = [
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_MESSAGE),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1_000),
        ("grpc.enable_retries", 0),
    ]
    if upstream.server_name:
        opts.append(("grpc.ssl_target_name_override", upstream.server_name))
    return opts


class ChannelPool:
    """``connections`` channels to one upstream, used round-robin."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        creds = upstream.credentials()
        opts = channel_options(upstream)
        n = max(1, upstream.connections)
        self.channels: list[grpc.aio.Channel] = [
            grpc.aio.secure_channel(upstream.address, creds, options=opts)
            if creds is not None
            else grpc.aio.insecure_channel(upstream.address, options=opts)
            for _ in range(n)
        ]
        self._calls: list[dict[str, grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]]] = [
            {} for _ in range(n)
        ]
        self._next = itertools.cycle(range(n))
        self.auth_metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {upstream.api_key}"),) if upstream.api_key else ()
        )

    def callable(self, path: str) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
        """A raw-bytes multi-callable for ``path`` on the next channel."""
        i = next(self._next)
        calls = self._calls[i]
        c = calls.get(path)
        if c is None:
            # no serializers: the proxy hands bytes in and gets bytes back
            c = calls[path] = self.channels[i].unary_unary(path)
        return c

    async def close(self) -> None:
        for ch in self.channels:
            await ch.close()


def from_endpoint(endpoint: specs.TemporalEndpoint, connections: int = 2) -> Upstream:
    """A cluster's Temporal endpoint (``paved.yaml``) as an ``Upstream``; reads the API key now."""
    return Upstream(
        address=endpoint.address,
        connections=connections,
        tls=endpoint.tls or endpoint.cloud,  # Temporal Cloud only speaks TLS
        ca_file=endpoint.ca_file,
        cert_file=endpoint.cert_file,
        key_file=endpoint.key_file,
        server_name=endpoint.server_name,
        api_key=endpoint.api_key(),
    )


class Upstreams:
    """Every upstream of one proxy: a channel pool per cluster, and which pool serves a call.

    A call for a physical namespace goes to the cluster serving that namespace's
    region and environment (``clusters`` from ``paved.yaml``); a call without a
    namespace (``GetSystemInfo``, ``ListNamespaces``) goes to the caller's home
    cluster. Without clusters, or for a region no cluster serves, the ``default``
    upstream serves. Pools open together and close together; one cluster going
    down leaves the others' channels untouched (each reconnects on its own).
    """

    def __init__(
        self,
        default: Upstream,
        clusters: Mapping[str, specs.ClusterConfig] | None = None,
    ) -> None:
        self.default = default
        self.clusters = dict(clusters or {})
        self._upstreams = {
            name: from_endpoint(c.temporal, default.connections)
            for name, c in self.clusters.items()
        }
        self._pools: dict[str, ChannelPool] = {}
        self._default: ChannelPool | None = None

    def open(self) -> None:
        self._default = ChannelPool(self.default)
        self._pools = {name: ChannelPool(u) for name, u in self._upstreams.items()}

    @property
    def default_pool(self) -> ChannelPool:
        assert self._default is not None, "Upstreams.open() first"
        return self._default

    def namespace_name(self, route: specs.Route) -> str:
        """The name the cluster of ``route`` gives its physical namespace
        (Temporal Cloud: ``<physical>.<account>``)."""
        name = self.cluster_of(route.region, route.environment)
        if name is None:
            return route.physical
        return self.clusters[name].temporal.namespace_name(route.physical)

    def qualify(self, routes: specs.Routes) -> specs.Routes:
        """``routes`` with each physical name as its cluster knows it."""
        if not any(c.temporal.account for c in self.clusters.values()):
            return routes
        return routes.qualified(self.namespace_name)

    def pools_for(self, routes: specs.Routes) -> list[ChannelPool]:
        """Every pool that serves a route (each once): where ``ListNamespaces`` fans out."""
        out: list[ChannelPool] = []
        for r in routes.all():
            p = self.pool(r.region, r.environment)
            if all(p is not q for q in out):
                out.append(p)
        return out or [self.default_pool]

    def cluster_of(self, region: str, environment: str) -> str | None:
        found = specs.cluster_for(self.clusters, region, environment)
        return found[0] if found else None

    def pool(self, region: str | None, environment: str | None) -> ChannelPool:
        """The pool of the cluster serving ``region``/``environment`` (else the default)."""
        if region is not None and environment is not None:
            name = self.cluster_of(region, environment)
            if name is not None:
                return self._pools[name]
        return self.default_pool

    def describe(self) -> str:
        if not self.clusters:
            return self.default.address
        return ", ".join(f"{n}={u.address}" for n, u in sorted(self._upstreams.items()))

    async def close(self) -> None:
        for p in [*self._pools.values(), *([self._default] if self._default else [])]:
            await p.close()
        self._pools, self._default = {}, None
