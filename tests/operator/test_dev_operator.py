"""`paved dev` runs the operator in-process: its first pass creates the namespaces (owned,
with search attributes) and defines the workers; a `paved gen` while it runs is applied."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from temporalio.client import Client

from paved.dev import free_port
from tests.conftest import unique_pkg, write_project

from .helpers import custom_attributes, describe

PAVED = [sys.executable, "-m", "paved.cli"]


def project_files(pkg: str, attributes: str) -> dict[str, str]:
    return {
        "paved.yaml": (
            f"project: devop\npackages: [{pkg}]\nnamespaces:\n  devop:\n    owner: team-devop\n"
            f"    retention: 2d\n    search_attributes: {{{attributes}}}\n"
        ),
        f"{pkg}/__init__.py": "",
        f"{pkg}/flows.py": """\
import paved
from temporalio import workflow

@paved.activity(namespace="devop", worker="devop-worker")
async def shout(s: str) -> str:
    return s.upper()

@paved.workflow(namespace="devop", worker="devop-worker")
class ShoutFlow:
    @workflow.run
    async def run(self, s: str) -> str:
        return await paved.execute_activity(shout, s) + "!"
""",
    }


def gen(root: Path) -> None:
    r = subprocess.run(
        [*PAVED, "gen", "--project", str(root)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr


async def test_paved_dev_runs_the_operator(tmp_path: Path) -> None:
    pkg = unique_pkg("devop")
    root = write_project(tmp_path / "proj", project_files(pkg, "OrderId: Keyword"))
    gen(root)
    out = tmp_path / "dev.out"
    with open(out, "wb") as f:
        proc = subprocess.Popen(
            [
                *PAVED,
                "dev",
                "--project",
                str(root),
                "--port",
                str(free_port()),
                "--ui-port",
                str(free_port()),
            ],
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops everything" not in out.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        text = out.read_text()
        assert "operator: namespaces: devop-dev-local; 1 worker(s) defined" in text, text
        urls = json.loads((root / ".paved" / "dev.json").read_text())["urls"]
        temporal = await Client.connect(urls["temporal"].split()[0])
        retention, _, data = await describe(temporal, "devop-dev-local")
        assert retention == 2 and data["paved.io/managed-by"] == "paved-operator/devop"
        assert "OrderId" in await custom_attributes(temporal, "devop-dev-local")

        status = subprocess.run(
            [*PAVED, "status", "--project", str(root)], capture_output=True, text=True, timeout=60
        )
        assert "operator: active" in status.stdout, status.stdout
        assert "temporal: 2 in-sync" in status.stdout and "workers: 1 in-sync" in status.stdout

        # A spec change while paved dev runs: the watcher wakes the operator.
        (root / "paved.yaml").write_text(
            project_files(pkg, "OrderId: Keyword, Region: Keyword")["paved.yaml"]
        )
        gen(root)
        deadline = time.monotonic() + 30
        while "Region" not in await custom_attributes(temporal, "devop-dev-local"):
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        deadline = time.monotonic() + 10
        while "create search-attribute devop-dev-local/Region applied" not in out.read_text():
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
