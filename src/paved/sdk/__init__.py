"""What product code imports: decorators, calls, tiers, data converter, client.

The registry of definitions is not exported: the decorators :func:`register`
into it, tools read it through :func:`definitions` and :func:`placements`.
"""

import typing as _typing

from paved import _lazy

if _typing.TYPE_CHECKING:
    from paved.sdk._calls import (
        activity_options,
        execute_activity,
        start_activity,
        tier_of,
    )
    from paved.sdk._callsite import (
        CALL_SITE_HEADER,
        CallSite,
        find_call_site,
    )
    from paved.sdk._callsite_interceptor import CallSiteInterceptor
    from paved.sdk._client import connect, default_codec, state_dir
    from paved.sdk._converter import (
        DEFAULT_MAX_PAYLOAD_BYTES,
        TEMPORAL_PAYLOAD_LIMIT,
        ChainCodec,
        SizeLimitCodec,
        data_converter,
    )
    from paved.sdk._decorators import activity, workflow
    from paved.sdk._naming import NAME_PATTERN, RuntimeEnv, physical_namespace
    from paved.sdk._placement import (
        Placement,
        default_activity_queue,
        default_workflow_queue,
        placement_of,
        runs_local,
    )
    from paved.sdk._registry import (
        check_placements,
        definitions,
        did_you_mean,
        placements,
        project_scope,
        register,
        registry_scope,
        unknown_namespace,
    )
    from paved.sdk._tiers import DEFAULT_TIER, TIERS, TierDefaults, resolve_tier, tier_defaults
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
    "NAME_PATTERN",
    "TEMPORAL_PAYLOAD_LIMIT",
    "TIERS",
    "CallSite",
    "CallSiteInterceptor",
    "ChainCodec",
    "JsonLogFormatter",
    "LinksInterceptor",
    "Placement",
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
    "definitions",
    "did_you_mean",
    "execute_activity",
    "find_call_site",
    "physical_namespace",
    "placement_of",
    "placements",
    "project_scope",
    "register",
    "registry_scope",
    "render_links",
    "resolve_tier",
    "runs_local",
    "server_span",
    "setup_logging",
    "setup_tracing",
    "start_activity",
    "state_dir",
    "tier_defaults",
    "tier_of",
    "tracing_enabled",
    "unknown_namespace",
    "workflow",
]


if not _typing.TYPE_CHECKING:  # type checkers see the imports above, exactly
    __getattr__, __dir__ = _lazy.exports(__name__, __file__, on_use_only=("CallSiteInterceptor",))
