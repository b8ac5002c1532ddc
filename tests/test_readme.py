"""Every command `paved --help` lists has a row in the README's command table."""

from __future__ import annotations

from pathlib import Path

import click

from paved.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
ROWS = [line for line in README.splitlines() if line.startswith("| `paved ")]


def _commands(group: click.Group, prefix: str) -> list[tuple[str, str]]:
    """(group path, command name) of every visible leaf command."""
    out: list[tuple[str, str]] = []
    for name, cmd in sorted(group.commands.items()):
        if cmd.hidden:
            continue
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{prefix} {name}")
        else:
            out.append((prefix, name))
    return out


def test_every_command_has_a_readme_row() -> None:
    missing = []
    for prefix, name in _commands(cli, "paved"):
        full = f"{prefix} {name}"
        # `paved keys rotate NS` / `paved keys list` and `paved operator plan` / `apply` rows.
        found = any(
            f"`{full}" in row or (prefix != "paved" and f"`{prefix} " in row and name in row)
            for row in ROWS
        )
        if not found:
            missing.append(full)
    assert not missing, f"add these to the README's command table: {missing}"
