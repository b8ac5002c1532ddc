"""Importing a project's code for one test, and forgetting it afterwards.

Decorators record every definition in the process-wide registry of
``paved.sdk``, and Python keeps imported modules in ``sys.modules``; a test that
imports a temporary project (or scaffolds one and runs ``paved gen`` in
process) would leak its definitions into the next test. ``isolated_imports``
puts both back, and ``sys.path`` too.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from paved import sdk


@contextlib.contextmanager
def isolated_imports(root: Path) -> Iterator[None]:
    """Forget, on exit, the definitions registered and the modules imported from under ``root``."""
    path = list(sys.path)
    prefix = str(Path(root).resolve())
    try:
        with sdk.registry_scope():
            yield
    finally:
        sys.path[:] = path
        for name, mod in list(sys.modules.items()):
            if (getattr(mod, "__file__", None) or "").startswith(prefix):
                del sys.modules[name]
