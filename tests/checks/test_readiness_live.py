"""``paved readiness`` on the example against a real ``paved dev`` run (small steps).

The example is copied with its services on free ports (other runs of the example
may hold 8700/8701 on this machine). The passing run load-tests GenerateImage
through the proxy; then the namespace's limit is lowered in the copy's
``paved.yaml`` (``paved gen``; the running proxy reloads its routes) and the same
command fails, its load test refused with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
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


def _reloads(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'^paved_proxy_routes_reloads_total\{result="ok"\} ([0-9.e+]+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_readiness_fails_when_the_namespace_limit_is_too_low(platform: Path) -> None:
    """The namespace's limit lowered to 2 actions/s in paved.yaml (`paved gen`, the running
    proxy reloads its routes): the load test meets RESOURCE_EXHAUSTED, headroom fails."""
    urls = json.loads((platform / ".paved" / "dev.json").read_text())["urls"]
    before = _reloads(urls["proxy metrics"])
    text = (platform / "paved.yaml").read_text()
    (platform / "paved.yaml").write_text(
        text.replace("    tier: 1\n", "    tier: 1\n    rate_limit: {actions_per_second: 2}\n", 1)
    )
    gen = subprocess.run([sys.executable, "-m", "paved.cli", "gen", "--project", str(platform)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert gen.returncode == 0, gen.stdout + gen.stderr
    deadline = time.monotonic() + 60
    while _reloads(urls["proxy metrics"]) <= before:
        assert time.monotonic() < deadline, "the proxy did not reload its routes"
        time.sleep(0.5)
    r = subprocess.run(
        [*READINESS, "--project", str(platform), "--step", "10:10:10"],
        capture_output=True, text=True, timeout=300, env={k: v for k, v in os.environ.items() if k != "PAVED_API_KEY"},
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [x.strip() for x in r.stdout.splitlines()]
    load = next((x for x in lines if x.startswith("FAIL  load")), r.stdout)
    assert "RESOURCE_EXHAUSTED" in load
    assert any(
        x.startswith("step 1 (10 at 10/s, concurrency 10): ")
        and "RESOURCE_EXHAUSTED answers: the namespace's rate limit refused calls at this rate" in x
        for x in lines
    ), r.stdout
    headroom = next(x for x in lines if x.startswith("FAIL  headroom"))
    assert headroom.startswith(
        "FAIL  headroom  namespace imagegen: needs 15.0 actions/s through the proxy (10.0 at the "
        "expected peak + 50% margin) but its limit is 2 actions/s: raise "
        "namespaces.imagegen.rate_limit.actions_per_second in paved.yaml to >= 15"
    ), headroom
    assert lines[-1].startswith("NOT READY")
