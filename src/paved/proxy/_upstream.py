"""The proxy's upstream: Temporal (dev server, cluster or Cloud) and a small pool of channels.

Many downstream connections (every worker and client) share ``connections``
upstream gRPC channels, each one HTTP/2 connection (a local subchannel pool
keeps channels to the same address from being merged into one). Calls are
spread round-robin. gRPC reconnects a channel by itself when the upstream
restarts; the reconnect backoff is kept short so the proxy follows a restarted
dev server within a second or two, and callers' SDKs retry UNAVAILABLE.

TLS, mTLS and an API key (sent as ``authorization: Bearer``, the Temporal
Cloud convention) are supported; the key never appears in ``repr``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

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
