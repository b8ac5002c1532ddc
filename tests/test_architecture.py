"""The architecture DESIGN.md promises, checked: layers, public names, typing."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_layer_contract_holds() -> None:
    """cli > dev > proxy|operator|worker|dashboard|checks > auth > specs > sdk > codec."""
    lint = Path(sys.executable).parent / "lint-imports"
    r = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_contract_lists_every_layer() -> None:
    """A new package must be placed in the contract, not silently left out of it."""
    text = (ROOT / "pyproject.toml").read_text()
    packages = sorted(
        p.name for p in (ROOT / "src" / "paved").iterdir() if (p / "__init__.py").exists()
    )
    for name in packages:
        assert f"paved.{name}" in text, f"paved.{name} is missing from the import-linter layers"


TOP_LEVEL = {
    "AuthError",
    "CodecError",
    "DefinitionError",
    "PavedError",
    "PayloadError",
    "PayloadTooLargeError",
    "Placement",
    "ProjectError",
    "RuntimeEnv",
    "RuntimeSetupError",
    "__version__",
    "activity",
    "connect",
    "data_converter",
    "execute_activity",
    "physical_namespace",
    "placement_of",
    "start_activity",
    "workflow",
}


def test_top_level_public_names_are_pinned() -> None:
    import paved

    assert set(paved.__all__) == TOP_LEVEL


@pytest.mark.parametrize(
    "package", ["sdk", "codec", "specs", "auth", "worker", "proxy", "dashboard", "dev"]
)
def test_every_exported_name_exists(package: str) -> None:
    module = importlib.import_module(f"paved.{package}")
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing


def test_cli_help_lists_the_design_commands() -> None:
    from click.testing import CliRunner

    from paved.cli import cli

    out = CliRunner().invoke(cli, ["--help"]).output
    for command in (
        "gen",
        "dev",
        "worker",
        "new",
        "status",
        "proxy",
        "codec-server",
        "keys",
        "temporal",
    ):
        assert f"  {command}" in out, command
