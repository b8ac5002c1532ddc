"""The embedded platform: ``paved dev`` starts Temporal, the proxy, codec server and workers.

``assemble(project, DevOptions(...))`` decides everything and returns a
``Platform``; ``await platform.run()`` starts it, supervises it until Ctrl-C and
stops it. ``DevServer`` is the real Temporal dev server (also used by the tests
and benchmarks); ``dev_access`` the local developer's policy and key;
``run_workflow`` what ``paved run`` does (start one workflow through the running
``paved dev`` and follow it).
"""

import typing as _typing

from paved import _lazy

if _typing.TYPE_CHECKING:
    from paved._net import free_port, port_in_use, wait_for_port
    from paved.dev._access import DEV_PRINCIPAL, DevAccess, dev_access
    from paved.dev._assemble import assemble, search_attributes
    from paved.dev._devserver import DevServer, temporal_binary
    from paved.dev._namespaces import ensure_namespaces
    from paved.dev._platform import Platform
    from paved.dev._run import RunOutcome, RunRequest, run_workflow
    from paved.dev._settings import DevOptions, DevSettings
    from paved.dev._status import status_at, status_lines

__all__ = [
    "DEV_PRINCIPAL",
    "DevAccess",
    "DevOptions",
    "DevServer",
    "DevSettings",
    "Platform",
    "RunOutcome",
    "RunRequest",
    "assemble",
    "dev_access",
    "ensure_namespaces",
    "free_port",
    "port_in_use",
    "run_workflow",
    "search_attributes",
    "status_at",
    "status_lines",
    "temporal_binary",
    "wait_for_port",
]

if not _typing.TYPE_CHECKING:  # type checkers see the imports above, exactly
    __getattr__, __dir__ = _lazy.exports(__name__, __file__)
