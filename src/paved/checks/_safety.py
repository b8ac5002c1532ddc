"""The code-safety item of ``paved readiness``: timeouts, bounded retries, backoff.

Every activity call must have timeouts and a bounded retry policy: the
``paved lint`` rules PVL101 and PVL103 say where one is missing (a
``paved.execute_activity`` call counts as safe: the tier defaults supply both).

An activity that calls a rate-limited dependency must retry with backoff, or a
dependency answering 429 gets a retry wave at a fixed interval. Such activities
are the ones whose code (or a project helper it calls) calls the network
(aiohttp, httpx, requests, urllib, grpc, boto3, ...), plus those listed in
``readiness.rate_limited_activities``. For each call of one, the retry policy
in force is resolved: ``paved.execute_activity`` without ``retry_policy`` uses
its tier's default; a ``RetryPolicy(...)`` literal or a module-level constant
holding one is read; Temporal's default (no policy on a plain
``workflow.execute_activity``) backs off with coefficient 2. A coefficient of
1 or less, or ``maximum_attempts=1`` (no retry at all), fails. A policy built
at run time cannot be read and is reported as not checked.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from paved import sdk, specs
from paved._errors import PavedError
from paved.checks import _lint, _lint_calls
from paved.checks import _lint_index as ix
from paved.checks import _lint_rules as r

SAFETY_RULES = ("PVL101", "PVL103")
NETWORK_PREFIXES = (
    "aiohttp.",
    "httpx.",
    "requests.",
    "urllib.request.",
    "urllib3.",
    "grpc.",
    "boto3.",
    "botocore.",
    "http.client.",
    "socket.create_connection",
    "openai.",
    "anthropic.",
)


@dataclass
class Safety:
    """What the analysis found."""

    calls: int = 0
    lint: list[str] = field(default_factory=list)  # PVL101/PVL103 findings, formatted
    rate_limited: dict[str, str] = field(default_factory=dict)  # activity -> why
    no_backoff: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    with_backoff: list[str] = field(default_factory=list)


def _activity_name(module: ix.Module, fn: ix.FunctionNode) -> str:
    for d in fn.decorator_list:
        if isinstance(d, ast.Call):
            name = r.keyword(d, "name")
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                return name.value
    return fn.name


def _calls_network(
    index: ix.Index, module: ix.Module, fn: ix.FunctionNode, seen: set[int], depth: int = 0
) -> str | None:
    """The first network call ``fn`` (or a project helper it calls) makes, or None."""
    if id(fn) in seen or depth > r.MAX_DEPTH:
        return None
    seen.add(id(fn))
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        name = r.call_name(module, node) or ""
        if name.startswith(NETWORK_PREFIXES):
            return f"{name}() at {module.path.name}:{node.lineno}"
        target = index.callee(module, node)
        if target is not None:
            found = _calls_network(index, *target, seen, depth + 1)
            if found:
                return found
    return None


def _module_constant(
    index: ix.Index, module: ix.Module, node: ast.expr
) -> tuple[ix.Module, ast.expr] | None:
    """The module and value of a module-level constant (local or imported from a project module)."""
    if isinstance(node, ast.Name) and node.id not in module.bindings:
        for st in module.tree.body:
            if isinstance(st, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == node.id for t in st.targets
            ):
                return module, st.value
            if (
                isinstance(st, ast.AnnAssign)
                and isinstance(st.target, ast.Name)
                and st.target.id == node.id
                and st.value is not None
            ):
                return module, st.value
        return None
    q = module.resolve(node)
    if q is None:
        return None
    mod_name, _, attr = q.rpartition(".")
    other = index.modules.get(mod_name)
    if other is None:
        return None
    return _module_constant(index, other, ast.Name(id=attr))


def _policy_backoff(module: ix.Module, policy: ast.expr) -> tuple[bool | None, str]:
    """(has backoff, description) of a ``RetryPolicy(...)`` call; None if it cannot be read."""
    if not (
        isinstance(policy, ast.Call)
        and module.resolve(policy.func) == "temporalio.common.RetryPolicy"
    ):
        return None, "a retry policy built at run time"
    if policy.args or any(k.arg is None for k in policy.keywords):
        return None, "a RetryPolicy with positional or ** arguments"
    attempts = r.keyword(policy, "maximum_attempts")
    if isinstance(attempts, ast.Constant) and attempts.value == 1:
        return False, "maximum_attempts=1: no retry at all, a 429 fails the activity"
    coeff = r.keyword(policy, "backoff_coefficient")
    if coeff is None:
        return True, "RetryPolicy (backoff_coefficient 2.0 by default)"
    if isinstance(coeff, ast.Constant) and isinstance(coeff.value, (int, float)):
        if coeff.value <= 1:
            return False, f"backoff_coefficient={coeff.value}: retries at a constant interval"
        return True, f"RetryPolicy (backoff_coefficient {coeff.value})"
    return None, "a backoff_coefficient computed at run time"


def _tier_of(project: specs.Project, activity: str) -> int:
    try:
        loaded = project.specs()
    except PavedError:  # no specs yet: the default tier
        return sdk.DEFAULT_TIER
    spec = next((a for a in loaded.workflows.activities if a.name == activity), None)
    if spec is not None and spec.tier is not None:
        return spec.tier
    ns_name = spec.namespace if spec is not None else None
    ns = next((n for n in loaded.namespaces.namespaces if n.name == ns_name), None)
    return ns.tier if ns is not None else sdk.DEFAULT_TIER


def analyse(project: specs.Project, extra_rate_limited: list[str]) -> Safety:
    files = _lint.project_files(project)
    root = project.root
    out = Safety()
    out.lint = [
        " ".join(line.strip() for line in _lint.format_finding(f, root).splitlines())
        for f in _lint.lint_files(files, root)
        if f.rule in SAFETY_RULES
    ]
    index = ix.Index.build(files, root)
    ctx = r.Ctx(index)
    for module in index.modules.values():
        for node in ast.walk(module.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and ix.is_activity(
                module, node
            ):
                name = _activity_name(module, node)
                why = _calls_network(index, module, node, set())
                if why:
                    out.rate_limited[name] = f"calls the network: {why}"
    for name in extra_rate_limited:
        out.rate_limited.setdefault(name, "listed in readiness.rate_limited_activities")
    for module in index.modules.values():
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Call):
                continue
            api = r.workflow_api(module, node)
            if api not in r.ACTIVITY_FUNCS:
                continue
            out.calls += 1
            target = node.args[0] if node.args else r.keyword(node, "activity")
            if isinstance(target, ast.Constant) and isinstance(target.value, str):
                activity = target.value
            else:
                found = _lint_calls._activity_def(ctx, module, target)
                if found is None:
                    continue
                activity = _activity_name(*found)
            if activity not in out.rate_limited:
                continue
            where = f"{module.path.relative_to(root) if module.path.is_relative_to(root) else module.path}:{node.lineno}"
            policy = r.keyword(node, "retry_policy")
            if policy is None or r.is_none(policy):
                if r.is_paved_call(module, node):
                    tier = _tier_of(project, activity)
                    coeff = sdk.tier_defaults(tier).retry.backoff_coefficient
                    ok: bool | None = coeff > 1
                    what = f"tier {tier} default retry (backoff_coefficient {coeff})"
                else:
                    ok, what = True, "Temporal's default retry (backoff_coefficient 2.0)"
            else:
                found_policy = (
                    (module, policy)
                    if isinstance(policy, ast.Call)
                    else _module_constant(index, module, policy)
                )
                ok, what = (
                    _policy_backoff(*found_policy)
                    if found_policy is not None
                    else (None, f"{ast.unparse(policy)} (not a module-level constant)")
                )
            line = f"{where}: {activity} ({out.rate_limited[activity]}): {what}"
            if ok is True:
                out.with_backoff.append(line)
            elif ok is False:
                out.no_backoff.append(line)
            else:
                out.unchecked.append(line)
    return out
