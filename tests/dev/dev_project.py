"""A small generated project for the ``paved dev`` tests (one workflow, one activity, one worker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from paved import specs

PAVED = [sys.executable, "-m", "paved.cli"]


def small_project(pkg: str) -> dict[str, str]:
    return {
        "paved.yaml": f"project: devt\npackages: [{pkg}]\nnamespaces:\n  devt:\n    owner: team-devt\n",
        f"{pkg}/__init__.py": "",
        f"{pkg}/flows.py": """\
import paved
from temporalio import workflow

@paved.activity(namespace="devt", worker="devt-worker")
async def shout(s: str) -> str:
    return s.upper()

@paved.workflow(namespace="devt", worker="devt-worker")
class ShoutFlow:
    @workflow.run
    async def run(self, s: str) -> str:
        return await paved.execute_activity(shout, s) + "!"
""",
    }


def generate(root: Path) -> specs.Project:
    r = subprocess.run(
        [*PAVED, "gen", "--project", str(root)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    return specs.Project.load(root)
