"""Fixtures for ``paved new worker`` tests.

Scaffolding runs the ``paved gen`` logic in-process, which imports the new
package and records its workflows in the process-wide ``paved.sdk.REGISTRY``.
``isolated_imports`` puts the registry, ``sys.path`` and the imported project
modules back after each test, so scaffolded projects never leak into other
tests (or into each other).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paved.sdk import REGISTRY


@pytest.fixture(autouse=True)
def isolated_imports(tmp_path: Path) -> Iterator[None]:
    workflows, activities = dict(REGISTRY.workflows), dict(REGISTRY.activities)
    path = list(sys.path)
    try:
        yield
    finally:
        REGISTRY.workflows.clear()
        REGISTRY.workflows.update(workflows)
        REGISTRY.activities.clear()
        REGISTRY.activities.update(activities)
        sys.path[:] = path
        root = str(tmp_path.resolve())
        for name, mod in list(sys.modules.items()):
            if (getattr(mod, "__file__", None) or "").startswith(root):
                del sys.modules[name]
