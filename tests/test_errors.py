"""Every ``PAVED-*`` code raised anywhere in src is in the one catalogue, and documented."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from paved import _errors

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "paved"
DOC = ROOT / "docs" / "errors.md"
CODE = re.compile(r"PAVED(-[A-Z0-9]+)*")


def _codes_in_source() -> dict[str, str]:
    """``{code: first file:line}`` for every string constant that is a whole error code."""
    found: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skip: set[int] = set()
        for node in ast.walk(tree):
            # The catalogue itself does not count as a use of its codes.
            if isinstance(node, ast.AnnAssign | ast.Assign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "CATALOGUE" for t in targets):
                    skip.update(id(n) for n in ast.walk(node))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and CODE.fullmatch(node.value)
                and id(node) not in skip
            ):
                found.setdefault(node.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_code_raised_is_catalogued() -> None:
    missing = {c: at for c, at in _codes_in_source().items() if c not in _errors.CATALOGUE}
    assert not missing, f"add these codes to CATALOGUE in src/paved/_errors.py: {missing}"


def test_every_catalogued_code_is_used() -> None:
    used = _codes_in_source()
    stale = sorted(c for c in _errors.CATALOGUE if c not in used)
    assert not stale, f"catalogued but raised nowhere (remove them): {stale}"


def test_every_catalogued_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"`(PAVED(?:-[A-Z0-9]+)*)`", text))
    missing = sorted(set(_errors.CATALOGUE) - documented)
    assert not missing, f"document these codes in docs/errors.md: {missing}"
    unknown = sorted(documented - set(_errors.CATALOGUE))
    assert not unknown, f"docs/errors.md documents codes Paved does not raise: {unknown}"


def test_the_catalogue_is_what_the_base_classes_use() -> None:
    for cls in (
        _errors.PavedError,
        _errors.DefinitionError,
        _errors.ProjectError,
        _errors.PayloadError,
        _errors.PayloadTooLargeError,
        _errors.CodecError,
        _errors.AuthError,
        _errors.RuntimeSetupError,
    ):
        assert cls.code in _errors.CATALOGUE, cls
