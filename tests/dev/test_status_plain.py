"""`paved status` reads the specs as plain YAML and shows what the models would."""

from __future__ import annotations

from pathlib import Path

import pytest

from paved import specs
from paved.dev._status import PLAIN_VERSION, Declared, read_declared

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("example", ["imagegen", "research-agent"])
def test_status_plain_read_shows_what_the_models_show(example: str) -> None:
    assert PLAIN_VERSION == specs.SPEC_VERSION
    root = ROOT / "examples" / example
    assert read_declared(root) == Declared.of(specs.Project.load(root))
