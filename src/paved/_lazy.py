"""Packages whose public names load on first use (PEP 562), declared once.

A package lists its public names as ordinary imports inside
``if _typing.TYPE_CHECKING:`` (so type checkers, IDEs and readers see exactly
where each comes from) and ends with::

    if not _typing.TYPE_CHECKING:
        __getattr__, __dir__ = _lazy.exports(__name__, __file__)

``exports`` reads that block (one small ``ast`` parse) and imports a name's
module the first time the name is used. This is what keeps ``paved --help`` and
``paved status`` fast: the CLI imports the packages, but temporalio, pydantic
and the rest load only in the commands that use them.

A running workflow must never be the first to use a name: Temporal's workflow
sandbox forbids the file reads an import makes. So where Temporal code runs the
names load early: at once when temporalio is already loaded, and on the first
``@paved.workflow`` / ``@paved.activity`` (which call :func:`load_all`).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class _Table:
    where: dict[str, tuple[str, str]]  # public name -> (module, name in module)
    on_use_only: tuple[str, ...]
    resolve: Callable[[str], Any]


_TABLES: dict[str, _Table] = {}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _lazy_imports(package: str, file: str) -> dict[str, tuple[str, str]]:
    """``{public name: (module, name in module)}`` from the TYPE_CHECKING block."""
    # Read through the module's own loader: the workflow sandbox forbids
    # pathlib and open, but not the import system's own reads.
    spec = sys.modules[package].__spec__
    get_data = getattr(spec.loader if spec is not None else None, "get_data", None)
    source = get_data(file) if get_data else Path(file).read_bytes()
    where: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.If) and _is_type_checking(node.test)):
            continue
        for imp in node.body:
            if isinstance(imp, ast.ImportFrom):
                module = "." * imp.level + (imp.module or "")
                base = importlib.util.resolve_name(module, package) if imp.level else module
                for alias in imp.names:
                    where[alias.asname or alias.name] = (base, alias.name)
    return where


def load_all(package: str) -> None:
    """Resolve every lazy name of ``package`` now (except its ``on_use_only`` ones)."""
    table = _TABLES.get(package)
    if table is not None:
        for name in table.where:
            if name not in table.on_use_only:
                table.resolve(name)


def exports(
    package: str, file: str, *, on_use_only: tuple[str, ...] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, from its TYPE_CHECKING imports.

    ``on_use_only`` names never load early: they need modules that a workflow
    sandbox must not import (such as ``temporalio.worker``).
    """
    where = _lazy_imports(package, file)

    def __getattr__(name: str) -> Any:
        found = where.get(name)
        if found is not None:
            value = getattr(importlib.import_module(found[0]), found[1])
        elif not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}"):
            value = importlib.import_module(
                f"{package}.{name}"
            )  # `paved.specs` after `import paved`
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)  # later uses skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    _TABLES[package] = _Table(where, on_use_only, __getattr__)
    if "temporalio" in sys.modules:
        load_all(package)
    return __getattr__, __dir__
