"""``paved lint`` rules on calls and activities (PVL1xx): timeouts, retries, heartbeats,
arguments, blocking calls in async activities (followed into helpers), shared
queues, raw bytes as payloads. Called by ``_lint.lint_files``.
"""

from __future__ import annotations

import ast
import builtins
import re
import sys

from paved.checks import _lint_index as ix
from paved.checks import _lint_rules as r


def calls(ctx: r.Ctx, module: ix.Module) -> None:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            api = r.workflow_api(module, node.value)
            if api in r.AWAITED:
                ctx.report(
                    "PVL007", module, node.value, f"{api}() returns a coroutine that is not awaited"
                )
        if not isinstance(node, ast.Call):
            continue
        api = r.workflow_api(module, node)
        star = any(k.arg is None for k in node.keywords)
        if api in r.ACTIVITY_FUNCS and not star:
            _activity_call(ctx, module, node, api)
        if (
            api in (r.ACTIVITY_FUNCS | {"execute_child_workflow", "start_child_workflow"})
            and not star
        ):
            single = bool(node.args[1:]) or r.keyword(node, "arg") is not None
            args = r.keyword(node, "args")
            if single and _nonempty_literal(args):
                ctx.report("PVL102", module, node, f"{api}() passes both arg and a non-empty args")
        q = module.resolve(node.func) or ""
        if q == "temporalio.worker.Worker":
            wfs, acts = r.keyword(node, "workflows"), r.keyword(node, "activities")
            if _nonempty_literal(wfs) and _nonempty_literal(acts):
                ctx.report(
                    "PVL106",
                    module,
                    node,
                    "one Worker (one task queue) runs both workflows and activities",
                )
        if (
            q in ix.ACTIVITY_DECORATORS | ix.WORKFLOW_DECORATORS
            and isinstance(r.keyword(node, "shared_queue"), ast.Constant)
            and getattr(r.keyword(node, "shared_queue"), "value", False) is True
        ):
            ctx.report(
                "PVL106",
                module,
                node,
                "shared_queue=True puts this next to workflows (or activities) on one queue",
            )


def _nonempty_literal(node: ast.expr | None) -> bool:
    if isinstance(node, (ast.List, ast.Tuple)):
        return bool(node.elts) and not any(isinstance(e, ast.Starred) for e in node.elts)
    return (
        isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and bool(node.value)
    )


def _placement_kwargs(module: ix.Module, node: ast.AST, kinds: set[str]) -> dict[str, object]:
    """Constant keyword arguments of a ``@paved.activity(...)``/``@paved.workflow(...)``."""
    for d in getattr(node, "decorator_list", []):
        if isinstance(d, ast.Call) and (module.resolve(d.func) or "") in kinds:
            return {
                k.arg: k.value.value
                for k in d.keywords
                if k.arg is not None and isinstance(k.value, ast.Constant)
            }
    return {}


_PAVED_ACTIVITY = {"paved.activity", "paved.sdk.activity"}
_PAVED_WORKFLOW = {"paved.workflow", "paved.sdk.workflow"}


def _enclosing_workflow(module: ix.Module, call: ast.Call) -> ast.ClassDef | None:
    for cls in module.classes.values():
        if ix.is_workflow_class(module, cls) and any(n is call for n in ast.walk(cls)):
            return cls
    return None


def _local_rule(ctx: r.Ctx, module: ix.Module, call: ast.Call, api: str) -> None:
    """PVL109: Paved's local rule (paved.sdk.runs_local), explained at the call site."""
    if not r.is_paved_call(module, call):
        return
    target = call.args[0] if call.args else r.keyword(call, "activity")
    found = (
        ctx.index.callee(module, ast.Call(func=target, args=[], keywords=[])) if target else None
    )
    if found is None:
        return
    amod, afn = found
    akw = _placement_kwargs(amod, afn, _PAVED_ACTIVITY)
    if akw.get("local") is not True:
        return
    cls = _enclosing_workflow(module, call)
    wkw = _placement_kwargs(module, cls, _PAVED_WORKFLOW) if cls is not None else {}
    aw, ww = akw.get("worker", "default-worker"), wkw.get("worker", "default-worker")
    if cls is not None and aw != ww and "task_queue" not in {k.arg for k in call.keywords}:
        ctx.report(
            "PVL109",
            module,
            call,
            f"{afn.name} is declared local=True on worker {aw!r} but workflow {cls.name} runs on "
            f"{ww!r}: it runs as an ordinary activity on {aw!r}'s queue (the local rule needs "
            "the workflow's own worker)",
        )
        return
    hb = r.keyword(call, "heartbeat_timeout")
    if hb is not None and not r.is_none(hb):
        ctx.report(
            "PVL109",
            module,
            call,
            f"{afn.name} runs as a local activity (local=True, the workflow's own worker): "
            "heartbeat_timeout does not apply, a local activity cannot heartbeat",
        )
    elif _heartbeats(ctx, amod, afn, set()):
        ctx.report(
            "PVL109",
            module,
            call,
            f"{afn.name} runs as a local activity (local=True, the workflow's own worker) but "
            "calls activity.heartbeat(): a local activity cannot heartbeat",
        )


def _activity_call(ctx: r.Ctx, module: ix.Module, call: ast.Call, api: str) -> None:
    _local_rule(ctx, module, call, api)
    paved = r.is_paved_call(module, call)  # tier defaults supply timeouts and a bounded retry
    names = {k.arg for k in call.keywords}
    if not paved and not names & {"start_to_close_timeout", "schedule_to_close_timeout"}:
        ctx.report(
            "PVL101",
            module,
            call,
            f"{api}() sets neither start_to_close_timeout nor schedule_to_close_timeout",
        )
    deadline = r.keyword(call, "schedule_to_close_timeout")
    if not paved and (deadline is None or r.is_none(deadline)):
        policy = r.keyword(call, "retry_policy")
        if policy is None:
            ctx.report(
                "PVL103",
                module,
                call,
                f"{api}() sets no retry_policy: the activity retries without limit",
            )
        elif _unlimited(module, policy):
            ctx.report(
                "PVL103",
                module,
                call,
                f"{api}() retry_policy sets no maximum_attempts: the activity retries without limit",
            )
    hb = r.keyword(call, "heartbeat_timeout")
    if hb is not None and not r.is_none(hb) and "local" not in api and not api.endswith("_class"):
        target = call.args[0] if call.args else r.keyword(call, "activity")
        found = _activity_def(ctx, module, target)
        if found is not None and _heartbeats(ctx, *found, set()) is False:
            ctx.report(
                "PVL104",
                module,
                call,
                f"{api}() sets heartbeat_timeout but activity {found[1].name} never calls activity.heartbeat()",
            )


def _unlimited(module: ix.Module, policy: ast.expr) -> bool:
    if r.is_none(policy):
        return True
    if (
        not isinstance(policy, ast.Call)
        or module.resolve(policy.func) != "temporalio.common.RetryPolicy"
    ):
        return False
    if any(k.arg is None for k in policy.keywords) or any(
        isinstance(a, ast.Starred) for a in policy.args
    ):
        return False
    attempts = policy.args[3] if len(policy.args) > 3 else r.keyword(policy, "maximum_attempts")
    return attempts is None or (
        isinstance(attempts, ast.Constant) and type(attempts.value) is int and attempts.value == 0
    )


def _activity_def(
    ctx: r.Ctx, module: ix.Module, target: ast.expr | None
) -> tuple[ix.Module, ix.FunctionNode] | None:
    if target is None:
        return None
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id in module.classes
    ):
        for st in module.classes[target.value.id].body:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)) and st.name == target.attr:
                return (module, st) if _only_activity_decorator(module, st) else None
        return None
    found = ctx.index.callee(module, ast.Call(func=target, args=[], keywords=[]))
    if found is None or not _only_activity_decorator(*found):
        return None
    return found


def _only_activity_decorator(module: ix.Module, fn: ix.FunctionNode) -> bool:
    # Any other decorator (an auto-heartbeat wrapper) may heartbeat for it.
    names = ix.decorator_names(module, fn)
    return len(fn.decorator_list) == 1 and bool(set(names) & ix.ACTIVITY_DECORATORS)


def _heartbeats(ctx: r.Ctx, module: ix.Module, fn: ix.FunctionNode, seen: set[int]) -> bool | None:
    """True if ``fn`` (or a helper it calls) heartbeats; None when a call cannot be followed."""
    if id(fn) in seen:
        return False
    seen.add(id(fn))
    unknown = False
    for node in ast.walk(fn):
        if (
            isinstance(node, (ast.Name, ast.Attribute))
            and module.resolve(node) == "temporalio.activity.heartbeat"
        ):
            return True
        if not isinstance(node, ast.Call):
            continue
        q = module.resolve(node.func)
        if q is not None and q.split(".")[0] in ("temporalio", *sys.stdlib_module_names):
            continue
        target = ctx.index.callee(module, node)
        if target is not None:
            verdict = _heartbeats(ctx, *target, seen)
            if verdict:
                return True
            unknown = unknown or verdict is None
        elif isinstance(node.func, ast.Name) and node.func.id not in vars(builtins):
            unknown = unknown or node.func.id not in {
                n.name
                for n in ast.walk(fn)
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            }
        elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
            unknown = True
    return None if unknown else False


def activities(ctx: r.Ctx, module: ix.Module) -> None:
    for node in ast.walk(module.tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not ix.is_activity(
            module, node
        ):
            continue
        if isinstance(node, ast.AsyncFunctionDef):
            _blocking(ctx, module, node, "", 0, set())
        _payload_size(ctx, module, node)
    for cls in module.classes.values():
        if ix.is_workflow_class(module, cls):
            for st in cls.body:
                if isinstance(
                    st, (ast.FunctionDef, ast.AsyncFunctionDef)
                ) and "temporalio.workflow.run" in ix.decorator_names(module, st):
                    _payload_size(ctx, module, st)


def _blocking(
    ctx: r.Ctx, module: ix.Module, fn: ix.FunctionNode, via: str, depth: int, seen: set[int]
) -> None:
    if id(fn) in seen or depth > r.MAX_DEPTH:
        return
    seen.add(id(fn))
    offloaded = {
        id(a)
        for n in ast.walk(fn)
        if isinstance(n, ast.Call)
        and (module.resolve(n.func) or "") in ("asyncio.to_thread", "anyio.to_thread.run_sync")
        for a in ast.walk(n)
        if a is not n
    }
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call) or id(node) in offloaded:
            continue
        name = r.call_name(module, node)
        if name and (name in r.BLOCKING_IN_ASYNC or name.startswith(r.BLOCKING_PREFIXES)):
            ctx.report(
                "PVL105",
                module,
                node,
                f"blocking call {name}() in async activity {fn.name if not via else ''}".rstrip(),
                via,
            )
        target = ctx.index.callee(module, node)
        if target is not None and isinstance(target[1], ast.FunctionDef):
            hop = via or f"reached from {r.where(module, node)}"
            _blocking(ctx, target[0], target[1], hop, depth + 1, seen)


def _payload_size(ctx: r.Ctx, module: ix.Module, fn: ix.FunctionNode) -> None:
    anns = [a.annotation for a in fn.args.args + fn.args.kwonlyargs if a.annotation is not None]
    if fn.returns is not None:
        anns.append(fn.returns)
    for ann in anns:
        text = ast.unparse(ann)
        if re.search(r"\b(bytes|bytearray|memoryview)\b", text):
            ctx.report(
                "PVL108", module, ann, f"{fn.name} passes raw bytes ({text}) through Temporal"
            )
            return
