"""``paved check`` on the example as committed, and on broken copies of it (fresh processes).

The example's committed corpus (``examples/imagegen/replay``) was recorded by
``bench/bench_checks.py --record-example`` from the real example: managed
workers with Paved's codec (demo key ring), call-site interceptor and build id.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "imagegen"
PAVED = Path(sys.executable).parent / "paved"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAVED_KEYS_")}
    return subprocess.run(
        [str(PAVED), *args], cwd=cwd, capture_output=True, text=True, timeout=180, env=env
    )


def copy_example(tmp: Path) -> Path:
    dst = tmp / "imagegen"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns(".paved", "__pycache__"))
    return dst


def test_example_passes_as_committed(tmp_path: Path) -> None:
    junit = tmp_path / "replay.xml"
    r = run("check", "--project", str(EXAMPLE), "--junit", str(junit))
    assert r.returncode == 0, r.stdout + r.stderr
    for step in ("specs", "schema", "replay", "lint"):
        assert f"ok      {step}" in r.stdout
    assert "all checks passed" in r.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", "0")) >= 3 and suite.get("failures") == "0"


def test_example_corpus_is_ciphertext_only() -> None:
    from temporalio.api.history.v1 import History

    from paved import checks

    entries = list(checks.iter_corpus(EXAMPLE / "replay"))
    assert {len(e.history.events) > 5 for e in entries} == {True}
    assert len({e.shape for e in entries}) == len(entries) >= 3  # done, rejected, cancelled
    for e in entries:
        assert checks.plaintext_payloads(History(events=list(e.history.events))) == 0
        text = e.path.read_text()
        for prompt in ("red fox", "lighthouse", "ramen", "bench-"):
            assert prompt not in text


def test_breaking_the_example_names_the_line(tmp_path: Path) -> None:
    proj = copy_example(tmp_path)
    wf = proj / "imagegen" / "workflows.py"
    src = wf.read_text()
    anchor = '        self._progress = Progress(stage="moderating")\n'
    assert anchor in src
    wf.write_text(src.replace(anchor, anchor + "        await workflow.sleep(1)\n"))
    line = wf.read_text().splitlines().index("        await workflow.sleep(1)") + 1
    r = run("check", "--project", str(proj))
    assert r.returncode == 1
    assert f"imagegen/workflows.py:{line}" in r.stdout
    assert "await workflow.sleep(1)" in r.stdout
    # moderate_prompt is a local activity (its marker is not positional): the first
    # command event the timer displaces is the render's.
    assert "event 6 ActivityTaskScheduled: activity render_image" in r.stdout
    assert "recorded at imagegen/workflows.py:" in r.stdout and "build example-record" in r.stdout
    assert "the code inserted 'timer 1s' before 'activity render_image'" in r.stdout
    assert "if workflow.patched('GenerateImage-timer'):" in r.stdout
    assert "failed  replay" in r.stdout and "ok      lint" in r.stdout
    # The pytest plugin reports the same, one test per history.
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "paved.checks.pytest_plugin",
            "-q",
            "-p",
            "no:cacheprovider",
            str(proj / "replay"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=proj,
    )
    assert p.returncode == 1 and "3 failed" in p.stdout, p.stdout[-2000:]
    assert f"imagegen/workflows.py:{line}" in p.stdout


def test_pytest_plugin_passes_on_the_example() -> None:
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "paved.checks.pytest_plugin",
            "-q",
            "-p",
            "no:cacheprovider",
            str(EXAMPLE / "replay"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=EXAMPLE,
    )
    assert p.returncode == 0 and "3 passed" in p.stdout, p.stdout[-2000:]


def test_real_payloads_are_revalidated(tmp_path: Path) -> None:
    proj = copy_example(tmp_path)
    models = proj / "imagegen" / "models.py"
    src = models.read_text()
    anchor = "    prompt: str = Field(min_length=1, max_length=2000)\n"
    models.write_text(src.replace(anchor, anchor.replace("2000", "5")))
    r = run("schema", "check", "--project", str(proj))
    assert r.returncode == 1
    assert "CONSTRAINT_TIGHTENED: GenerateImage input[req] field prompt" in r.stdout
    assert "CORPUS_PAYLOAD_REJECTED: GenerateImage input field prompt" in r.stdout
    assert "String should have at most 5 characters" in r.stdout
    assert "red fox" not in r.stdout  # real payloads are never printed


def test_scaffolded_worker_runs_paved_check_in_ci(tmp_path: Path) -> None:
    r = run(
        "new",
        "worker",
        "--name",
        "billing",
        "--owner",
        "team-b",
        "--namespace",
        "billing",
        "--project",
        str(tmp_path),
        "--yes",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    ci = yaml.safe_load((tmp_path / ".github" / "workflows" / "paved.yml").read_text())
    steps = [s.get("run", "") for s in ci["jobs"]["check"]["steps"]]
    assert any(s.startswith("paved check") for s in steps)
    hooks = yaml.safe_load((tmp_path / ".pre-commit-config.yaml").read_text())
    assert hooks["repos"][0]["hooks"][0]["entry"] == "paved check"
    assert run("schema", "gen", "--project", str(tmp_path)).returncode == 0
    r = run("check", "--project", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "skipped replay" in r.stdout
