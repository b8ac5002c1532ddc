"""paved.dashboard: what people look at -- the codec server for the Temporal UI and CLI."""

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

__all__ = [
    "Authorizer",
    "CodecServer",
    "CodecServerConfig",
    "NamespaceResolver",
    "config_from_project",
    "create_app",
    "local_principal",
    "namespace_resolver",
    "parse_namespace_map",
]
