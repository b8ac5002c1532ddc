"""Curated public API, enforced (as httpx's ``tests/test_exported_members.py`` does).

- Each package's ``__all__`` is exactly its public names, sorted (isort-style,
  as ruff's RUF022 keeps it): nothing public is left out of ``__all__``, nothing
  listed is missing.
- The packages product code and tools build on have their names pinned here, so
  a change to them is a visible, reviewed change.
- Nothing outside a package imports its private (``_x``) modules, src, tests,
  bench and examples alike; a package's own tests (``tests/<package>/``) may.
"""

from __future__ import annotations

import ast
import importlib
import re
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(
    p.name for p in (ROOT / "src" / "paved").iterdir() if (p / "__init__.py").exists()
)


def _isort_key(name: str) -> tuple[int, list[object]]:
    """ruff RUF022's order: CONSTANTS, then Classes, then the rest; natural order within."""
    group = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return group, [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _public(module: types.ModuleType) -> list[str]:
    return [
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType) and n != "annotations"
    ]


@pytest.mark.parametrize("package", ["", *PACKAGES])
def test_all_is_exactly_the_sorted_public_names(package: str) -> None:
    module = importlib.import_module(f"paved.{package}" if package else "paved")
    exported = list(module.__all__)
    # A package may load some names lazily (PEP 562 `__getattr__`): resolve them first.
    lazy = [n for n in exported if n not in vars(module) and hasattr(module, n)]
    public = sorted(
        {*_public(module), *lazy} | ({"__version__"} if hasattr(module, "__version__") else set())
    )
    assert sorted(exported) == sorted(public), (
        f"paved.{package}: public but not in __all__: {sorted(set(public) - set(exported))}; "
        f"in __all__ but not defined: {sorted(set(exported) - set(public))}"
    )
    assert exported == sorted(exported, key=_isort_key), f"sort paved.{package}.__all__"


PINNED = {
    "sdk": [
        "CALL_SITE_HEADER",
        "DEFAULT_MAX_PAYLOAD_BYTES",
        "DEFAULT_TIER",
        "NAME_PATTERN",
        "TEMPORAL_PAYLOAD_LIMIT",
        "TIERS",
        "CallSite",
        "CallSiteInterceptor",
        "ChainCodec",
        "JsonLogFormatter",
        "LinksInterceptor",
        "Placement",
        "RuntimeEnv",
        "SizeLimitCodec",
        "TierDefaults",
        "activity",
        "activity_options",
        "check_placements",
        "connect",
        "current_trace_id",
        "data_converter",
        "default_activity_queue",
        "default_codec",
        "default_workflow_queue",
        "definitions",
        "did_you_mean",
        "execute_activity",
        "find_call_site",
        "physical_namespace",
        "placement_of",
        "placements",
        "project_scope",
        "register",
        "registry_scope",
        "render_links",
        "resolve_tier",
        "runs_local",
        "server_span",
        "setup_logging",
        "setup_tracing",
        "start_activity",
        "state_dir",
        "tier_defaults",
        "tier_of",
        "tracing_enabled",
        "unknown_namespace",
        "workflow",
    ],
    "scaffold": [
        "ManifestRenderer",
        "ScaffoldRequest",
        "ScaffoldResult",
        "check_available",
        "check_name",
        "check_owner",
        "check_retention",
        "check_tier",
        "find_root",
        "next_steps",
        "package_name",
        "project_name",
        "scaffold_worker",
    ],
    "testing": [
        "PavedServer",
        "ProjectProcesses",
        "ServerOptions",
        "agent_client",
        "agent_sandbox",
        "agent_workers",
        "isolated_imports",
        "scripted_model",
        "start_server",
    ],
}


@pytest.mark.parametrize("package", sorted(PINNED))
def test_pinned_public_names(package: str) -> None:
    assert importlib.import_module(f"paved.{package}").__all__ == PINNED[package]


def test_the_sdk_exports_no_mutable_registry_or_tier_table() -> None:
    from paved import sdk

    for gone in ("REGISTRY", "Registry", "NAMESPACE_TIERS", "TIER_DEFAULTS"):
        assert not hasattr(sdk, gone), gone
    with pytest.raises(TypeError):
        sdk.definitions("workflow")["x"] = None  # type: ignore[index]


# ----- private modules stay private -------------------------------------------------------


def _private_owner(module: str) -> str | None:
    """``paved.sdk`` for ``paved.sdk._calls``; None for a public module."""
    parts = module.split(".")
    if parts[0] != "paved":
        return None
    for i, part in enumerate(parts[1:], 1):
        if part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
            return ".".join(parts[:i])
    return None


def _may_import(path: Path, owner: str) -> bool:
    rel = path.relative_to(ROOT)
    below = owner.split(".")[1:]
    if rel.parts[0] == "src":
        return (ROOT / "src" / Path(*owner.split("."))) in path.parents
    if rel.parts[0] == "tests":
        # tests/<package>/ test that package; tests/*.py test the package root.
        return len(rel.parts) == 2 if not below else len(rel.parts) > 2 and rel.parts[1] == below[0]
    return False


def _private_imports() -> list[str]:
    found = []
    for top in ("src", "tests", "bench", "examples"):
        for path in sorted((ROOT / top).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                else:
                    continue
                for m in modules:
                    owner = _private_owner(m)
                    if owner and not _may_import(path, owner):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {m}")
    return sorted(set(found))


def test_nothing_imports_another_packages_private_modules() -> None:
    assert not _private_imports(), "\n".join(_private_imports())


def test_the_private_import_check_can_fail(tmp_path: Path) -> None:
    assert _private_owner("paved.sdk._calls") == "paved.sdk"
    assert _private_owner("paved._errors") == "paved"
    assert _private_owner("paved.sdk") is None
    assert not _may_import(ROOT / "src" / "paved" / "cli" / "_new.py", "paved.scaffold")
    assert _may_import(ROOT / "src" / "paved" / "scaffold" / "_scaffold.py", "paved.scaffold")
    assert _may_import(ROOT / "tests" / "sdk" / "test_replay.py", "paved.sdk")
    assert not _may_import(ROOT / "tests" / "scaffold" / "conftest.py", "paved.sdk")
    assert _may_import(ROOT / "tests" / "test_errors.py", "paved")
    assert not _may_import(ROOT / "tests" / "worker" / "test_runtime.py", "paved")
