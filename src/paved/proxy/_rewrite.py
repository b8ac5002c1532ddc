"""The rewriter: namespace names and payloads of one call, in either direction.

Used by the ``rewrite`` and ``rewrite back`` stages (``_pipeline.py``) through
the descriptor-driven visitor (``_visitor.py``). The same object serves both
directions, because they are one mapping read two ways:

=================  ================================  ====================================
                   inbound (request, to Temporal)    outbound (response, to the caller)
=================  ================================  ====================================
namespace names    logical -> physical of the call's  physical -> the name the caller sent
                   region/environment; another one    (or the logical name, for another
                   needs ``write`` there (asked of    namespace in the same region and
                   the one authorization decision)    environment)
payloads           encrypted with the keys of the     decrypted with the same keys
                   logical namespace they belong to
Failure            message and stack trace moved      moved back
                   into encrypted attributes
=================  ================================  ====================================

The keys of a payload are those of the logical namespace of the innermost
message that names one (a child workflow started in another namespace), else
the call's own.
"""

from __future__ import annotations

import logging

import grpc
from temporalio.api.common.v1 import Payload

from paved import codec
from paved.auth import AccessRequest
from paved.proxy import _observe as observe
from paved.proxy._context import CallContext, Reject
from paved.proxy._visitor import Job
from paved.specs import Route, Routes

log = logging.getLogger("paved.proxy")


class Rewriter:
    """Rewrites the messages of calls through one proxy (routes, keys and counters)."""

    def __init__(
        self, routes: Routes, keyring: codec.KeyRing | None, metrics: observe.Metrics
    ) -> None:
        self.routes = routes
        self.keyring = keyring
        self.metrics = metrics

    def job(self, call: CallContext, *, inbound: bool) -> Job:
        """The visitor job of ``call`` in one direction."""
        one = _Direction(self, call, inbound)
        ring = self.keyring
        return Job(
            payload=None if ring is None else one.encrypt if inbound else one.decrypt,
            namespace=one.namespace,
            key_namespace=one.key_namespace,
            default_key_namespace=call.logical,
            encode_failures=inbound and ring is not None,
            decode_failures=not inbound and ring is not None,
        )


class _Direction:
    """One call, one direction: the functions the visitor calls back."""

    __slots__ = ("call", "inbound", "rw")

    def __init__(self, rw: Rewriter, call: CallContext, inbound: bool) -> None:
        self.rw = rw
        self.call = call
        self.inbound = inbound

    def key_namespace(self, value: str) -> str:
        """The logical namespace whose keys apply under a message naming ``value``."""
        routes = self.rw.routes
        if value in routes:
            return value
        r = routes.by_physical(value)
        return r.logical if r is not None else self.call.logical

    def namespace(self, value: str) -> str:
        call = self.call
        if self.inbound:
            if value == call.name or value == call.logical:
                return call.physical
            if value == call.physical:
                return value
            return self._other_inbound(value).physical
        if value == call.physical:
            return call.name
        r = self.rw.routes.by_physical(value)
        if r is not None and r.region == call.region and r.environment == call.environment:
            return r.logical
        return value

    def _other_inbound(self, value: str) -> Route:
        """Another namespace named inside a request (a child workflow, an external signal)."""
        call = self.call
        routes = self.rw.routes
        r = routes.by_physical(value) or routes.physical(value, call.region, call.environment)
        if r is None:
            raise Reject(
                grpc.StatusCode.PERMISSION_DENIED, f"unknown namespace {value!r} in request"
            )
        p = call.who()
        decision = call.policy.decide(
            AccessRequest.of(
                p,
                "write",
                r.logical,
                r.region,
                r.environment,
                now=call.now,
                action=call.method.name,
            )
        )
        if not decision:
            raise Reject(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{p.name} (team {p.team}) may not act on namespace {r.logical!r} "
                f"from {call.logical!r}: {decision.reason}",
            )
        return r

    def encrypt(self, payload: Payload, ns: str) -> Payload:
        out = codec.encrypt_payload(payload, self.rw.keyring, ns)  # type: ignore[arg-type]
        if out is not payload:
            self.rw.metrics.encrypted.inc()
        return out

    def decrypt(self, payload: Payload, ns: str) -> Payload:
        if not codec.is_encrypted(payload):
            return payload
        metrics = self.rw.metrics
        try:
            out = codec.decrypt_payload(payload, self.rw.keyring, ns)  # type: ignore[arg-type]
        except codec.CodecError as e:
            metrics.undecryptable.inc()
            log.warning("payload of namespace %r left encrypted: %s", ns, e.code)
            return payload
        metrics.decrypted.inc()
        return out
