"""``paved readiness`` on the example against a real ``paved dev`` run (small steps).

The example is copied with its services on free ports (other runs of the example
may hold 8700/8701 on this machine). The passing run load-tests GenerateImage
through the proxy; the failing one judges the same measured load test against a
copy whose namespace limit in ``paved.yaml`` (and its specs) is set too low.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from paved.dev import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "imagegen"
READINESS = [sys.executable, "-m", "paved.cli", "readiness"]


def _copy(dest: Path, gpu: int, frontend: int) -> Path:
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", ".paved"))
    text = (dest / "paved.yaml").read_text()
    (dest / "paved.yaml").write_text(text.replace("8701", str(gpu)).replace("8700", str(frontend)))
    return dest


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("readiness")
    gpu, frontend = free_port(), free_port()
    root = _copy(base / "imagegen", gpu, frontend)
    log = open(base / "dev.out", "wb")  # noqa: SIM115
    env = dict(os.environ, IMAGEGEN_GPU_URL=f"http://127.0.0.1:{gpu}")
    env.pop("PAVED_API_KEY", None)
    dev = subprocess.Popen(
        [sys.executable, "-m", "paved.cli", "dev", "--project", str(root), "--port",
         str(free_port()), "--no-ui"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not (root / ".paved" / "dev.json").exists():
            assert dev.poll() is None, (base / "dev.out").read_text()
            assert time.monotonic() < deadline, (base / "dev.out").read_text()
            time.sleep(1)
        yield root
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
        log.close()


def test_readiness_passes_on_the_example(platform: Path) -> None:
    out = platform.parent / "review.json"
    md = platform.parent / "review.md"
    r = subprocess.run(
        [*READINESS, "--project", str(platform), "--step", "6:3:3", "--step", "10:5:5",
         "--json", str(out), "--markdown", str(md)],
        capture_output=True, text=True, timeout=300, env={k: v for k, v in os.environ.items() if k != "PAVED_API_KEY"},
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [line.strip() for line in r.stdout.splitlines()]
    for name in ("load", "headroom", "capacity", "code"):
        assert any(line.startswith("pass") and line.split()[1] == name for line in lines), r.stdout
    assert any(line.startswith("skip  spread    no production environment") for line in lines)
    assert lines[-1].startswith("ready")
    doc = json.loads(out.read_text())
    steps = doc["load_test"]["steps"]
    assert [s["completed"] for s in steps] == [6, 10]
    assert all(s["resource_exhausted"] == 0 and s["unfinished"] == 0 for s in steps)
    assert all(s["p99_workflow_task_schedule_to_start"] is not None for s in steps)
    # Start, moderate, render (a retry now and then: 5% injected faults), store.
    apw = doc["load_test"]["types"]["GenerateImage"]["actions_per_workflow"]
    assert 4.0 <= apw < 5.0
    assert (
        "| load | PASS |" in md.read_text()
        and "## Load test: GenerateImage in imagegen" in md.read_text()
    )


def test_readiness_fails_when_the_namespace_limit_is_too_low(
    platform: Path, tmp_path: Path
) -> None:
    saved = platform.parent / "review.json"
    if not saved.exists():
        pytest.skip("needs the load test of test_readiness_passes_on_the_example")
    low = _copy(tmp_path / "imagegen", 1, 2)
    for name in ("paved.yaml", "specs/namespaces.yaml"):
        text = (low / name).read_text()
        if name == "paved.yaml":
            text = text.replace(
                "    tier: 1\n", "    tier: 1\n    rate_limit: {actions_per_second: 20}\n", 1
            )
        else:
            text = text.replace("actions_per_second: 200.0", "actions_per_second: 20.0")
        (low / name).write_text(text)
    r = subprocess.run(
        [*READINESS, "--project", str(low), "--load-report", str(saved)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    line = next(x for x in r.stdout.splitlines() if x.strip().startswith("FAIL  headroom"))
    assert (
        "namespace imagegen: needs " in line
        and "but its limit is 20 actions/s: raise namespaces.imagegen.rate_limit.actions_per_second in paved.yaml"
        in line
    )
    assert r.stdout.strip().splitlines()[-1].startswith("NOT READY")
