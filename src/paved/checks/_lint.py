"""``paved lint``: run the rules over a project, follow calls across modules, honour silences.

A finding is silenced on its line (or, for a finding inside a helper, on the
workflow line that reached it) by ``# paved: ignore[PVL001] <reason>``; a
silence without a reason does not silence and is itself reported (PVL000).
"""

from __future__ import annotations

import ast
import contextlib
import re
from pathlib import Path

from paved import specs
from paved.checks import _lint_calls as calls
from paved.checks import _lint_index as ix
from paved.checks import _lint_rules as r
from paved.checks._lint_rules import Finding

_SILENCE = re.compile(r"#\s*paved:\s*ignore\[([A-Z0-9, ]+)\](.*)$")


# ----- workflow code --------------------------------------------------------------------


def _workflow_code(
    ctx: r.Ctx,
    module: ix.Module,
    fn: ix.FunctionNode,
    owner: ast.ClassDef | None,
    via: str,
    depth: int,
    visited: set[int],
    allowed: set[str],
) -> None:
    """Apply the workflow-code rules to ``fn`` and to the project helpers it calls."""
    if id(fn) in visited or depth > r.MAX_DEPTH:
        return
    visited.add(id(fn))
    sets = r.set_names(fn)
    for node in ast.walk(fn):
        if isinstance(node, ast.Call):
            name = r.call_name(module, node)
            rule = r.classify_workflow_call(name) if name else None
            if rule is not None:
                what = {
                    "PVL001": "nondeterministic",
                    "PVL002": "I/O",
                    "PVL003": "thread or blocking",
                }[rule]
                ctx.report(rule, module, node, f"{what} call {name}() in workflow code", via)
            if _is_logging(module, node):
                ctx.report("PVL005", module, node, "print/logging in workflow code", via)
            target = ctx.index.callee(module, node, owner)
            if target is not None and depth < r.MAX_DEPTH:
                tmod, tfn = target
                if tfn is not fn and not ix.is_activity(tmod, tfn):
                    own_method = owner is not None and tmod is module and tfn in owner.body
                    hop = via if (via or own_method) else f"reached from {r.where(module, node)}"
                    _workflow_code(
                        ctx,
                        tmod,
                        tfn,
                        owner if tmod is module else None,
                        hop,
                        depth + 1,
                        visited,
                        allowed,
                    )
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            if r.is_set_expr(node.iter, sets):
                ctx.report(
                    "PVL004", module, node.iter, "iteration over a set in workflow code", via
                )
        elif isinstance(node, ast.Raise) and via:
            _check_raise(ctx, module, node, allowed, owner, via)


def _is_logging(module: ix.Module, call: ast.Call) -> bool:
    if (
        isinstance(call.func, ast.Name)
        and call.func.id == "print"
        and module.resolve(call.func) is None
    ):
        return True
    q = module.resolve(call.func) or ""
    if q.startswith("logging.") and q.removeprefix("logging.") in r.LOG_METHODS:
        return True
    f = call.func
    if isinstance(f, ast.Attribute) and f.attr in r.LOG_METHODS:
        if isinstance(f.value, ast.Call) and module.resolve(f.value.func) == "logging.getLogger":
            return True
        if isinstance(f.value, ast.Name) and f.value.id in _module_loggers(module):
            return True
    return False


def _module_loggers(module: ix.Module) -> set[str]:
    out: set[str] = set()
    for st in module.tree.body:
        if (
            isinstance(st, ast.Assign)
            and isinstance(st.value, ast.Call)
            and module.resolve(st.value.func) == "logging.getLogger"
        ):
            out.update(t.id for t in st.targets if isinstance(t, ast.Name))
    return out


def _exception_key(module: ix.Module, expr: ast.expr) -> str:
    q = module.resolve(expr)
    if q is not None:
        return q
    if isinstance(expr, ast.Name):
        if expr.id in module.classes:
            return f"{module.name}.{expr.id}"
        return f"builtins.{expr.id}"
    return ""


def _is_temporal(ctx: r.Ctx, key: str, depth: int = 0) -> bool | None:
    """True for Temporal failures and control flow; None when the class is unknown."""
    short = key.rpartition(".")[2]
    if key.startswith("temporalio.") and short in r.TEMPORAL_FAILURES | {"NondeterminismError"}:
        return True
    if key in ("asyncio.CancelledError", "asyncio.exceptions.CancelledError"):
        return True
    if key.startswith("builtins."):
        return False
    mod_name, _, cls_name = key.rpartition(".")
    module = ctx.index.modules.get(mod_name)
    if module is None or cls_name not in module.classes or depth > 8:
        return False if not key.startswith("temporalio.") else None
    verdicts = [
        _is_temporal(ctx, _exception_key(module, b), depth + 1)
        for b in module.classes[cls_name].bases
    ]
    if any(v is True for v in verdicts):
        return True
    return None if any(v is None for v in verdicts) else False


def _subclass_of(ctx: r.Ctx, key: str, allowed: set[str], depth: int = 0) -> bool:
    if key in allowed or key.rpartition(".")[2] in {
        a.rpartition(".")[2] for a in allowed if a.startswith("builtins.")
    }:
        return True
    mod_name, _, cls_name = key.rpartition(".")
    module = ctx.index.modules.get(mod_name)
    if module is None or cls_name not in module.classes or depth > 8:
        return (
            "builtins.Exception" in allowed
            and key.startswith("builtins.")
            and key
            not in ("builtins.BaseException", "builtins.KeyboardInterrupt", "builtins.SystemExit")
        )
    return any(
        _subclass_of(ctx, _exception_key(module, b), allowed, depth + 1)
        for b in module.classes[cls_name].bases
    )


def _check_raise(
    ctx: r.Ctx,
    module: ix.Module,
    node: ast.Raise,
    allowed: set[str],
    owner: ast.ClassDef | None,
    via: str = "",
) -> None:
    exc = node.exc
    expr = exc.func if isinstance(exc, ast.Call) else exc
    if not isinstance(expr, (ast.Name, ast.Attribute)):
        return
    if (
        isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Name)
        and expr.value.id in ("self", "cls")
    ):
        return
    key = _exception_key(module, expr)
    if not key or _is_temporal(ctx, key) is not False or _subclass_of(ctx, key, allowed):
        return
    ctx.report(
        "PVL006",
        module,
        node,
        f"raise {key.rpartition('.')[2]} in workflow code: the workflow task retries forever",
        via,
    )


def _failure_types(module: ix.Module, cls: ast.ClassDef) -> set[str] | None:
    out: set[str] = set()
    for d in cls.decorator_list:
        if isinstance(d, ast.Call) and (module.resolve(d.func) or "") in ix.WORKFLOW_DECORATORS:
            v = r.keyword(d, "failure_exception_types")
            if v is None:
                continue
            if not isinstance(v, (ast.List, ast.Tuple, ast.Set)):
                return None
            out.update(_exception_key(module, e) for e in v.elts)
    return out


def _workflow_class(ctx: r.Ctx, module: ix.Module, cls: ast.ClassDef) -> None:
    runs = [
        st
        for st in cls.body
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef))
        and "temporalio.workflow.run" in ix.decorator_names(module, st)
    ]
    if not runs:
        ctx.report("PVL008", module, cls, f"workflow class {cls.name} has no @workflow.run method")
    elif len(runs) > 1:
        ctx.report(
            "PVL008",
            module,
            cls,
            f"workflow class {cls.name} has {len(runs)} @workflow.run methods",
        )
    for m in runs:
        if isinstance(m, ast.FunctionDef):
            ctx.report("PVL008", module, m, f"@workflow.run {cls.name}.{m.name} must be async")
    allowed = _failure_types(module, cls)
    updates = {
        st.name
        for st in ast.walk(cls)
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef))
        and "temporalio.workflow.update" in ix.decorator_names(module, st)
    }
    visited: set[int] = set()
    for st in cls.body:
        if not isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        decos = ix.decorator_names(module, st)
        if "temporalio.workflow.query" in decos:
            _query_returns(ctx, module, st)
        _workflow_code(ctx, module, st, cls, "", 0, visited, allowed or set())
        validator = any(
            isinstance(d, ast.Attribute)
            and d.attr == "validator"
            and isinstance(d.value, ast.Name)
            and d.value.id in updates
            for d in st.decorator_list
        )
        if allowed is not None and "temporalio.workflow.query" not in decos and not validator:
            for node in ast.walk(st):
                if isinstance(node, ast.Raise):
                    _check_raise(ctx, module, node, allowed, cls)
                elif isinstance(node, ast.Assert) and not _subclass_of(
                    ctx, "builtins.AssertionError", allowed
                ):
                    ctx.report(
                        "PVL006",
                        module,
                        node,
                        "assert in workflow code raises AssertionError: the workflow task retries forever",
                    )
    _history_growth(ctx, module, cls)


def _query_returns(ctx: r.Ctx, module: ix.Module, fn: ix.FunctionNode) -> None:
    body = [
        s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]
    if all(isinstance(s, (ast.Pass, ast.Raise)) for s in body):
        return
    for node in ix.own_nodes(fn):
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return
        if isinstance(node, ast.Return) and node.value is not None and not r.is_none(node.value):
            return
    ctx.report("PVL009", module, fn, f"query {fn.name} returns no value")


def _history_growth(ctx: r.Ctx, module: ix.Module, cls: ast.ClassDef) -> None:
    text = ast.unparse(cls)
    if "continue_as_new" in text or "is_continue_as_new_suggested" in text:
        return
    for node in ast.walk(cls):
        if isinstance(node, ast.While) and any(isinstance(n, ast.Await) for n in ast.walk(node)):
            ctx.report(
                "PVL107",
                module,
                node,
                f"loop in workflow {cls.name} awaits without continue-as-new: history grows without bound",
            )


# ----- driver -------------------------------------------------------------------------------


def _silences(module: ix.Module, ctx: r.Ctx) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for n, line in enumerate(module.lines, 1):
        m = _SILENCE.search(line)
        if not m:
            continue
        rules = {x.strip() for x in m.group(1).split(",") if x.strip()}
        reason = m.group(2).split("#", 1)[0].strip(" -:—")
        if not reason:
            ctx.findings.append(
                Finding(
                    "PVL000",
                    str(module.path),
                    n,
                    m.start() + 1,
                    f"ignore[{', '.join(sorted(rules))}] without a reason",
                )
            )
            continue
        out[n] = rules
    return out


def lint_files(files: list[Path], root: Path, *, silences: bool = True) -> list[Finding]:
    """Lint ``files`` (one index, so calls are followed between them); findings sorted.

    ``silences=False`` ignores ``# paved: ignore[...]`` comments (for comparisons)."""
    index = ix.Index.build(files, root)
    ctx = r.Ctx(index)
    for module in index.modules.values():
        for node in ast.walk(module.tree):
            if ix.is_workflow_class(module, node):
                assert isinstance(node, ast.ClassDef)
                _workflow_class(ctx, module, node)
        calls.calls(ctx, module)
        calls.activities(ctx, module)
    silenced: dict[str, dict[int, set[str]]] = {
        str(m.path): _silences(m, ctx) for m in index.modules.values()
    }
    kept = []
    for f in ctx.findings:
        lines = [(f.path, f.line)]
        if f.via:
            vpath, _, vline = f.via.removeprefix("reached from ").rpartition(":")
            if vline.isdigit():
                lines.append((vpath, int(vline)))
        if (
            silences
            and f.rule != "PVL000"
            and any(f.rule in silenced.get(p, {}).get(n, set()) for p, n in lines)
        ):
            continue
        kept.append(f)
    return sorted(kept, key=lambda f: (f.path, f.line, f.col, f.rule))


def project_files(project: specs.Project) -> list[Path]:
    """Every Python file of the project's packages (tests excluded)."""
    out: list[Path] = []
    for pkg in project.config.packages:
        base = project.root / pkg.replace(".", "/")
        if base.is_dir():
            out.extend(p for p in sorted(base.rglob("*.py")) if not p.name.startswith("test"))
        elif base.with_suffix(".py").exists():
            out.append(base.with_suffix(".py"))
    return out


def lint_project(project: specs.Project) -> list[Finding]:
    return lint_files(project_files(project), project.root)


def format_finding(f: Finding, root: Path | None = None) -> str:
    path = f.path
    if root is not None:
        with contextlib.suppress(ValueError):
            path = str(Path(f.path).resolve().relative_to(root.resolve()))
    rule = r.RULES[f.rule]
    text = f"{path}:{f.line}:{f.col}: {f.rule} {rule.name}: {f.message}"
    if f.via:
        text += f" ({f.via})"
    return text + f"\n    fix: {rule.fix}"
