"""`paved --help` and `paved status` start fast: they import only what they use.

Timing is measured in bench/bench_cli.py (never here); this test pins the cause
that makes them slow: a heavy import (temporalio alone takes about 1 s to load
on this machine) reached from a command module's top level or a package's
``__init__``. Heavy libraries load inside the commands that need them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("temporalio", "grpc", "aiohttp", "opentelemetry", "prometheus_client", "lightkube")

PROBE = """
import json, sys
from paved.cli import cli
try:
    cli(sys.argv[1:], prog_name="paved")
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


def _loaded(*args: str) -> set[str]:
    r = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120
    )
    return set(json.loads(r.stderr.strip().splitlines()[-1]))


def test_help_imports_no_heavy_library() -> None:
    loaded = _loaded("--help")
    light = {*HEAVY, "pydantic", "yaml", "asyncio"}
    assert not loaded & light, sorted(loaded & light)


@pytest.mark.parametrize(
    "command",
    ["new", "operator", "observe", "proxy", "codec-server", "replay", "schema", "dev", "run"],
)
def test_group_help_imports_no_temporalio(command: str) -> None:
    loaded = _loaded(command, "--help")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_status_reads_specs_without_pydantic() -> None:
    loaded = _loaded("status", "--project", str(ROOT / "examples" / "imagegen"))
    assert "yaml" in loaded  # it did read the specs, as plain YAML
    assert not loaded & {*HEAVY, "pydantic"}, sorted(loaded & {*HEAVY, "pydantic"})


def test_status_on_a_malformed_spec_gives_the_models_error(tmp_path: Path) -> None:
    """The plain read does not guess: a spec it cannot read goes through the models,
    whose error names the file and the fix."""
    import shutil

    root = tmp_path / "imagegen"
    shutil.copytree(ROOT / "examples" / "imagegen", root, ignore=shutil.ignore_patterns(".paved"))
    workers = root / "specs" / "workers.yaml"
    workers.write_text(workers.read_text().replace("replicas: 1", "replicas: many", 1))
    r = subprocess.run(
        [sys.executable, "-m", "paved.cli", "status", "--project", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert "workers.yaml" in r.stderr and "replicas" in r.stderr, r.stderr
