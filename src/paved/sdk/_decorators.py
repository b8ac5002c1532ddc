"""``@paved.workflow`` and ``@paved.activity``: temporalio's decorators plus placement.

A decorated class or function is exactly what ``temporalio.workflow.defn`` /
``temporalio.activity.defn`` return (it works with temporalio's own Client,
Worker and Replayer); Paved only attaches a :class:`Placement` to it and records
it in the process-wide registry (``paved.sdk._registry``), which ``paved gen``
and the managed worker read. Mistakes that need only the decorator's own arguments or the
registry are raised here, with the file and line of the decorated object;
mistakes that need the project file (unknown namespace, a queue claimed by two
workers) are raised by ``paved gen`` (see ``paved.specs``).
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar, overload

from temporalio import activity as t_activity
from temporalio import workflow as t_workflow

from paved import _lazy
from paved._errors import DefinitionError
from paved.sdk import _naming as naming
from paved.sdk import _registry as registry
from paved.sdk import _tiers as tiers
from paved.sdk._placement import Placement, default_activity_queue, default_workflow_queue

ClassT = TypeVar("ClassT", bound=type)
FnT = TypeVar("FnT", bound=Callable[..., Any])

_NAME_RE = re.compile(naming.NAME_PATTERN)
_QUEUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def _caller(depth: int = 2) -> str:
    """``file:line`` of the decorator's call site (cheap: no source parsing)."""
    try:
        f = sys._getframe(depth)
    except ValueError:
        return "<unknown>:0"
    return f"{f.f_code.co_filename}:{f.f_lineno}"


def _check_common(
    kind: str,
    source: str,
    namespace: str,
    worker: str,
    task_queue: str | None,
    tier: int | None,
) -> str:
    if not isinstance(namespace, str) or not _NAME_RE.match(namespace):
        raise DefinitionError(
            f"{source}: @paved.{kind} namespace={namespace!r} is not a valid logical namespace name",
            code="PAVED-DEF-NAMESPACE",
            fix="use lower-case letters, digits and '-', starting with a letter (e.g. 'imagegen')",
        )
    if not isinstance(worker, str) or not _NAME_RE.match(worker):
        raise DefinitionError(
            f"{source}: @paved.{kind} worker={worker!r} is not a valid worker name",
            code="PAVED-DEF-WORKER",
            fix="use lower-case letters, digits and '-', starting with a letter (e.g. 'imagegen-worker')",
        )
    if task_queue is not None and (
        not isinstance(task_queue, str) or not _QUEUE_RE.match(task_queue)
    ):
        raise DefinitionError(
            f"{source}: @paved.{kind} task_queue={task_queue!r} is not a valid task queue name",
            code="PAVED-DEF-QUEUE",
            fix="use letters, digits, '.', '_' and '-' (at most 200 characters)",
        )
    if tier is not None and tier not in tiers.TIERS:
        raise DefinitionError(
            f"{source}: @paved.{kind} tier={tier!r} is not a tier",
            code="PAVED-DEF-TIER",
            fix="use 0 (critical), 1, 2 or 3 (best effort), or leave it to the namespace",
        )
    return source


def _placement(
    kind: str,
    obj: Any,
    where: str,
    name: str | None,
    namespace: str,
    worker: str,
    task_queue: str | None,
    shared_queue: bool,
    tier: int | None,
    local: bool = False,
) -> Placement:
    """Validate the decorator's arguments and build the placement of ``obj``."""
    _check_common(kind, where, namespace, worker, task_queue, tier)
    default_queue = default_workflow_queue if kind == "workflow" else default_activity_queue
    return Placement(
        kind=kind,
        name=name or obj.__name__,
        namespace=namespace,
        worker=worker,
        task_queue=task_queue or default_queue(worker),
        shared_queue=shared_queue,
        tier=tier,
        module=obj.__module__,
        qualname=obj.__qualname__,
        source=where,
        explicit_queue=task_queue is not None,
        local=local,
    )


@overload
def workflow(cls: ClassT) -> ClassT: ...


@overload
def workflow(
    *,
    namespace: str = "default",
    worker: str = "default-worker",
    task_queue: str | None = None,
    name: str | None = None,
    shared_queue: bool = False,
    tier: int | None = None,
    sandboxed: bool = True,
    **defn_kwargs: Any,
) -> Callable[[ClassT], ClassT]: ...


def workflow(
    cls: ClassT | None = None,
    *,
    namespace: str = "default",
    worker: str = "default-worker",
    task_queue: str | None = None,
    name: str | None = None,
    shared_queue: bool = False,
    tier: int | None = None,
    sandboxed: bool = True,
    **defn_kwargs: Any,
) -> ClassT | Callable[[ClassT], ClassT]:
    """Define a workflow and where it runs.

    ``@paved.workflow`` alone uses the ``default`` namespace and worker. The
    task queue defaults to ``<worker>-workflows``; activities default to
    ``<worker>-activities``, so workflow and activity execution scale apart.

    Args:
        namespace: logical namespace declared in ``paved.yaml``.
        worker: the managed worker that polls this workflow's queue.
        task_queue: explicit queue; must not be an activity queue unless
            ``shared_queue=True``.
        name: Temporal workflow type name (default: the class name).
        shared_queue: opt in to sharing one queue with activities.
        tier: override the namespace's tier for default activity timeouts/retries.
        sandboxed, defn_kwargs: passed to ``temporalio.workflow.defn``.
    """
    _lazy.load_all("paved.sdk")  # Temporal code runs here: nothing may import
    _lazy.load_all("paved")  # from inside a running workflow later

    where = _caller()

    def decorate(c: ClassT) -> ClassT:
        if not inspect.isclass(c):
            raise DefinitionError(
                f"{where}: @paved.workflow decorates a class, got {type(c).__name__}",
                code="PAVED-DEF-KIND",
                fix="put @paved.workflow on a class with an @workflow.run method",
            )
        placement = _placement(
            "workflow", c, where, name, namespace, worker, task_queue, shared_queue, tier
        )
        try:
            defined = t_workflow.defn(name=name, sandboxed=sandboxed, **defn_kwargs)(c)
        except (ValueError, TypeError) as e:
            raise DefinitionError(f"{where}: {e}", code="PAVED-DEF-TEMPORAL") from e
        registry.register(placement, defined)
        return defined

    if cls is not None:
        return decorate(cls)
    return decorate


@overload
def activity(fn: FnT) -> FnT: ...


@overload
def activity(
    *,
    namespace: str = "default",
    worker: str = "default-worker",
    task_queue: str | None = None,
    name: str | None = None,
    shared_queue: bool = False,
    tier: int | None = None,
    local: bool = False,
    **defn_kwargs: Any,
) -> Callable[[FnT], FnT]: ...


def activity(
    fn: FnT | None = None,
    *,
    namespace: str = "default",
    worker: str = "default-worker",
    task_queue: str | None = None,
    name: str | None = None,
    shared_queue: bool = False,
    tier: int | None = None,
    local: bool = False,
    **defn_kwargs: Any,
) -> FnT | Callable[[FnT], FnT]:
    """Define an activity and where it runs.

    The task queue defaults to ``<worker>-activities``. Call it from a workflow
    with :func:`paved.execute_activity`, which routes to that queue and applies
    the tier's default timeouts and retry policy.

    ``local=True`` declares a short step (seconds, no heartbeats): called from a
    workflow placed on the same worker it runs as a Temporal local activity in
    that workflow's worker (Paved's local rule, ``paved.sdk.runs_local``;
    ``docs/tiers.md``), elsewhere as an ordinary activity.
    """
    _lazy.load_all("paved.sdk")  # Temporal code runs here: nothing may import
    _lazy.load_all("paved")  # from inside a running workflow later

    where = _caller()

    def decorate(f: FnT) -> FnT:
        if not callable(f) or inspect.isclass(f):
            raise DefinitionError(
                f"{where}: @paved.activity decorates a function, got {type(f).__name__}",
                code="PAVED-DEF-KIND",
                fix="put @paved.activity on a def or async def",
            )
        placement = _placement(
            "activity", f, where, name, namespace, worker, task_queue, shared_queue, tier, local
        )
        try:
            defined = t_activity.defn(name=name, **defn_kwargs)(f)
        except (ValueError, TypeError) as e:
            raise DefinitionError(f"{where}: {e}", code="PAVED-DEF-TEMPORAL") from e
        registry.register(placement, defined)
        return defined

    if fn is not None:
        return decorate(fn)
    return decorate
