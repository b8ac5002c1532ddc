"""``paved proxy``: the authenticating, routing, rate-limiting, encrypting gRPC proxy in front of Temporal.

``ProxyServer`` is the proxy (start it in-process, in a thread, or as ``paved proxy --config``);
``Upstream`` says where Temporal is (``Upstreams``: one pool per cluster of ``paved.yaml``); ``MemoryLimiter``/``RedisLimiter`` are the rate-limit backends;
``ProxyConfig`` is the config file's schema and ``load_config``/``build_proxy`` turn it into a proxy.
"""

from paved.proxy._config import (
    EncryptionConfig,
    ProxyConfig,
    UpstreamConfig,
    build_proxy,
    load_config,
)
from paved.proxy._context import ENVIRONMENT_HEADER, REGION_HEADER
from paved.proxy._limits import Limiter, LimitRequest, LimitResult, MemoryLimiter, RedisLimiter
from paved.proxy._methods import all_methods, unclassified
from paved.proxy._server import ProxyServer
from paved.proxy._upstream import ChannelPool, Upstream, Upstreams

__all__ = [
    "ENVIRONMENT_HEADER",
    "REGION_HEADER",
    "ChannelPool",
    "EncryptionConfig",
    "LimitRequest",
    "LimitResult",
    "Limiter",
    "MemoryLimiter",
    "ProxyConfig",
    "ProxyServer",
    "RedisLimiter",
    "Upstream",
    "UpstreamConfig",
    "Upstreams",
    "all_methods",
    "build_proxy",
    "load_config",
    "unclassified",
]
