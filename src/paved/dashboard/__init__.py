"""paved.dashboard: what people look at -- the local page (charts, stuck workflows, logs,
traces) and the codec server for the Temporal UI and CLI."""

from paved.dashboard._codec_server import (
    Authorizer,
    CodecServer,
    CodecServerConfig,
    NamespaceResolver,
    create_app,
)
from paved.dashboard._codec_setup import (
    config_from_project,
    local_principal,
    namespace_resolver,
    parse_namespace_map,
)
from paved.dashboard._page import PageConfig, page_app, read_logs, read_trace, serve_page

__all__ = [
    "Authorizer",
    "CodecServer",
    "CodecServerConfig",
    "NamespaceResolver",
    "PageConfig",
    "config_from_project",
    "create_app",
    "local_principal",
    "namespace_resolver",
    "page_app",
    "parse_namespace_map",
    "read_logs",
    "read_trace",
    "serve_page",
]
