"""`paved operator plan|apply` output and exit codes (what CI relies on), and the status
`paved status` shows."""

from __future__ import annotations

import uuid
from pathlib import Path

from click.testing import CliRunner

from paved.cli import cli
from paved.dev import DevServer, free_port
from paved.operator import status_lines

from .helpers import project_name, write_project


def test_plan_apply_plan_exit_codes(tmp_path: Path, dev_server: DevServer) -> None:
    logical = f"cli-{uuid.uuid4().hex[:6]}"
    proj = project_name()
    root = write_project(
        tmp_path / "p",
        proj,
        {logical: {"retention_days": 5, "search_attributes": {"Color": "Keyword"}}},
    )
    base = ["operator", "--help"]
    assert "paved operator plan" in CliRunner().invoke(cli, base).output
    args = ["--project", str(root), "--temporal", dev_server.address]
    runner = CliRunner()

    drift = runner.invoke(cli, ["operator", "plan", *args])
    assert drift.exit_code == 1, drift.output
    assert f"+ namespace {logical}-dev-local  retention_days=5" in drift.output
    assert f"+ search-attribute {logical}-dev-local/Color" in drift.output
    assert "Plan: 2 to create, 0 to update, 0 to deprecate, 0 to delete" in drift.output

    applied = runner.invoke(cli, ["operator", "apply", "--once", *args])
    assert applied.exit_code == 0, applied.output
    assert "applied: 2 writes in 2 passes, 0 errors left" in applied.output

    clean = runner.invoke(cli, ["operator", "plan", *args])
    assert clean.exit_code == 0, clean.output
    assert "Plan: 0 to create, 0 to update, 0 to deprecate, 0 to delete; 0 held" in clean.output

    write_project(
        tmp_path / "p",
        proj,
        {logical: {"retention_days": 9, "search_attributes": {"Color": "Keyword"}}},
    )
    changed = runner.invoke(cli, ["operator", "plan", *args])
    assert changed.exit_code == 1
    assert f"~ namespace {logical}-dev-local  retention_days: 5 -> 9" in changed.output

    lines = status_lines(root / ".paved")
    assert lines[0].startswith("operator: active, last pass")
    assert any("temporal: 2 in-sync" in line for line in lines), lines


def test_plan_against_unreachable_temporal_exits_2(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", project_name(), {"x": {}})
    r = CliRunner().invoke(
        cli,
        ["operator", "plan", "--project", str(root), "--temporal", f"127.0.0.1:{free_port()}"],
    )
    assert r.exit_code == 2, r.output
    assert "read failed" in r.output
    assert "Plan: 0 to create" in r.output  # nothing created from a failed read
