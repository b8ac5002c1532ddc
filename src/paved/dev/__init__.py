"""The embedded platform: ``paved dev`` starts Temporal, the proxy, codec server and workers."""

from paved._net import free_port, port_in_use, wait_for_port
from paved.dev._access import DEV_PRINCIPAL, DevAccess, add_codec_server, add_proxy, dev_access
from paved.dev._devserver import DevServer, temporal_binary
from paved.dev._namespaces import ensure_namespaces
from paved.dev._platform import Managed, Platform, run_dev
from paved.dev._status import status_lines

__all__ = [
    "DEV_PRINCIPAL",
    "DevAccess",
    "DevServer",
    "Managed",
    "Platform",
    "add_codec_server",
    "add_proxy",
    "dev_access",
    "ensure_namespaces",
    "free_port",
    "port_in_use",
    "run_dev",
    "status_lines",
    "temporal_binary",
    "wait_for_port",
]
