"""Reload on save and specs never stale: ``paved dev`` as a subprocess, driven by files.

One ``paved dev`` per module on a project that never ran ``paved gen`` (two
workers in one namespace): it writes the specs at start; a workflow started
before its type exists is stuck on its workflow task, and completes seconds
after its class is saved (no ``paved gen``, no restart by hand); a save
restarts only the worker whose code changed. Without a server: ``--check-specs``
refuses stale specs, a worker whose spec lacks a type says so at start, the
diff summary, and which files each worker imports.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dev_project import PAVED, generate
from test_paved_dev import Running, start_dev, wait_for_line
from tests.conftest import unique_pkg, write_project

import paved
from paved.dev import free_port

FLOW_A = """\
import paved
from temporalio import workflow

from {pkg}.util import suffix


@paved.activity(namespace="devr", worker="devr-a")
async def shout_a(s: str) -> str:
    return s.upper() + suffix()


@paved.workflow(namespace="devr", worker="devr-a")
class ShoutA:
    @workflow.run
    async def run(self, s: str) -> str:
        return await paved.execute_activity(shout_a, s)
"""

FLOW_B = """\
import paved
from temporalio import workflow


@paved.workflow(namespace="devr", worker="devr-b")
class EchoB:
    @workflow.run
    async def run(self, s: str) -> str:
        return s
"""

LATE = """

@paved.workflow(namespace="devr", worker="devr-a")
class LateFlow:
    @workflow.run
    async def run(self, s: str) -> str:
        return "late " + s
"""


def reload_project(pkg: str) -> dict[str, str]:
    return {
        "paved.yaml": f"project: devr\npackages: [{pkg}]\nnamespaces:\n  devr:\n    owner: team-devr\n",
        f"{pkg}/__init__.py": "",
        f"{pkg}/util.py": "def suffix() -> str:\n    return '!'\n",
        f"{pkg}/flows_a.py": FLOW_A.format(pkg=pkg),
        f"{pkg}/flows_b.py": FLOW_B,
    }


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, str]]:
    base = tmp_path_factory.mktemp("devreload")
    pkg = unique_pkg("devr")
    root = write_project(base / "proj", reload_project(pkg))  # no `paved gen`
    r = start_dev(root, base / "dev.out", "--no-ui")
    try:
        wait_for_line(r, "Ctrl-C stops everything")
        yield r, pkg
    finally:
        if r.proc.poll() is None:
            r.proc.send_signal(signal.SIGINT)
            r.proc.wait(60)


async def client(r: Running):  # type: ignore[no-untyped-def]
    env = paved.RuntimeEnv(address=r.address, via_proxy=True, api_key=r.key())
    return await paved.connect("devr", env=env, codec=None)


def pid(r: Running, worker: str) -> int:
    return int(r.status()["pids"][f"worker {worker}"])


def wait_pid_change(r: Running, worker: str, before: int, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while True:
        reps = [x for x in r.status()["replicas"] if x["name"] == f"worker {worker}"]
        if reps and reps[0]["pid"] not in (None, before) and reps[0]["state"] == "running":
            return int(reps[0]["pid"])
        assert time.monotonic() < deadline, r.output()
        time.sleep(0.2)


def test_start_writes_the_specs_it_generated(dev: tuple[Running, str]) -> None:
    r, _ = dev
    out = r.output()
    assert "specs: generated: 1 namespace(s), 2 workflow(s), 1 activity(s), 2 worker(s)" in out
    assert "(written specs/namespaces.yaml, specs/workflows.yaml, specs/workers.yaml)" in out
    assert (r.project.root / "specs" / "workers.yaml").exists()


async def test_stuck_workflow_completes_seconds_after_its_class_is_saved(
    dev: tuple[Running, str],
) -> None:
    r, pkg = dev
    c = await client(r)
    a_before, b_before = pid(r, "devr-a"), pid(r, "devr-b")
    # Started before its class exists: the worker fails its workflow task ("not registered").
    h = await c.start_workflow(
        "LateFlow", "x", id=f"late-{uuid.uuid4().hex[:8]}", task_queue="devr-a-workflows"
    )
    deadline = time.monotonic() + 60
    while (await h.describe()).raw_description.pending_workflow_task.attempt < 2:
        assert time.monotonic() < deadline, "the workflow task never failed"
        time.sleep(0.2)

    flows = r.project.root / pkg / "flows_a.py"
    t0 = time.monotonic()
    flows.write_text(flows.read_text() + LATE)  # saved; no `paved gen`, no restart by hand
    assert await h.result() == "late x"
    elapsed = time.monotonic() - t0
    print(f"stuck workflow completed {elapsed:.1f}s after the save (load {os.getloadavg()[0]:.1f})")
    assert elapsed < 45, r.output()

    out = r.output()
    assert "specs: +workflow LateFlow in namespace devr (worker devr-a)" in out
    assert "reload: restarting devr-a (code " in out and "flows_a.py + spec)" in out
    assert "LateFlow" in (r.project.root / "specs" / "workers.yaml").read_text()
    wait_pid_change(r, "devr-a", a_before)
    assert pid(r, "devr-b") == b_before  # the other worker kept its process


async def test_a_save_restarts_only_the_worker_that_imports_the_file(
    dev: tuple[Running, str],
) -> None:
    r, pkg = dev
    a_before, b_before = pid(r, "devr-a"), pid(r, "devr-b")
    mark = len(r.output())
    # util.py is no worker's module: devr-a imports it (flows_a), devr-b does not.
    util = r.project.root / pkg / "util.py"
    util.write_text("def suffix() -> str:\n    return '!!'\n")
    wait_for_line(r, f"reload: restarting devr-a (code {pkg}/util.py)", 60)
    assert "1 other worker(s) untouched" in r.output()[mark:]
    wait_pid_change(r, "devr-a", a_before)
    c = await client(r)
    got = await c.execute_workflow(
        "ShoutA", "hi", id=f"a-{uuid.uuid4().hex[:8]}", task_queue="devr-a-workflows",
        result_type=str,
    )  # fmt: skip
    assert got == "HI!!"  # the new code runs
    assert pid(r, "devr-b") == b_before


FLOW_C = """\
import paved
from temporalio import workflow


@paved.workflow(namespace="devr2", worker="devr-c")
class NewSpaceFlow:
    @workflow.run
    async def run(self, s: str) -> str:
        return "ns2 " + s
"""


async def test_a_new_namespace_and_worker_from_saves_are_registered_and_run(
    dev: tuple[Running, str],
) -> None:
    """paved.yaml gains a namespace (with a search attribute), a new module a worker in it:
    the in-process operator registers both from the specs paved dev wrote; the dev key may use it."""
    r, pkg = dev
    b_before = pid(r, "devr-b")
    config = r.project.root / "paved.yaml"
    config.write_text(
        config.read_text()
        + "  devr2:\n    owner: team-devr\n    search_attributes:\n      DevrKey: Keyword\n"
    )
    wait_for_line(r, "specs: +namespace devr2", 60)
    (r.project.root / pkg / "flows_c.py").write_text(FLOW_C)
    wait_for_line(r, "+worker devr-c in namespace devr2", 60)
    env = paved.RuntimeEnv(address=r.address, via_proxy=True, api_key=r.key())
    deadline = time.monotonic() + 90
    while True:  # the namespace and the policy reach the proxy within seconds
        try:
            c = await paved.connect("devr2", env=env, codec=None)
            got = await c.execute_workflow(
                "NewSpaceFlow", "y", id=f"ns2-{uuid.uuid4().hex[:8]}",
                task_queue="devr-c-workflows", result_type=str,
            )  # fmt: skip
            break
        except Exception:
            assert time.monotonic() < deadline, r.output()
            await asyncio.sleep(0.5)
    assert got == "ns2 y"
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.client import Client

    raw = await Client.connect(r.status()["urls"]["temporal"].split()[0])
    attrs = await raw.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="devr2-dev-local")
    )
    assert "DevrKey" in attrs.custom_attributes
    assert pid(r, "devr-b") == b_before  # paved.yaml changed; devr-b's spec did not


def test_check_specs_refuses_to_start_with_stale_specs(tmp_path: Path) -> None:
    pkg = unique_pkg("devs")
    root = generate(write_project(tmp_path / "proj", reload_project(pkg))).root
    flows = root / pkg / "flows_a.py"
    flows.write_text(flows.read_text() + LATE)
    before = (root / "specs" / "workers.yaml").read_text()
    r = subprocess.run(
        [*PAVED, "dev", "--project", str(root), "--port", str(free_port()), "--no-ui",
         "--check-specs"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    assert "[PAVED-SETUP-SPECS-STALE]" in r.stderr
    assert "+workflow LateFlow in namespace devr (worker devr-a)" in r.stderr
    assert "not starting" in r.stderr and "run `paved gen --project" in r.stderr
    assert "Traceback" not in r.stderr
    assert (root / "specs" / "workers.yaml").read_text() == before  # nothing written
    assert not (root / ".paved" / "dev.json").exists()  # nothing started


def test_worker_whose_spec_lacks_a_type_says_so_at_start(tmp_path: Path) -> None:
    pkg = unique_pkg("devw")
    root = generate(write_project(tmp_path / "proj", reload_project(pkg))).root
    flows = root / pkg / "flows_a.py"
    text = flows.read_text()
    flows.write_text(text + LATE)
    line = len(text.splitlines()) + 3  # the decorator's line
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAVED_")}
    env["PAVED_ADDRESS"] = f"127.0.0.1:{free_port()}"  # nothing listens: it stops after the warning
    proc = subprocess.run(
        [*PAVED, "worker", "run", "devr-a", "--project", str(root), "--http-port", "-1"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    err = proc.stderr
    assert "[PAVED-WORKER-UNLISTED]" in err, err
    assert f"{flows}:{line}: workflow 'LateFlow' is declared for worker 'devr-a'" in err
    assert "fix: run `paved gen` and restart the worker" in err


def test_worker_files_follow_imports_and_summary_names_objects(tmp_path: Path) -> None:
    from paved import specs
    from paved.dev import _specsync

    pkg = unique_pkg("devg")
    root = write_project(tmp_path / "proj", reload_project(pkg))
    gen = _specsync.generate(specs.Project.load(root))
    assert gen.error is None and gen.files is not None
    files = {w: {Path(f).name for f in fs} for w, fs in gen.worker_files.items()}
    assert files == {
        "devr-a": {"__init__.py", "flows_a.py", "util.py"},
        "devr-b": {"__init__.py", "flows_b.py"},
    }
    before = dict(gen.files)
    flows = root / pkg / "flows_b.py"
    flows.write_text(flows.read_text().replace('worker="devr-b"', 'worker="devr-c"'))
    after = _specsync.generate(specs.Project.load(root))
    assert after.files is not None
    assert _specsync.summary(before, after.files) == [
        "~workflow EchoB (task_queue, worker)",
        "+worker devr-c in namespace devr",
        "-worker devr-b",
    ]
    flows.write_text(
        "import paved\n\n@paved.workflow(namespace='devr', worker='devr-b')\nclass X(:\n"
    )
    broken = _specsync.generate(specs.Project.load(root))
    assert broken.files is None and broken.error is not None
    assert f"{flows}:4" in broken.error.message and "SyntaxError" in broken.error.message


async def test_check_specs_refuses_a_reload_until_paved_gen(tmp_path: Path) -> None:
    """The reloader itself (no server): with --check-specs a save that makes the specs stale
    restarts nothing and prints the fix; `paved gen` then restarts the workers concerned."""
    from paved import specs
    from paved.dev import _reload, _specsync
    from paved.operator import ProcessTemplate, ReplicaSet

    pkg = unique_pkg("devc")
    project = generate(write_project(tmp_path / "proj", reload_project(pkg)))
    workers = ReplicaSet(tmp_path / "logs", kind="worker")  # its loop is not run: wishes only
    for name in ("devr-a", "devr-b"):
        workers.define(name, ProcessTemplate(("true",), {}, tmp_path, None, 1.0))
    lines: list[str] = []
    gen = _specsync.generate(project)
    rl = _reload.Reloader(
        project, workers, check=True, worker_files=gen.worker_files, echo=lines.append
    )
    restarted: list[str] = []
    workers.restart = restarted.append  # type: ignore[method-assign]
    try:
        flows = project.root / pkg / "flows_a.py"
        flows.write_text(flows.read_text() + LATE)
        assert await rl.reload([flows]) == []
        text = "\n".join(lines)
        assert "reload refused:" in text and "[PAVED-SETUP-SPECS-STALE]" in text
        assert "+workflow LateFlow in namespace devr (worker devr-a)" in text
        assert "not reloading (the workers keep the last good specs)" in text
        assert "LateFlow" not in (project.specs_dir / "workers.yaml").read_text()
        assert restarted == []

        generate(project.root)  # the developer runs `paved gen`
        got = await rl.reload([project.specs_dir / "workers.yaml"])
        assert got == ["devr-a"] and restarted == ["devr-a"]
        assert "reload: restarting devr-a (code " in lines[-1] and "+ spec)" in lines[-1]
    finally:
        await rl.gen.close()
    assert specs.Project.load(project.root).specs().worker("devr-a")
