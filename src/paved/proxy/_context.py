"""The call context: one object that the proxy's stages read and fill, in order.

``_server.py`` makes one :class:`CallContext` per RPC and ``_pipeline.py`` runs
the method's stages over it (authenticate, parse, route, authorize, rate-limit,
guard the task token, rewrite, forward, rewrite back), then logs it. A stage
refuses a call by raising :class:`Reject`, which becomes the gRPC status the
caller sees. Also here: the small wire helpers the stages share (metadata split,
task-token namespace id, rate-limit trailers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from temporalio.api.enums.v1 import ResourceExhaustedCause, ResourceExhaustedScope
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure

from paved.auth import Decision, Policy, Principal
from paved.proxy._methods import Method
from paved.specs import Route

REGION_HEADER = "paved-region"
ENVIRONMENT_HEADER = "paved-environment"
# never forwarded upstream: our own credentials and routing hints, and transport headers
_STRIP = frozenset(
    {"authorization", "user-agent", "temporal-namespace", REGION_HEADER, ENVIRONMENT_HEADER}
)


class Reject(Exception):
    """A call refused by the proxy (or failed upstream): becomes a gRPC status.

    ``upstream`` marks Temporal's own errors, passed through as they are: their
    details can quote workflow data, so the access log leaves them out.
    """

    def __init__(
        self, code: grpc.StatusCode, details: str, trailers: Any = None, *, upstream: bool = False
    ) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.trailers = trailers
        self.upstream = upstream


@dataclass(slots=True)
class CallContext:
    """One call as it goes through the stages (and what the access log reports).

    Set at the start: ``method``, ``raw`` (the request bytes), ``grpc`` (the
    server context), ``policy`` (the policy of this call: a reload during the
    call does not change it) and ``now`` (Unix time, for credential expiry).
    Each stage fills what it resolves; later stages only read earlier ones.
    """

    method: Method
    raw: bytes
    grpc: Any  # grpc.aio.ServicerContext
    policy: Policy
    now: float
    # authenticate
    metadata: dict[str, str] = field(default_factory=dict)
    upstream_metadata: list[tuple[str, str]] = field(default_factory=list)
    principal: Principal | None = None
    # parse
    request: Any = None
    # route
    name: str = ""  # the namespace as the caller sent it
    logical: str = ""
    physical: str = ""
    region: str = ""
    environment: str = ""
    route: Route | None = None
    # authorize
    decision: Decision | None = None
    # forward and rewrite back
    upstream_call: Any = None  # a long poll's upstream call (grpc.aio.UnaryUnaryCall)
    response_raw: bytes = b""
    response: Any = None
    # outcome (for the log)
    code: str = "OK"
    reason: str = ""

    def who(self) -> Principal:
        """The authenticated principal (stages after ``authenticate`` only)."""
        p = self.principal
        if p is None:  # pragma: no cover - a stage order mistake
            raise AssertionError("stage ran before authenticate")
        return p


def split_metadata(call: CallContext) -> None:
    """Read the caller's metadata; keep what Temporal may see for the upstream call."""
    md = call.metadata
    forward = call.upstream_metadata
    for k, v in call.grpc.invocation_metadata() or ():
        if isinstance(v, bytes):
            if k.endswith("-bin"):
                forward.append((k, v))  # type: ignore[arg-type]  # gRPC takes bytes for -bin
            continue
        md[k] = v
        if k not in _STRIP and not k.startswith(("grpc-", ":")):
            forward.append((k, v))


def token_namespace_id(token: bytes) -> str:
    """Field 1 (``namespace_id``) of Temporal's task tokens (Task, QueryTask, NexusTask).

    The token is an opaque protobuf for clients, but all three server token
    messages put the namespace id in field 1 as a string; that is all we read.
    """
    if len(token) < 2 or token[0] != 0x0A:  # field 1, wire type 2
        raise ValueError("not a task token")
    n, shift, i = 0, 0, 1
    while True:
        if i >= len(token) or shift > 28:
            raise ValueError("bad length")
        b = token[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
    if i + n > len(token):
        raise ValueError("truncated")
    return token[i : i + n].decode("utf-8")


def retry_trailers(retry_after: float, bucket: str) -> tuple[tuple[str, Any], ...]:
    """Temporal's own RESOURCE_EXHAUSTED details, so SDKs back off as they would from Temporal."""
    delay = duration_pb2.Duration()
    delay.FromMilliseconds(max(1, round(retry_after * 1000)))
    status = status_pb2.Status(
        code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message="rate limited"
    )
    ref = ResourceExhaustedFailure(
        cause=ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_APS_LIMIT
        if bucket == "actions"
        else ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT,
        scope=ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE,
    )
    status.details.add().Pack(ref)
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return (
        ("grpc-status-details-bin", status.SerializeToString()),
        ("retry-after", f"{retry_after:.3f}"),
    )
