"""``paved run`` as a user runs it: ``paved dev`` and ``paved run`` as subprocesses.

One ``paved dev`` for the module, on a small project with a workflow taking a
Pydantic model and one whose activity fails for good. Good input prints the
result; bad input names the field and starts nothing; the failure is printed
decoded with its cause chain and exit 1; a typo gets "did you mean".
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from dev_project import PAVED, generate
from tests.conftest import unique_pkg, write_project

import paved
from paved.cli import cli
from paved.dev import free_port


def run_project(pkg: str) -> dict[str, str]:
    return {
        "paved.yaml": f"project: runt\npackages: [{pkg}]\nnamespaces:\n  runt:\n    owner: team-runt\n",
        f"{pkg}/__init__.py": "",
        f"{pkg}/flows.py": """\
import paved
from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ApplicationError


class Greeting(BaseModel):
    name: str = Field(min_length=1)
    times: int = 1


@paved.activity(namespace="runt", worker="runt-worker")
async def greet(g: Greeting) -> str:
    return " ".join([f"hello {g.name}"] * g.times)


@paved.activity(namespace="runt", worker="runt-worker")
async def refuse(g: Greeting) -> str:
    raise ApplicationError(f"no greeting for {g.name}", type="Refused", non_retryable=True)


@paved.workflow(namespace="runt", worker="runt-worker")
class GreetFlow:
    @workflow.run
    async def run(self, g: Greeting) -> dict[str, str]:
        return {"greeting": await paved.execute_activity(greet, g)}


@paved.workflow(namespace="runt", worker="runt-worker")
class RefuseFlow:
    @workflow.run
    async def run(self, g: Greeting) -> str:
        return await paved.execute_activity(refuse, g)
""",
    }


@dataclass
class Dev:
    proc: subprocess.Popen[bytes]
    root: Path
    port: int
    out: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace")


def wait_for(dev: Dev, text: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while text not in dev.output():
        assert dev.proc.poll() is None, f"paved dev exited ({dev.proc.returncode}):\n{dev.output()}"
        assert time.monotonic() < deadline, f"no {text!r} in time:\n{dev.output()}"
        time.sleep(0.2)


def clean_env() -> dict[str, str]:
    """A developer's shell: no PAVED_* variables (paved run finds `paved dev` itself)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PAVED_")}


def paved_run(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAVED, "run", *args], cwd=root, env=clean_env(),
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    base = tmp_path_factory.mktemp("paved-run")
    project = generate(write_project(base / "proj", run_project(unique_pkg("runt"))))
    port = free_port()
    out = base / "dev.out"
    with open(out, "wb") as f:
        proc = subprocess.Popen(
            [*PAVED, "dev", "--port", str(port), "--ui-port", str(free_port())],
            cwd=project.root, stdout=f, stderr=subprocess.STDOUT, env=clean_env(),
        )  # fmt: skip
    d = Dev(proc, project.root, port, out)
    try:
        wait_for(d, "Ctrl-C stops everything")
        yield d
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(90)


async def started(dev: Dev, workflow_id: str) -> bool:
    """Whether Temporal has a workflow with this id (asked through the proxy)."""
    from temporalio.service import RPCError

    key = (dev.root / ".paved" / "dev-api-key").read_text().strip()
    env = paved.RuntimeEnv(address=f"127.0.0.1:{dev.port}", via_proxy=True, api_key=key)
    client = await paved.connect("runt", env=env, codec=None)
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as e:
        assert "not found" in str(e).lower(), e
        return False
    return True


async def test_good_input_prints_the_result(dev: Dev) -> None:
    r = paved_run(dev.root, "GreetFlow", "--input", '{"name": "ada", "times": 2}', "--id", "g-ok")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"greeting": "hello ada hello ada"}
    assert f"through the running `paved dev` at 127.0.0.1:{dev.port} as dev-local" in r.stderr
    # Progress: one line per history event, the activity named.
    assert "WorkflowExecutionStarted  GreetFlow on runt-worker-workflows" in r.stderr
    assert "ActivityTaskScheduled  greet on runt-worker-activities" in r.stderr
    assert "WorkflowExecutionCompleted" in r.stderr
    assert "/namespaces/runt-dev-local/workflows/g-ok/" in r.stderr  # the UI link
    assert await started(dev, "g-ok")


async def test_bad_input_names_the_field_and_starts_nothing(dev: Dev, tmp_path: Path) -> None:
    wid = f"g-bad-{uuid.uuid4().hex[:6]}"
    r = paved_run(dev.root, "GreetFlow", "--input", '{"nam": "ada"}', "--id", wid)
    assert r.returncode == 2, r.stderr
    assert "[PAVED-RUN-INPUT]" in r.stderr and "nothing was started" in r.stderr
    assert "1 validation error for Greeting\n  name\n    Field required" in r.stderr
    assert '--input \'{"name": "..."}\'' in r.stderr  # a valid shape to copy
    # A wrong type, from a file. (A subprocess: the check imports the project's code, and
    # the decorators' registry of this process may hold an activity named `greet` already.)
    bad = tmp_path / "in.json"
    bad.write_text('{"name": "ada", "times": "many"}')
    r2 = paved_run(dev.root, "GreetFlow", "--input-file", str(bad), "--id", wid)
    assert r2.returncode == 2 and "  times\n    Input should be a valid integer" in r2.stderr
    assert not await started(dev, wid)


def test_failing_workflow_prints_the_decoded_failure(dev: Dev) -> None:
    r = paved_run(dev.root, "RefuseFlow", "--input", '{"name": "bob"}')
    assert r.returncode == 1, r.stderr
    assert "RefuseFlow failed" in r.stderr
    # Decoded (the proxy stores it encrypted) with type and cause chain.
    assert "ActivityError: Activity task failed (activity refuse)" in r.stderr
    assert "caused by ApplicationError [Refused]: no greeting for bob" in r.stderr
    assert "ActivityTaskFailed  Refused: no greeting for bob" in r.stderr
    assert "Encoded failure" not in r.stderr
    assert 'raise ApplicationError(f"no greeting' in r.stderr  # the innermost stack trace
    assert r.stdout == ""


def test_unknown_workflow_suggests_the_close_one(dev: Dev) -> None:
    r = CliRunner().invoke(cli, ["run", "GreetFlo", "--project", str(dev.root), "--input", "{}"])
    assert r.exit_code == 2
    assert "[PAVED-RUN-UNKNOWN-WORKFLOW]" in r.stderr
    assert "(did you mean 'GreetFlow'?)" in r.stderr
    assert "known: GreetFlow, RefuseFlow" in r.stderr


def test_no_wait_prints_the_id(dev: Dev) -> None:
    r = paved_run(dev.root, "GreetFlow", "--input", '{"name": "c"}', "--no-wait", "--id", "g-nw")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "g-nw"
    assert "paved temporal workflow show -n runt -w g-nw" in r.stderr


def test_help_teaches_with_an_example() -> None:
    r = CliRunner().invoke(cli, ["run", "--help"])
    assert r.exit_code == 0
    assert 'paved run ImageGenWorkflow --input \'{"text": "hello"}\'' in r.stdout
    assert "specs/workflows.yaml" in r.stdout and "--no-wait" in r.stdout


def test_without_paved_dev_it_says_to_start_it(dev: Dev, tmp_path: Path) -> None:
    # The same project, elsewhere, where no `paved dev` runs.
    root = tmp_path / "copy"
    shutil.copytree(dev.root, root, ignore=shutil.ignore_patterns(".paved"))
    r = paved_run(root, "GreetFlow", "--input", '{"name": "x"}')
    assert r.returncode == 2
    assert "[PAVED-RUN-NO-DEV]" in r.stderr
    assert f"start `paved dev` in {root}" in r.stderr
