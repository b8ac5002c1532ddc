"""The codec server: ``/encode`` and ``/decode`` for the Temporal UI and CLI, with decode permission.

Run by ``paved codec-server`` and by ``paved dev`` (which points the dev
server's UI at it with ``--ui-codec-endpoint``). It speaks Temporal's remote
codec protocol: ``POST {endpoint}/decode`` (or ``/encode``) with a JSON body
``{"payloads": [<Payload as proto JSON>...]}`` and the *physical* namespace in
the ``X-Namespace`` header; the answer has the same shape.

Every call is authenticated (``Authorization: Bearer <API key or JWT>``, checked
by :class:`paved.auth.Policy`) and authorised on the *logical* namespace:
``decode`` to decrypt, ``write`` to encrypt. A team member without the decode
role gets 403 and sees nothing decrypted. CORS preflights are answered for the
configured UI origins only (browsers send no credentials on a preflight).

Local-developer mode (``local_principal``, used only by ``paved dev``): the dev
server's UI has no OIDC provider, so it sends no bearer token. In this mode a
request *without* a token is accepted only when its ``Origin`` is one of the
configured UI origins and its ``Host`` is a loopback name; it then acts as the
local developer principal of the dev policy, whose roles are still checked
(``decode`` on the namespace), never bypassed. Requests *with* a token are
authenticated as usual. The server refuses to start in this mode on an address
that is not loopback. What it trusts: processes of this machine (which can read
``.paved/keys.json`` anyway); what it keeps out: other web pages in the
developer's browser (wrong ``Origin``) and DNS-rebinding (wrong ``Host``).

Offloaded payloads are shown as their (decrypted) reference -- key, size --
rather than fetched into a browser, unless a blob store is given and the blob
is small (``inline_blob_bytes``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from paved import codec
from paved._errors import AuthError, CodecError, RuntimeSetupError
from paved.auth import AccessRequest, Decision, Principal

log = logging.getLogger("paved.codec_server")

ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace, Caller-Type"


class Authorizer(Protocol):
    """What the codec server needs of :class:`paved.auth.Policy` (a seam for tests)."""

    def authenticate_bearer(self, token: str) -> Principal: ...

    def decide(self, request: AccessRequest) -> Decision: ...


NamespaceResolver = Callable[[str], "str | None"]


@dataclass
class CodecServerConfig:
    """Everything a codec server needs.

    Attributes:
        keyring: keys of every logical namespace it may serve.
        authorizer: authentication and roles (a ``paved.auth.Policy``).
        resolve: physical namespace (``X-Namespace``) -> logical, or None if unknown.
        cors_origins: browser origins allowed to call (the Temporal UI's).
        blobs: optional blob store to inline small offloaded payloads.
        inline_blob_bytes: the largest offloaded payload to inline on decode.
        local_principal: local-developer mode (``paved dev`` only): token-less
            requests from ``cors_origins`` act as this principal. Loopback only.
    """

    keyring: codec.KeyRing
    authorizer: Authorizer
    resolve: NamespaceResolver
    cors_origins: Sequence[str] = ()
    blobs: codec.BlobStore | None = None
    inline_blob_bytes: int = 1024 * 1024
    max_body_bytes: int = 64 * 1024 * 1024
    local_principal: Principal | None = None
    _codecs: dict[str, codec.EncryptionCodec] = field(default_factory=dict)

    def codec(self, logical: str) -> codec.EncryptionCodec:
        found = self._codecs.get(logical)
        if found is None:
            found = self._codecs[logical] = codec.EncryptionCodec(
                self.keyring, logical, blobs=self.blobs
            )
        return found


def _error(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"error": message, "code": code}, status=status, headers=headers)


def _cors_headers(config: CodecServerConfig, request: web.Request) -> dict[str, str]:
    origin = request.headers.get("Origin")
    if not origin or origin not in config.cors_origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _host_name(host_header: str) -> str:
    """``Host`` header -> host name without the port (``[::1]:8234`` -> ``[::1]``)."""
    if host_header.startswith("["):
        return host_header.split("]", 1)[0] + "]"
    return host_header.rsplit(":", 1)[0] if ":" in host_header else host_header


def _local_request(config: CodecServerConfig, request: web.Request) -> bool:
    """A token-less request the local-developer mode accepts: right Origin, loopback Host."""
    origin = request.headers.get("Origin")
    return (
        config.local_principal is not None
        and origin is not None
        and origin in config.cors_origins
        and _host_name(request.headers.get("Host", "")).lower() in LOOPBACK_HOSTS
    )


def _parse_payloads(body: bytes) -> list[Payload]:
    msg = Payloads()
    json_format.Parse(body, msg, ignore_unknown_fields=True)
    return list(msg.payloads)


def _render(payloads: Sequence[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads), indent=None)


async def _decode_one(config: CodecServerConfig, logical: str, p: Payload, i: int) -> Payload:
    d = codec.decrypt_payload(p, config.keyring, logical, index=i)
    if d.metadata.get("encoding") == codec.REF_ENCODING and config.blobs is not None:
        ref = json.loads(d.data)
        if int(ref.get("size", 0)) <= config.inline_blob_bytes:
            (full,) = await config.codec(logical).decode([p])
            return full
    return d


def create_app(config: CodecServerConfig) -> web.Application:
    """The aiohttp application (used by ``paved codec-server``, ``paved dev`` and tests)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        cors = _cors_headers(config, request)
        if request.method == "OPTIONS":
            # Preflight: no credentials are sent, so nothing is checked but the origin.
            return web.Response(status=204 if cors else 403, headers=cors)
        op = request.match_info["op"]
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        principal: Principal
        if not auth and config.local_principal is not None and _local_request(config, request):
            # Local-developer mode: the dev UI sends no token; its roles are still checked below.
            principal = config.local_principal
        elif scheme.lower() != "bearer" or not token.strip():
            return _error(
                401,
                "missing bearer token",
                "PAVED-AUTH-MISSING",
                {**cors, "WWW-Authenticate": "Bearer"},
            )
        else:
            try:
                principal = config.authorizer.authenticate_bearer(token.strip())
            except AuthError as e:
                return _error(401, e.message, e.code, {**cors, "WWW-Authenticate": "Bearer"})
        name = principal.name
        physical = request.headers.get("X-Namespace", "")
        logical = config.resolve(physical) if physical else None
        if logical is None:
            log.info("codec %s by %s: unknown namespace %r", op, name, physical)
            return _error(
                403 if physical else 400,
                f"unknown namespace {physical!r}" if physical else "missing X-Namespace header",
                "PAVED-AUTH-DENIED" if physical else "PAVED-CODEC-REQUEST",
                cors,
            )
        role = "decode" if op == "decode" else "write"
        # The one authorization decision; the UI names no region, so residency is the proxy's.
        decision = config.authorizer.decide(
            AccessRequest.of(principal, role, logical, now=time.time(), action=op)
        )
        if not decision:
            log.info("codec %s by %s on %s: denied: %s", op, name, logical, decision.reason)
            return _error(
                403,
                f"{name} has no {role!r} role on namespace {logical!r}: {decision.reason}",
                "PAVED-AUTH-DENIED",
                cors,
            )
        try:
            payloads = _parse_payloads(await request.read())
        except (json_format.ParseError, ValueError):
            return _error(400, "body is not a Payloads JSON object", "PAVED-CODEC-REQUEST", cors)
        out: list[Payload] = []
        failed = 0
        for i, p in enumerate(payloads):
            try:
                if op == "decode":
                    out.append(await _decode_one(config, logical, p, i))
                else:
                    out.extend(await config.codec(logical).encode([p]))
            except CodecError as e:
                if op == "encode":
                    return _error(422, e.message, e.code, cors)
                # One bad payload must not hide the others: it stays encrypted.
                failed += 1
                log.warning("codec decode by %s on %s: %s", name, logical, e.message)
                out.append(p)
        log.info("codec %s by %s on %s: %d payloads", op, name, logical, len(payloads))
        headers = {**cors, "Content-Type": "application/json"}
        if failed:
            headers["X-Paved-Decode-Errors"] = str(failed)
        return web.Response(text=_render(out), headers=headers)

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(client_max_size=config.max_body_bytes)
    app.router.add_route("POST", "/{op:encode|decode}", handle)
    app.router.add_route("OPTIONS", "/{op:encode|decode}", handle)
    app.router.add_get("/healthz", health)
    return app


class CodecServer:
    """A running codec server on ``host:port`` (0 picks a free port)."""

    def __init__(self, config: CodecServerConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> CodecServer:
        if self.config.local_principal is not None and self.host.lower() not in LOOPBACK_HOSTS:
            raise RuntimeSetupError(
                f"the codec server's local-developer mode accepts requests without a token "
                f"and must listen on loopback only, not {self.host!r}",
                code="PAVED-SETUP-LOCAL-DEV",
                fix="listen on 127.0.0.1, or run `paved codec-server` (bearer tokens only)",
            )
        self._runner = web.AppRunner(create_app(self.config), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            server = site._server
            assert server is not None
            self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
