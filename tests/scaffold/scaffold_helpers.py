"""Helpers of the ``paved new worker`` tests: the CLI in-process and in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from paved.cli import cli


def run_cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (but bytecode caches), by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def run_in_project(
    root: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` in a fresh process inside the scaffolded project."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def paved_cli_in_project(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``paved *args`` in a fresh process (its own registry)."""
    return run_in_project(root, "-c", "from paved.cli import main; main()", *args)


def dockerfile_instruction(text: str, name: str) -> list[str]:
    """The JSON (exec form) arguments of the last ``name`` instruction."""
    lines = [ln for ln in text.splitlines() if ln.startswith(name + " ")]
    assert lines, f"no {name} in Dockerfile"
    value: list[str] = json.loads(lines[-1][len(name) + 1 :])
    return value
