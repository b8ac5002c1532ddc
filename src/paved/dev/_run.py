"""``paved run WORKFLOW``: start one workflow of the project and follow it to its end.

Called by ``paved.cli._run`` (which parses the flags and prints). In order:

1. :func:`find_workflow` looks the type name up in the generated specs
   (``specs/workflows.yaml``): its logical namespace and task queue; an unknown
   name gets a did-you-mean;
2. :func:`load_workflow` imports the class the specs name and reads its run
   method's parameters; :func:`parse_input` validates the JSON input against
   them with Pydantic *before* anything is sent (a field error names the field,
   nothing is started);
3. :func:`connection` finds where to send it: the running ``paved dev`` of the
   project (its proxy and dev key, from ``.paved/dev.json``, said aloud with
   the principal) or, when set, ``PAVED_ADDRESS`` / ``PAVED_API_KEY``;
4. :func:`run_workflow` starts it, streams one short line per history event as
   it arrives, and returns the decoded result or the decoded failure (message,
   type and cause chain: the proxy moves failure messages back out of their
   encrypted attributes on the way to the client).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from paved import sdk, specs
from paved._errors import PavedError, PayloadError, ProjectError, RuntimeSetupError

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Param:
    """One parameter of a workflow's run method."""

    name: str
    type: Any
    required: bool

    @property
    def label(self) -> str:
        return f"{self.name}: {_type_name(self.type)}"


@dataclass(frozen=True)
class Workflow:
    """A workflow type of the project: where it runs (specs) and what it takes (code)."""

    spec: specs.TypeSpec
    params: tuple[Param, ...]

    @property
    def signature(self) -> str:
        return f"{self.spec.name}({', '.join(p.label for p in self.params)})"


@dataclass(frozen=True)
class Connection:
    """Where ``paved run`` sends the workflow and as whom."""

    env: sdk.RuntimeEnv
    principal: str
    local_dev: bool
    ui_url: str | None = None  # the workflows page of the namespace, under `paved dev`

    def describe(self) -> str:
        if self.local_dev:
            return f"the running `paved dev` at {self.env.address} as {self.principal}"
        return f"{self.env.address} as {self.principal}"


@dataclass
class RunOutcome:
    """How the run ended.

    Attributes:
        status: ``started`` (``--no-wait``), ``completed``, ``failed``,
            ``cancelled``, ``terminated`` or ``timed out``.
        result: the decoded result (JSON-ready) when completed.
        failure: the failure chain, outermost first: ``(kind, type, message)``.
        stack_trace: the innermost failure's stack trace, if any.
    """

    workflow: str
    namespace: str
    workflow_id: str
    run_id: str
    status: str
    result: Any = None
    failure: list[tuple[str, str, str]] = field(default_factory=list)
    stack_trace: str = ""
    ui_url: str | None = None


# ----- specs and code -----------------------------------------------------------------


def find_workflow(project: specs.Project, name: str) -> specs.TypeSpec:
    """The spec of workflow type ``name``, or ``PAVED-RUN-UNKNOWN-WORKFLOW`` with a suggestion."""
    workflows = project.specs().workflows.workflows
    for w in workflows:
        if w.name == name:
            return w
    names = sorted(w.name for w in workflows)
    by_class = [w for w in workflows if w.qualname == name or w.name.lower() == name.lower()]
    hint = f" (did you mean {by_class[0].name!r}?)" if by_class else sdk.did_you_mean(name, names)
    rel = f"{project.config.specs_dir}/workflows.yaml"
    raise ProjectError(
        f"workflow {name!r} is not in {rel}{hint}; known: {', '.join(names) or 'none'}",
        code="PAVED-RUN-UNKNOWN-WORKFLOW",
        fix="pass a workflow type name from the list; a workflow just added to the code is "
        "known once the specs are regenerated (a running `paved dev` does it on every save; "
        "else `paved gen`)",
    )


def load_workflow(project: specs.Project, spec: specs.TypeSpec) -> Workflow:
    """Import the class the spec names and read its run method's parameters."""
    import importlib

    root = str(project.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    where = f"{spec.module}.{spec.qualname}"
    try:
        obj: Any = importlib.import_module(spec.module)
        for part in spec.qualname.split("."):
            obj = getattr(obj, part)
    except Exception as e:
        raise ProjectError(
            f"workflow {spec.name!r}: {where} (from {project.config.specs_dir}/workflows.yaml) "
            f"cannot be imported: {type(e).__name__}: {e}",
            code="PAVED-RUN-IMPORT",
            fix="fix the import error, or run `paved gen` if the class moved or was renamed",
        ) from e
    from temporalio import workflow as t_workflow

    defn = t_workflow._Definition.from_class(obj)
    if defn is None or defn.run_fn is None:
        raise ProjectError(
            f"workflow {spec.name!r}: {where} is not a workflow class (no @workflow.run)",
            code="PAVED-RUN-IMPORT",
            fix="run `paved gen` so that the specs match the code",
        )
    return Workflow(spec, _params(defn.run_fn))


def _params(fn: Any) -> tuple[Param, ...]:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that cannot be resolved: accept any JSON
        hints = {}
    out = []
    for p in inspect.signature(fn).parameters.values():
        if p.name in ("self", "cls") or p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            continue
        out.append(Param(p.name, hints.get(p.name, Any), p.default is inspect.Parameter.empty))
    return tuple(out)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


# ----- input --------------------------------------------------------------------------


def sample_input(tp: Any) -> Any:
    """A JSON value of the shape ``tp`` needs: its required fields with placeholder values."""
    try:
        schema = TypeAdapter(tp).json_schema()
    except Exception:
        return None
    return _sample(schema, schema.get("$defs", {}))


def _sample(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _sample(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs)
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _sample(schema[key][0], defs)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _sample(props[k], defs) for k in schema.get("required", []) if k in props}
    return {"string": "...", "integer": 0, "number": 0.0, "boolean": False, "array": []}.get(
        str(kind)
    )


def example_input(wf: Workflow) -> str | None:
    """``--input`` text that has the right shape for ``wf`` (None when it takes nothing)."""
    required = [p for p in wf.params if p.required]
    if not required:
        return None
    if len(wf.params) == 1:
        return json.dumps(sample_input(required[0].type))
    return json.dumps([sample_input(p.type) for p in required])


def _input_error(wf: Workflow, message: str) -> PayloadError:
    example = example_input(wf)
    fix = f"paved run {wf.spec.name} --input '{example}'" if example else "omit --input"
    return PayloadError(
        f"{message}; {wf.signature} takes "
        + (
            "no input"
            if not wf.params
            else "one JSON value"
            if len(wf.params) == 1
            else "a JSON array, one item per parameter"
        )
        + "; nothing was started",
        code="PAVED-RUN-INPUT",
        fix=f"e.g. {fix}",
    )


def parse_input(wf: Workflow, raw: str | None) -> list[Any]:
    """The run method's arguments from ``--input`` JSON, validated by Pydantic.

    One parameter: the JSON is its value. Several: a JSON array, one item each.
    None: no input (allowed when every parameter has a default).
    Raises ``PAVED-RUN-INPUT`` (a :class:`PayloadError`) naming the field.
    """
    required = [p for p in wf.params if p.required]
    if raw is None or not raw.strip():
        if required:
            raise _input_error(wf, f"no --input given, and `{required[0].label}` is required")
        return []
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise _input_error(wf, f"--input is not JSON ({e})") from None
    if not wf.params:
        if value in (None, [], {}):
            return []
        raise _input_error(wf, "--input was given")
    if len(wf.params) == 1:
        values = [value]
    elif isinstance(value, list) and len(required) <= len(value) <= len(wf.params):
        values = value
    else:
        raise _input_error(
            wf, f"--input must be a JSON array of {len(required)} to {len(wf.params)} items"
        )
    args = []
    for param, item in zip(wf.params, values, strict=False):
        try:
            args.append(TypeAdapter(param.type).validate_json(json.dumps(item)))
        except ValidationError as e:
            prefix = param.name if len(wf.params) > 1 else ""
            raise PayloadError(
                f"the input of {wf.spec.name} does not validate against `{param.label}`; "
                f"nothing was started:\n{format_validation_error(e, prefix)}",
                code="PAVED-RUN-INPUT",
                fix=f"correct the field(s) named above; e.g. --input '{example_input(wf)}'",
            ) from None
    return args


def format_validation_error(e: ValidationError, prefix: str = "") -> str:
    """Pydantic's own layout (count and model, then each field and its message), without
    the documentation URLs."""
    n = e.error_count()
    lines = [f"  {n} validation error{'s' if n != 1 else ''} for {e.title}"]
    for err in e.errors(include_url=False):
        loc = ".".join(str(x) for x in ((prefix,) if prefix else ()) + tuple(err["loc"]))
        value = err.get("input")
        lines.append(f"  {loc or '(the value)'}")
        lines.append(
            f"    {err['msg']} [type={err['type']}, input_value={value!r}, "
            f"input_type={type(value).__name__}]"
        )
    return "\n".join(lines)


# ----- where to send it -----------------------------------------------------------------


def connection(project: specs.Project, logical: str) -> Connection:
    """The running ``paved dev`` of ``project``, or ``PAVED_ADDRESS`` when it is set."""
    if os.environ.get("PAVED_ADDRESS"):
        env = sdk.RuntimeEnv.from_env()
        who = "the holder of PAVED_API_KEY" if env.api_key else "no credentials"
        return Connection(env, who, local_dev=False)
    local = sdk.RuntimeEnv.local_dev(project.root)
    state = _dev_state(project)
    if local is None and state.get("address") and not state.get("via_proxy"):
        raise RuntimeSetupError(
            f"`paved dev --no-proxy` runs for project {project.config.project!r}: there is no "
            "proxy and dev key to start the workflow with",
            code="PAVED-RUN-NO-DEV",
            fix=f"PAVED_ADDRESS={state['address']} paved run ... (add PAVED_ENV=<env> when "
            "`paved dev` runs with --env), or restart `paved dev` without --no-proxy",
        )
    if local is None:
        raise RuntimeSetupError(
            f"no `paved dev` runs for project {project.config.project!r} ({project.root}) and "
            "PAVED_ADDRESS is not set, so there is nowhere to start the workflow",
            code="PAVED-RUN-NO-DEV",
            fix=f"start `paved dev` in {project.root} (another terminal) and run this again; "
            "or set PAVED_ADDRESS (and PAVED_API_KEY) to use another proxy or Temporal",
        )
    env, principal = local
    urls = state.get("urls")
    ui = urls.get(f"ui {logical}") if isinstance(urls, dict) else None
    return Connection(env, principal, local_dev=True, ui_url=ui)


def _dev_state(project: specs.Project) -> dict[str, Any]:
    """``.paved/dev.json`` of a ``paved dev`` that is alive, else ``{}``."""
    try:
        state = json.loads((project.state_dir / "dev.json").read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return state if isinstance(state, dict) else {}


# ----- running --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRequest:
    """What ``paved run`` was asked.

    Attributes:
        workflow: the workflow type name.
        input_json: the ``--input`` text (or the ``--input-file``'s), or None.
        workflow_id: ``--id``; default ``<type>-<8 hex>``.
        wait: follow the run to its end (``--wait``, the default) or return once started.
    """

    workflow: str
    input_json: str | None = None
    workflow_id: str | None = None
    wait: bool = True


@dataclass(frozen=True)
class Prepared:
    """A request checked against the specs and the code: nothing sent yet."""

    workflow: Workflow
    args: list[Any]
    conn: Connection
    workflow_id: str


def prepare(project: specs.Project, req: RunRequest) -> Prepared:
    """Every check that needs no server: the name, the input, where to send it."""
    spec = find_workflow(project, req.workflow)
    wf = load_workflow(project, spec)
    args = parse_input(wf, req.input_json)
    conn = connection(project, spec.namespace)
    wid = req.workflow_id or f"{spec.name}-{uuid.uuid4().hex[:8]}"
    return Prepared(wf, args, conn, wid)


async def start_and_follow(p: Prepared, *, wait: bool, echo: Echo) -> RunOutcome:
    """Start the prepared workflow; with ``wait``, stream its history and return its end."""
    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import WorkflowAlreadyStartedError
    from temporalio.service import RPCError

    spec = p.workflow.spec
    conn = p.conn
    client = await _connect(conn, spec.namespace)
    try:
        handle = await client.start_workflow(
            spec.name, args=p.args, id=p.workflow_id, task_queue=spec.task_queue
        )
    except WorkflowAlreadyStartedError:
        raise PavedError(
            f"a workflow with id {p.workflow_id!r} is already running in namespace "
            f"{spec.namespace!r}; nothing was started",
            code="PAVED-RUN-ID-IN-USE",
            fix="choose another --id, or leave --id out for a fresh one",
        ) from None
    except RPCError as e:
        raise PavedError(
            f"{conn.describe()} refused to start {spec.name} in namespace {spec.namespace!r}: "
            f"{e.status.name}: {e.message}",
            code="PAVED-RUN-START",
            fix="read the reason above (a permission is granted in the policy; `paved status` "
            "shows what `paved dev` runs)",
        ) from None
    run_id = handle.result_run_id or ""
    ui = f"{conn.ui_url}/{p.workflow_id}/{run_id}/history" if conn.ui_url else None
    out = RunOutcome(spec.name, spec.namespace, p.workflow_id, run_id, "started", ui_url=ui)
    if not wait:
        return out
    t0: datetime | None = None
    hinted = False
    async for event in handle.fetch_history_events(wait_new_event=True):
        when = event.event_time.ToDatetime()
        t0 = t0 or when
        echo(event_line(event, (when - t0).total_seconds()))
        if _is_close(event):
            break
        if event_name(event) == "WorkflowTaskFailed" and not hinted:
            hinted = True  # Temporal retries the task without new events: say what happens
            echo(
                "      the workflow waits until a worker can run this task (Temporal retries "
                "it); fix the code and save or restart the worker; Ctrl-C stops following, "
                "the workflow keeps running"
            )
    try:
        # A continue-as-new ends the event stream above; the result is the last run's.
        out.result = _jsonable(await handle.result(follow_runs=True))
        out.status = "completed"
    except WorkflowFailureError as e:
        out.status, out.failure, out.stack_trace = failure_chain(e)
    return out


async def _connect(conn: Connection, logical: str) -> Any:
    # Behind a Paved proxy, the proxy encrypts; talking to Temporal directly, the SDK does.
    codec = None if conn.env.via_proxy else "auto"
    return await sdk.connect(logical, env=conn.env, codec=codec)


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    try:
        return to_jsonable_python(value)
    except Exception:
        return repr(value)


# ----- history events and failures -----------------------------------------------------


_CLOSE = {
    "WorkflowExecutionCompleted",
    "WorkflowExecutionFailed",
    "WorkflowExecutionTimedOut",
    "WorkflowExecutionCanceled",
    "WorkflowExecutionTerminated",
    "WorkflowExecutionContinuedAsNew",
}


def event_name(event: Any) -> str:
    """``EVENT_TYPE_ACTIVITY_TASK_SCHEDULED`` -> ``ActivityTaskScheduled``."""
    from temporalio.api.enums.v1 import EventType

    raw = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    return "".join(w.capitalize() for w in raw.split("_"))


def _is_close(event: Any) -> bool:
    return event_name(event) in _CLOSE


def _one_line(text: str, limit: int = 160) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def event_line(event: Any, seconds: float) -> str:
    """One short line for a history event: id, time since start, type and what matters."""
    name = event_name(event)
    which = event.WhichOneof("attributes")
    a = getattr(event, which) if which else None
    detail = ""
    if a is not None:
        if name == "WorkflowExecutionStarted":
            detail = f"{a.workflow_type.name} on {a.task_queue.name}"
        elif name == "ActivityTaskScheduled":
            detail = f"{a.activity_type.name} on {a.task_queue.name}"
        elif name == "ActivityTaskStarted" and a.attempt > 1:
            detail = f"attempt {a.attempt}"
        elif name == "TimerStarted":
            detail = f"{a.start_to_fire_timeout.ToTimedelta().total_seconds():g}s"
        elif name in (
            "StartChildWorkflowExecutionInitiated",
            "SignalExternalWorkflowExecutionInitiated",
        ):
            detail = a.workflow_type.name if hasattr(a, "workflow_type") else ""
        elif name == "WorkflowExecutionSignaled":
            detail = a.signal_name
        if a is not None and hasattr(a, "failure") and a.HasField("failure"):
            detail = _failure_text(a.failure)
        elif name == "WorkflowTaskFailed" and not detail:
            detail = str(a.cause)
    return f"  {event.event_id:>3} {seconds:>6.2f}s {name}" + (f"  {detail}" if detail else "")


def _failure_text(f: Any) -> str:
    """A failure and its causes on one line: ``Activity task failed <- BadText: boom``."""
    parts: list[str] = []
    while f is not None and len(parts) < 5:
        kind = f.application_failure_info.type if f.HasField("application_failure_info") else ""
        parts.append((f"{kind}: " if kind else "") + _one_line(f.message, 100))
        f = f.cause if f.HasField("cause") else None
    return " <- ".join(parts)


def failure_chain(e: Any) -> tuple[str, list[tuple[str, str, str]], str]:
    """``(status, [(kind, type, message) outermost first], innermost stack trace)`` of a
    ``WorkflowFailureError``."""
    from temporalio.exceptions import (
        ApplicationError,
        CancelledError,
        TerminatedError,
        TimeoutError,
    )

    chain: list[tuple[str, str, str]] = []
    stack = ""
    err = e.cause
    status = "failed"
    if isinstance(err, TerminatedError):
        status = "terminated"
    elif isinstance(err, CancelledError):
        status = "cancelled"
    elif isinstance(err, TimeoutError):
        status = "timed out"
    seen = 0
    while err is not None and seen < 20:
        seen += 1
        typ = (err.type or "") if isinstance(err, ApplicationError) else ""
        message = str(err.message)
        if getattr(err, "activity_type", None):  # ActivityError: which activity
            message += f" (activity {err.activity_type})"
        chain.append((type(err).__name__, typ, message))
        failure = getattr(err, "failure", None)
        if failure is not None and failure.stack_trace:
            stack = failure.stack_trace
        err = err.cause
    return status, chain, stack


def run_workflow(project: specs.Project, req: RunRequest, *, echo: Echo) -> RunOutcome:
    """Prepare (nothing sent when the name, input or connection is wrong), start, follow."""
    p = prepare(project, req)
    echo(
        f"paved: starting {p.workflow.spec.name} in namespace {p.workflow.spec.namespace} "
        f"(queue {p.workflow.spec.task_queue}) through {p.conn.describe()}"
    )
    return asyncio.run(start_and_follow(p, wait=req.wait, echo=echo))
