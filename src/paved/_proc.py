"""Child processes that never outlive their parent.

``paved dev``, the test fixtures and the benchmarks start Temporal, the proxy
and workers as child processes. Ctrl-C stops them cleanly; this covers the case
where the parent itself is killed (kill -9, a CI timeout): on Linux the kernel
sends the child SIGTERM when the parent dies (``PR_SET_PDEATHSIG``), so nothing
is left running. Elsewhere it does nothing.

Caveat (Linux semantics): the signal follows the *thread* that forked the
child, so start long-lived children from the main thread, as Paved does.
"""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent() -> None:
    """``preexec_fn`` for ``subprocess.Popen``: SIGTERM this child when the parent dies."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
