"""``paved lint`` rules: the mistakes that hurt Temporal users, each with an id and a fix.

Workflow-code rules (PVL0xx) look at every method of a workflow class
(``@workflow.defn`` or ``@paved.workflow``) and follow calls into project
helpers in any linted module; a finding in a helper names the workflow line
that reached it. Activity and call rules are PVL1xx.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable
from dataclasses import dataclass, field

from paved.checks import _lint_index as ix


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    summary: str
    fix: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "PVL000",
            "suppression-without-reason",
            "a `# paved: ignore[...]` needs a reason",
            "write why after the bracket: `# paved: ignore[PVL001] seeded from the input`",
        ),
        Rule(
            "PVL001",
            "nondeterministic-call",
            "time, random or uuid in workflow code",
            "use workflow.now(), workflow.random(), workflow.uuid4()",
        ),
        Rule(
            "PVL002",
            "io-in-workflow",
            "I/O (files, network, subprocess, environment) in workflow code",
            "move it into an activity and call that activity",
        ),
        Rule(
            "PVL003",
            "thread-in-workflow",
            "threads, processes or blocking sleeps in workflow code",
            "use asyncio tasks, workflow.sleep() or an activity",
        ),
        Rule(
            "PVL004",
            "set-iteration",
            "iteration over a set in workflow code (order differs between processes)",
            "iterate over sorted(the_set) or use a list/dict",
        ),
        Rule(
            "PVL005",
            "workflow-logger",
            "print or logging in workflow code",
            "use workflow.logger (replay-aware)",
        ),
        Rule(
            "PVL006",
            "workflow-exception",
            "a non-Temporal exception in workflow code retries the workflow task forever",
            "raise ApplicationError (non_retryable=True to fail at once) or list the type in failure_exception_types",
        ),
        Rule(
            "PVL007",
            "missing-await",
            "an async workflow API called without await",
            "await it (or keep the handle of start_activity)",
        ),
        Rule(
            "PVL008",
            "workflow-defn-shape",
            "a workflow class needs exactly one async @workflow.run",
            "add one `@workflow.run async def run(...)`",
        ),
        Rule(
            "PVL009",
            "query-without-return",
            "a query that returns nothing",
            "return the value the query reports",
        ),
        Rule(
            "PVL101",
            "activity-timeout",
            "activity call without start_to_close_timeout or schedule_to_close_timeout",
            "pass start_to_close_timeout=..., or use paved.execute_activity (tier defaults)",
        ),
        Rule(
            "PVL102",
            "arg-and-args",
            "activity or child call passes both arg and args",
            "pass one argument positionally or all of them in args=[...]",
        ),
        Rule(
            "PVL103",
            "activity-unlimited-retry",
            "activity retries without limit (no maximum_attempts, no schedule_to_close_timeout)",
            "bound it: RetryPolicy(maximum_attempts=...) or schedule_to_close_timeout=..., or paved.execute_activity (tier defaults)",
        ),
        Rule(
            "PVL104",
            "missing-heartbeat",
            "heartbeat_timeout set but the activity never heartbeats",
            "call activity.heartbeat() in the activity's loop, or drop heartbeat_timeout",
        ),
        Rule(
            "PVL105",
            "blocking-in-async-activity",
            "a blocking call in an async activity starves the event loop (and its heartbeats)",
            "use the async library, `await asyncio.to_thread(fn, ...)`, or make the activity a plain def",
        ),
        Rule(
            "PVL106",
            "shared-queue",
            "a workflow and its activities on one task queue",
            "split queues (Paved's default) so workflow tasks never wait behind activities",
        ),
        Rule(
            "PVL107",
            "history-growth",
            "a loop in a workflow without continue-as-new grows history without bound",
            "check workflow.info().is_continue_as_new_suggested() and call workflow.continue_as_new(...)",
        ),
        Rule(
            "PVL109",
            "local-activity",
            "an activity declared local=True that cannot run as a local activity here "
            "(Paved's local rule: called by a workflow on the same worker, no heartbeats)",
            "place the activity on the calling workflow's worker, or drop local=True; "
            "a step that heartbeats or runs for minutes is an ordinary activity",
        ),
        Rule(
            "PVL108",
            "payload-size",
            "raw bytes cross Temporal as a payload (2 MB hard limit per payload)",
            "store the bytes (blob store) and pass a key; Paved offloads only above its threshold",
        ),
    )
}


@dataclass(frozen=True)
class Finding:
    rule: str
    path: str
    line: int
    col: int
    message: str
    via: str = ""  # "reached from <workflow file:line>" for findings in helpers

    def fix(self) -> str:
        return RULES[self.rule].fix


Report = Callable[[str, ix.Module, ast.AST, str], None]

NONDETERMINISTIC = {
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.datetime.today",
    "datetime.date.today",
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.monotonic_ns",
    "time.perf_counter",
    "time.perf_counter_ns",
    "time.localtime",
    "time.gmtime",
    "uuid.uuid1",
    "uuid.uuid4",
    "os.urandom",
    "os.getrandom",
}
NONDETERMINISTIC_PREFIXES = ("random.", "secrets.", "numpy.random.")
IO_CALLS = {
    "open",
    "input",
    "os.getenv",
    "os.listdir",
    "os.scandir",
    "os.stat",
    "os.system",
    "os.popen",
    "shutil.copy",
    "shutil.rmtree",
    "glob.glob",
    "urllib.request.urlopen",
    "socket.socket",
    "socket.create_connection",
    "pathlib.Path.read_text",
    "pathlib.Path.write_text",
}
IO_PREFIXES = (
    "requests.",
    "httpx.",
    "aiohttp.",
    "subprocess.",
    "urllib3.",
    "boto3.",
    "sqlite3.",
    "psycopg",
    "redis.",
)
THREAD_CALLS = {
    "time.sleep",
    "threading.Thread",
    "threading.Timer",
    "multiprocessing.Process",
    "concurrent.futures.ThreadPoolExecutor",
    "concurrent.futures.ProcessPoolExecutor",
    "asyncio.to_thread",
    "asyncio.run",
    "threading.Lock",
}
BLOCKING_IN_ASYNC = {
    "time.sleep",
    "open",
    "input",
    "socket.create_connection",
    "urllib.request.urlopen",
    "os.system",
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
}
BLOCKING_PREFIXES = ("requests.", "urllib3.", "boto3.", "sqlite3.", "psycopg2.")
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "critical", "exception", "log", "fatal"}
ACTIVITY_FUNCS = {
    f"{verb}_{kind}{suffix}"
    for verb in ("execute", "start")
    for kind in ("activity", "local_activity")
    for suffix in ("", "_method", "_class")
}
AWAITED = {
    "execute_activity",
    "execute_activity_method",
    "execute_activity_class",
    "execute_local_activity",
    "execute_local_activity_method",
    "execute_local_activity_class",
    "execute_child_workflow",
    "start_child_workflow",
    "sleep",
    "wait_condition",
}
TEMPORAL_FAILURES = {
    "ApplicationError",
    "CancelledError",
    "TerminatedError",
    "TimeoutError",
    "ServerError",
    "ActivityError",
    "ChildWorkflowError",
    "NexusOperationError",
    "FailureError",
    "WorkflowAlreadyStartedError",
    "ActivityAlreadyStartedError",
    "ContinueAsNewError",
}


def call_name(module: ix.Module, call: ast.Call) -> str | None:
    """Qualified name of a call target; builtins (``open``, ``print``) by their own name."""
    q = module.resolve(call.func)
    if q is not None:
        return q
    if isinstance(call.func, ast.Name) and call.func.id in vars(builtins):
        return call.func.id
    return None


def workflow_api(module: ix.Module, call: ast.Call) -> str | None:
    """``execute_activity`` for ``workflow.execute_activity`` / ``paved.execute_activity``."""
    q = module.resolve(call.func)
    if q is None:
        return None
    for prefix in ("temporalio.workflow.", "paved.", "paved.sdk."):
        if q.startswith(prefix) and "." not in q[len(prefix) :]:
            return q[len(prefix) :]
    return None


def is_paved_call(module: ix.Module, call: ast.Call) -> bool:
    q = module.resolve(call.func) or ""
    return q.startswith("paved.")


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def is_none(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def classify_workflow_call(name: str) -> str | None:
    if name in NONDETERMINISTIC or name.startswith(NONDETERMINISTIC_PREFIXES):
        return "PVL001"
    if name in THREAD_CALLS:
        return "PVL003"
    if name in IO_CALLS or name.startswith(IO_PREFIXES) or name in ("os.environ.get",):
        return "PVL002"
    return None


def set_names(function: ix.FunctionNode) -> set[str]:
    """Local names assigned a set in this function."""
    out: set[str] = set()
    for node in ix.own_nodes(function):
        if isinstance(node, ast.Assign) and is_set_expr(node.value, set()):
            out.update(t.id for t in node.targets if isinstance(t, ast.Name))
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            ann = ast.unparse(node.annotation)
            if ann.startswith(("set[", "frozenset[", "set", "frozenset")):
                out.add(node.target.id)
    return out


def is_set_expr(node: ast.expr, names: set[str]) -> bool:
    if isinstance(node, (ast.Set, ast.SetComp)):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in ("set", "frozenset")
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitOr, ast.BitAnd, ast.Sub)):
        return is_set_expr(node.left, names) or is_set_expr(node.right, names)
    return False


MAX_DEPTH = 6  # how deep calls are followed into helpers


@dataclass
class Ctx:
    """Findings of one lint run (deduplicated by rule and place)."""

    index: ix.Index
    findings: list[Finding] = field(default_factory=list)
    seen: set[tuple[str, str, int, int]] = field(default_factory=set)

    def report(
        self, rule: str, module: ix.Module, node: ast.AST, message: str, via: str = ""
    ) -> None:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0) + 1
        key = (rule, str(module.path), line, col)
        if key in self.seen:
            return
        self.seen.add(key)
        self.findings.append(Finding(rule, str(module.path), line, col, message, via))


def where(module: ix.Module, node: ast.AST) -> str:
    return f"{module.path}:{getattr(node, 'lineno', 1)}"
