"""pytest plugin: every history of a replay corpus is a test.

    pytest -p paved.checks.pytest_plugin replay/            # or, in conftest.py:
    pytest_plugins = ["paved.checks.pytest_plugin"]

Each ``replay/<WorkflowType>/<shape>.json`` file pytest is pointed at becomes one
test that replays it against the current code (the project is the nearest
``paved.yaml`` above the file). A failure shows the same report as
``paved replay test``: the file:line that diverged and the fix; pytest's own
``--junitxml`` carries it to CI.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paved import specs


class ReplayFailed(Exception):
    """The replay of one history failed; the message is the full report."""


def _is_corpus_file(path: Path) -> bool:
    if path.suffix != ".json" or path.name.endswith(".tmp"):
        return False
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return b'"paved_corpus"' in head


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if _is_corpus_file(file_path):
        return ReplayFile.from_parent(parent, path=file_path)
    return None


class ReplayFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        doc = json.loads(self.path.read_text(encoding="utf-8"))
        yield ReplayItem.from_parent(
            self, name=f"{doc.get('workflow_type', '?')}[{doc.get('shape', self.path.stem)}]"
        )


class ReplayItem(pytest.Item):
    def runtest(self) -> None:
        from paved import checks

        path = Path(self.path)
        project = specs.Project.find(path.parent)
        corpus = path.parent.parent
        run = asyncio.run(checks.replay_project(project, corpus, only=[path]))
        bad = run.failed
        if bad:
            raise ReplayFailed(checks.describe(bad[0], project.root))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ReplayFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return Path(self.path), None, f"replay {self.name}"
