"""The project as ``paved lint`` sees it: modules, their imports, and calls followed across them.

Every module of the linted files is parsed once. Names bound by imports
(module level, also inside ``if``/``try``/``with`` blocks such as
``workflow.unsafe.imports_passed_through()``) resolve to qualified names,
relative imports included. A call to a project helper resolves to its
function definition, in the same module or another one, so the rules can
follow workflow code into the helpers it calls.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: list[str]
    bindings: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionNode] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)

    def resolve(self, node: ast.expr) -> str | None:
        """``time.time`` for ``time.time`` / ``from time import time``; None if not imported."""
        if isinstance(node, ast.Name):
            return self.bindings.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base is not None else None
        return None


def _module_name(path: Path, root: Path) -> str:
    rel = path.resolve().relative_to(root.resolve()).with_suffix("")
    parts = list(rel.parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _package_of(module: Module) -> str:
    if module.path.stem == "__init__":
        return module.name
    return module.name.rpartition(".")[0]


def _collect(module: Module, statements: list[ast.stmt]) -> None:
    for st in statements:
        if isinstance(st, ast.Import):
            for alias in st.names:
                if alias.asname:
                    module.bindings[alias.asname] = alias.name
                else:
                    root = alias.name.split(".", 1)[0]
                    module.bindings[root] = root
        elif isinstance(st, ast.ImportFrom):
            base = st.module or ""
            if st.level:
                pkg = _package_of(module).split(".") if _package_of(module) else []
                pkg = pkg[: len(pkg) - (st.level - 1)] if st.level > 1 else pkg
                base = ".".join([*pkg, *([st.module] if st.module else [])])
            for alias in st.names:
                if alias.name != "*":
                    module.bindings[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(st, ast.If):
            _collect(module, [*st.body, *st.orelse])
        elif isinstance(st, (ast.Try, ast.TryStar)):
            _collect(module, [*st.body, *st.orelse, *st.finalbody])
            for h in st.handlers:
                _collect(module, h.body)
        elif isinstance(st, (ast.With, ast.AsyncWith)):
            _collect(module, st.body)
        elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            module.functions[st.name] = st
        elif isinstance(st, ast.ClassDef):
            module.classes[st.name] = st


@dataclass
class Index:
    """Every linted module, by dotted name."""

    root: Path
    modules: dict[str, Module] = field(default_factory=dict)

    @classmethod
    def build(cls, files: list[Path], root: Path) -> Index:
        index = cls(root)
        for path in files:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text, filename=str(path))
            try:
                name = _module_name(path, root)
            except ValueError:
                name = path.stem
            module = Module(name=name, path=path, tree=tree, lines=text.splitlines())
            _collect(module, tree.body)
            index.modules[name] = module
        return index

    def function(self, qualified: str) -> tuple[Module, FunctionNode] | None:
        """The project function ``pkg.mod.helper``, if it is one of the linted modules."""
        mod_name, _, fn = qualified.rpartition(".")
        module = self.modules.get(mod_name)
        if module is not None and fn in module.functions:
            return module, module.functions[fn]
        # A re-export: ``from pkg import helper`` where pkg/__init__ imports it.
        pkg = self.modules.get(mod_name)
        if pkg is not None and fn in pkg.bindings and pkg.bindings[fn] != qualified:
            return self.function(pkg.bindings[fn])
        return None

    def callee(
        self, module: Module, call: ast.Call, owner: ast.ClassDef | None = None
    ) -> tuple[Module, FunctionNode] | None:
        """The definition a call reaches: a local function, ``self.method``, or an
        imported project function (followed across modules)."""
        func = call.func
        if (
            isinstance(func, ast.Name)
            and func.id in module.functions
            and func.id not in module.bindings
        ):
            return module, module.functions[func.id]
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in ("self", "cls")
            and owner is not None
        ):
            for st in owner.body:
                if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)) and st.name == func.attr:
                    return module, st
            return None
        qualified = module.resolve(func)
        if qualified is not None:
            return self.function(qualified)
        return None


def own_nodes(function: FunctionNode) -> list[ast.AST]:
    """Nodes of a function's body, not descending into nested definitions."""
    out: list[ast.AST] = []
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        out.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            pending.extend(ast.iter_child_nodes(node))
    return out


def decorator_names(module: Module, node: ast.AST) -> list[str]:
    """Qualified names of a definition's decorators (``temporalio.workflow.defn``)."""
    out = []
    for d in getattr(node, "decorator_list", []):
        target = d.func if isinstance(d, ast.Call) else d
        q = module.resolve(target)
        if q is not None:
            out.append(q)
    return out


WORKFLOW_DECORATORS = {"temporalio.workflow.defn", "paved.workflow", "paved.sdk.workflow"}
ACTIVITY_DECORATORS = {"temporalio.activity.defn", "paved.activity", "paved.sdk.activity"}


def is_workflow_class(module: Module, node: ast.AST) -> bool:
    return isinstance(node, ast.ClassDef) and bool(
        set(decorator_names(module, node)) & WORKFLOW_DECORATORS
    )


def is_activity(module: Module, node: ast.AST) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and bool(
        set(decorator_names(module, node)) & ACTIVITY_DECORATORS
    )
