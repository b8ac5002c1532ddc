"""paved.checks' public names and its commands on the CLI surface (DESIGN.md names)."""

from __future__ import annotations

from click.testing import CliRunner

import paved.checks
from paved.cli import cli


def test_exports_exist_and_are_curated() -> None:
    names = paved.checks.__all__
    assert not [n for n in names if not hasattr(paved.checks, n)]
    assert len(names) == len(set(names))


def test_design_commands_are_on_the_cli() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    for command in ("replay", "schema", "lint", "check"):
        assert f"  {command}" in out, command
    for group, subs in (("replay", ("pull", "test")), ("schema", ("gen", "check"))):
        text = CliRunner().invoke(cli, [group, "--help"]).output
        for sub in subs:
            assert f"  {sub}" in text, (group, sub)


def test_lint_rules_listed_with_fixes() -> None:
    r = CliRunner().invoke(cli, ["lint", "--rules"])
    assert r.exit_code == 0
    for rule in paved.checks.LINT_RULES.values():
        assert rule.id in r.output and rule.fix in r.output
