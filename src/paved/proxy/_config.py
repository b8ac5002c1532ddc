"""The proxy's config file (``paved proxy --config proxy.yaml``) and building a proxy from it.

Example (paths are relative to the config file)::

    listen: 127.0.0.1:7233
    upstream:
      address: 127.0.0.1:17233
      connections: 2
      # tls: true, ca_file, cert_file, key_file, server_name for a cluster / Cloud
      api_key_env: TEMPORAL_API_KEY      # the upstream key comes from the environment
    policy: policy.yaml                  # reloaded when it changes; a bad edit keeps the last good one
    project: .                           # routes and rate limits from specs/namespaces.yaml,
                                         # reloaded when it (or this file) changes
    # routes:                            # ... or listed here
    #   - {logical: imagegen, physical: imagegen-prod-eu, region: eu, environment: prod,
    #      rate_limit: {actions_per_second: 50, requests_per_second: 200}}
    encryption:
      enabled: true
      keys_file: .paved/keys.json        # same key ring as paved.codec
    rate_limits:
      backend: memory                    # or redis, shared by replicas
      redis_url: redis://127.0.0.1:6379/0
    metrics_port: 9464
    # clusters: {...}                    # one upstream per region (paved.yaml's `clusters:`
                                         # schema); default: the project's clusters, if any

With clusters (here or in the project's ``paved.yaml``), each call goes to the
cluster of the physical namespace it routes to, one channel pool per cluster;
``upstream`` then serves only what no cluster claims (and the health check).
A Temporal Cloud cluster (``cloud: true``) must name its ``account``: its
namespaces are ``<physical>.<account>``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from paved import codec
from paved._errors import ProjectError
from paved.proxy._limits import Limiter, MemoryLimiter, RedisLimiter
from paved.proxy._server import ProxyServer
from paved.proxy._upstream import Upstream
from paved.specs import ClusterConfig, Project, Route, Routes, load_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpstreamConfig(_Strict):
    address: str = "127.0.0.1:7233"
    connections: int = Field(default=2, ge=1, le=64)
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    api_key_env: str | None = Field(
        default=None, description="environment variable holding the upstream API key"
    )


class EncryptionConfig(_Strict):
    enabled: bool = True
    keys_file: str = ".paved/keys.json"
    create_keys: bool = True


class RateLimitConfig(_Strict):
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "paved:rl:"


class ProxyConfig(_Strict):
    """``proxy.yaml``."""

    listen: str = "127.0.0.1:7233"
    upstream: UpstreamConfig = UpstreamConfig()
    policy: str = "policy.yaml"
    project: str | None = None
    routes: list[Route] = Field(default_factory=list)  # paved.specs.Route, validated
    encryption: EncryptionConfig = EncryptionConfig()
    rate_limits: RateLimitConfig = RateLimitConfig()
    max_request_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    metrics_port: int | None = None
    policy_reload_seconds: float = Field(default=2.0, ge=0)
    clusters: dict[str, ClusterConfig] = Field(
        default_factory=dict,
        description="upstream per region/environment; default: the project's `clusters:`",
    )


def load_config(path: Path | str) -> ProxyConfig:
    """Load ``proxy.yaml``; errors name the file and line."""
    return load_model(Path(path), ProxyConfig, what="proxy config")


def build_proxy(path: Path | str, *, listen: str | None = None) -> ProxyServer:
    """A ``ProxyServer`` configured by the file at ``path`` (not started)."""
    path = Path(path).resolve()
    cfg = load_config(path)
    base = path.parent

    def rel(p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else base / q

    routes, clusters = _routes(path, cfg)
    for cname, c in clusters.items():
        if c.temporal.cloud and not c.temporal.account:
            raise ProjectError(
                f"{path}: cluster {cname!r} is Temporal Cloud but names no account, so the "
                "proxy cannot tell its namespace names (<physical>.<account>)",
                code="PAVED-CLUSTER-CLOUD-ACCOUNT",
                fix=f"set clusters.{cname}.temporal.account to the Cloud account id "
                "(the suffix of the namespace names in the Cloud UI)",
            )
    u = cfg.upstream
    api_key = None
    if u.api_key_env:
        api_key = os.environ.get(u.api_key_env)
        if not api_key:
            raise ProjectError(
                f"{path}: upstream.api_key_env names {u.api_key_env}, which is not set",
                code="PAVED-PROJECT-SCHEMA",
                fix=f"export {u.api_key_env}=<Temporal API key> before starting the proxy",
            )
    upstream = Upstream(
        address=u.address,
        connections=u.connections,
        tls=u.tls,
        ca_file=str(rel(u.ca_file)) if u.ca_file else None,
        cert_file=str(rel(u.cert_file)) if u.cert_file else None,
        key_file=str(rel(u.key_file)) if u.key_file else None,
        server_name=u.server_name,
        api_key=api_key,
    )
    keyring = None
    if cfg.encryption.enabled:
        keyring = codec.KeyRing(
            codec.FileKeyProvider(rel(cfg.encryption.keys_file)), create=cfg.encryption.create_keys
        )
    limiter: Limiter = (
        RedisLimiter(cfg.rate_limits.redis_url, prefix=cfg.rate_limits.prefix)
        if cfg.rate_limits.backend == "redis"
        else MemoryLimiter()
    )

    def reload() -> tuple[Routes, dict[str, ClusterConfig]]:
        return _routes(path, load_config(path))

    watched = [path]
    if cfg.project is not None:
        project_dir = rel(cfg.project)
        watched += [
            project_dir / "paved.yaml",
            Project.load(project_dir).specs_dir / "namespaces.yaml",
        ]
    return ProxyServer(
        policy=rel(cfg.policy),
        routes=routes,
        routes_source=reload,
        routes_files=watched,
        upstream=upstream,
        listen=listen or cfg.listen,
        keyring=keyring,
        limiter=limiter,
        max_request_bytes=cfg.max_request_bytes,
        metrics_port=cfg.metrics_port,
        policy_reload_seconds=cfg.policy_reload_seconds,
        clusters=clusters,
    )


def _routes(path: Path, cfg: ProxyConfig) -> tuple[Routes, dict[str, ClusterConfig]]:
    """The routes and clusters ``cfg`` (read from ``path``) gives: its own, then the project's."""
    routes: list[Route] = list(cfg.routes)
    clusters = dict(cfg.clusters)
    if cfg.project is not None:
        q = Path(cfg.project).expanduser()
        project = Project.load(q if q.is_absolute() else path.parent / q)
        routes += project.routes().all()
        clusters = clusters or dict(project.config.clusters)
    if not routes:
        raise ProjectError(
            f"{path}: the proxy has no routes",
            code="PAVED-PROJECT-SCHEMA",
            fix="set `project:` to a directory with paved.yaml and generated specs, or list `routes:`",
        )
    return Routes(routes), clusters
