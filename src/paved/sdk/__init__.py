"""What product code imports: decorators, activity calls, data converter, client."""

from typing import Any

from paved.sdk._calls import (
    DEFAULT_TIER,
    NAMESPACE_TIERS,
    TIER_DEFAULTS,
    TierDefaults,
    activity_options,
    execute_activity,
    start_activity,
)
from paved.sdk._callsite import (
    CALL_SITE_HEADER,
    CallSite,
    find_call_site,
)
from paved.sdk._client import connect, default_codec, state_dir
from paved.sdk._converter import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    TEMPORAL_PAYLOAD_LIMIT,
    ChainCodec,
    SizeLimitCodec,
    data_converter,
)
from paved.sdk._decorators import (
    REGISTRY,
    Placement,
    Registry,
    activity,
    check_placements,
    default_activity_queue,
    default_workflow_queue,
    did_you_mean,
    placement_of,
    unknown_namespace,
    workflow,
)
from paved.sdk._naming import NAME_PATTERN, RuntimeEnv, physical_namespace
from paved.sdk._tracing import (
    JsonLogFormatter,
    LinksInterceptor,
    current_trace_id,
    render_links,
    server_span,
    setup_logging,
    setup_tracing,
    tracing_enabled,
)

__all__ = [
    "CALL_SITE_HEADER",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "DEFAULT_TIER",
    "NAMESPACE_TIERS",
    "NAME_PATTERN",
    "REGISTRY",
    "TEMPORAL_PAYLOAD_LIMIT",
    "TIER_DEFAULTS",
    "CallSite",
    "CallSiteInterceptor",
    "ChainCodec",
    "JsonLogFormatter",
    "LinksInterceptor",
    "Placement",
    "Registry",
    "RuntimeEnv",
    "SizeLimitCodec",
    "TierDefaults",
    "activity",
    "activity_options",
    "check_placements",
    "connect",
    "current_trace_id",
    "data_converter",
    "default_activity_queue",
    "default_codec",
    "default_workflow_queue",
    "did_you_mean",
    "execute_activity",
    "find_call_site",
    "physical_namespace",
    "placement_of",
    "render_links",
    "server_span",
    "setup_logging",
    "setup_tracing",
    "start_activity",
    "state_dir",
    "tracing_enabled",
    "unknown_namespace",
    "workflow",
]


def __getattr__(name: str) -> Any:
    # Lazy: the interceptor needs temporalio.worker, which `import paved` avoids.
    if name == "CallSiteInterceptor":
        from paved.sdk._callsite_interceptor import CallSiteInterceptor

        return CallSiteInterceptor
    raise AttributeError(f"module 'paved.sdk' has no attribute {name!r}")
