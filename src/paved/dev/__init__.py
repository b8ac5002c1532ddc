"""The embedded platform: ``paved dev`` starts Temporal, the proxy, codec server and workers."""

from paved.dev._devserver import DevServer, free_port, port_in_use, temporal_binary, wait_for_port
from paved.dev._namespaces import ensure_namespaces

__all__ = [
    "DevServer",
    "ensure_namespaces",
    "free_port",
    "port_in_use",
    "temporal_binary",
    "wait_for_port",
]
