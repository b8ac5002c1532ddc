"""Fixtures for ``paved new worker`` tests.

Scaffolding runs the ``paved gen`` logic in-process, which imports the new
package and records its workflows in the process-wide registry of ``paved.sdk``.
``isolated_imports`` puts the registry, ``sys.path`` and the imported project
modules back after each test, so scaffolded projects never leak into other
tests (or into each other).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paved.sdk import registry_scope


@pytest.fixture(autouse=True)
def isolated_imports(tmp_path: Path) -> Iterator[None]:
    path = list(sys.path)
    try:
        with registry_scope():
            yield
    finally:
        sys.path[:] = path
        root = str(tmp_path.resolve())
        for name, mod in list(sys.modules.items()):
            if (getattr(mod, "__file__", None) or "").startswith(root):
                del sys.modules[name]
