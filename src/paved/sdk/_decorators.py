"""``@paved.workflow`` and ``@paved.activity``: temporalio's decorators plus placement.

A decorated class or function is exactly what ``temporalio.workflow.defn`` /
``temporalio.activity.defn`` return (it works with temporalio's own Client,
Worker and Replayer); Paved only attaches a :class:`Placement` to it and records
it in the process-wide :data:`REGISTRY`, which ``paved gen`` and the managed
worker read. Mistakes that need only the decorator's own arguments or the
registry are raised here, with the file and line of the decorated object;
mistakes that need the project file (unknown namespace, a queue claimed by two
workers) are raised by ``paved gen`` (see ``paved.specs``).
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from temporalio import activity as t_activity
from temporalio import workflow as t_workflow

from paved._errors import DefinitionError
from paved.sdk import _naming as naming

ClassT = TypeVar("ClassT", bound=type)
FnT = TypeVar("FnT", bound=Callable[..., Any])

PLACEMENT_ATTR = "__paved_placement__"
_NAME_RE = re.compile(naming.NAME_PATTERN)
_QUEUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


@dataclass(frozen=True)
class Placement:
    """Where a workflow or activity runs.

    Attributes:
        kind: ``"workflow"`` or ``"activity"``.
        name: the Temporal type name.
        namespace: the logical namespace (see ``paved.yaml``).
        worker: the managed worker that hosts it.
        task_queue: the task queue it is polled from.
        shared_queue: True when workflows and activities deliberately share a queue.
        tier: optional override of the namespace tier for default timeouts/retries.
        module, qualname: where the object is defined (for import by the worker).
        source: ``file:line`` of the definition, for error messages.
    """

    kind: str
    name: str
    namespace: str
    worker: str
    task_queue: str
    shared_queue: bool
    tier: int | None
    module: str
    qualname: str
    source: str
    explicit_queue: bool = False

    @property
    def ref(self) -> str:
        return f"{self.module}:{self.qualname}"


def default_workflow_queue(worker: str) -> str:
    """Workflows of worker ``w`` are polled from ``w-workflows`` unless told otherwise."""
    return f"{worker}-workflows"


def default_activity_queue(worker: str) -> str:
    """Activities of worker ``w`` are polled from ``w-activities`` unless told otherwise."""
    return f"{worker}-activities"


@dataclass
class Registry:
    """Every Paved workflow and activity defined in this process, by Temporal name."""

    workflows: dict[str, tuple[Placement, type]] = field(default_factory=dict)
    activities: dict[str, tuple[Placement, Callable[..., Any]]] = field(default_factory=dict)
    # task queue -> placements ever added there; entries no longer in the tables
    # (replaced, or removed by a caller editing the dicts) are skipped on read.
    _by_queue: dict[str, list[Placement]] = field(default_factory=dict, repr=False)
    # The project's logical namespaces while its code is imported (``paved gen``, a
    # managed worker): an unknown one is reported before any queue conflict it causes.
    known_namespaces: frozenset[str] | None = field(default=None, repr=False)
    project_packages: tuple[str, ...] = field(default=(), repr=False)

    @contextlib.contextmanager
    def project_scope(self, namespaces: Iterable[str], packages: Iterable[str]) -> Iterator[None]:
        """While a project's code is imported: its decorators may only use ``namespaces``."""
        before = (self.known_namespaces, self.project_packages)
        self.known_namespaces = frozenset(namespaces)
        self.project_packages = tuple(packages)
        try:
            yield
        finally:
            self.known_namespaces, self.project_packages = before

    def _in_project(self, p: Placement) -> bool:
        return any(p.module == x or p.module.startswith(x + ".") for x in self.project_packages)

    def _current(self, p: Placement) -> bool:
        table: dict[str, Any] = self.workflows if p.kind == "workflow" else self.activities
        entry = table.get(p.name)
        return entry is not None and entry[0] is p

    def add(self, placement: Placement, obj: Any) -> None:
        known = self.known_namespaces
        if known is not None and placement.namespace not in known and self._in_project(placement):
            raise unknown_namespace(placement, known, "paved.yaml")
        table: dict[str, Any] = self.workflows if placement.kind == "workflow" else self.activities
        prior = table.get(placement.name)
        # Re-importing the same module (reload, a second import path) replaces
        # the entry; a different object under the same name is a mistake.
        if prior is not None and prior[0].ref != placement.ref:
            raise DefinitionError(
                f"{placement.source}: {placement.kind} name {placement.name!r} is already used by "
                f"{prior[0].ref} ({prior[0].source})",
                code="PAVED-DEF-DUPLICATE",
                fix=f"give one of them another name: @paved.{placement.kind}(name='...')",
            )
        # Only the placements on the same queue can conflict: linear, not quadratic,
        # in the number of types (1,000-type projects import in one pass).
        peers = [p for p in self._by_queue.get(placement.task_queue, []) if self._current(p)]
        for other in peers:
            if other.ref != placement.ref:
                _check_queue_pair(placement, other)
        table[placement.name] = (placement, obj)
        self._by_queue[placement.task_queue] = [*peers, placement]

    def clear(self) -> None:
        self.workflows.clear()
        self.activities.clear()
        self._by_queue.clear()

    def placements(self) -> list[Placement]:
        items = [p for p, _ in self.workflows.values()] + [p for p, _ in self.activities.values()]
        return sorted(items, key=lambda p: (p.kind, p.name))


REGISTRY = Registry()


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'docs'?)`` when ``name`` is close to one of ``known``, else ``""``."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_namespace(p: Placement, known: Iterable[str], project_file: str) -> DefinitionError:
    """``PAVED-DEF-UNKNOWN-NAMESPACE`` for ``p``, with a suggestion when it is a near miss."""
    names = sorted(known)
    hint = did_you_mean(p.namespace, names)
    if hint:
        fix = (
            f"write namespace={difflib.get_close_matches(p.namespace, names, n=1, cutoff=0.6)[0]!r}"
        )
        fix += f", or add `{p.namespace}:` under `namespaces:` in {project_file}"
    else:
        fix = f"add `{p.namespace}:` under `namespaces:` in {project_file}, or fix the namespace= argument"
    return DefinitionError(
        f"{p.source}: {p.kind} {p.name!r} uses unknown namespace {p.namespace!r}{hint} "
        f"(known: {', '.join(names) or 'none declared'})",
        code="PAVED-DEF-UNKNOWN-NAMESPACE",
        fix=fix,
    )


def _check_queue_pair(a: Placement, b: Placement) -> None:
    """Two placements on one queue: same worker, and no silent workflow/activity mix."""
    if a.worker != b.worker:
        raise DefinitionError(
            f"{a.source}: task queue {a.task_queue!r} is claimed by worker {a.worker!r} here and by "
            f"worker {b.worker!r} at {b.source}",
            code="PAVED-DEF-QUEUE-OWNER",
            fix="a queue belongs to one worker: change task_queue= or worker= on one of them",
        )
    if a.namespace != b.namespace:
        raise DefinitionError(
            f"{a.source}: task queue {a.task_queue!r} is used in namespace {a.namespace!r} here and "
            f"in {b.namespace!r} at {b.source}",
            code="PAVED-DEF-QUEUE-NAMESPACE",
            fix="use one namespace per queue",
        )
    if a.kind != b.kind and not (a.shared_queue and b.shared_queue):
        raise DefinitionError(
            f"{a.source}: {a.kind} {a.name!r} and {b.kind} {b.name!r} ({b.source}) are forced onto "
            f"one task queue {a.task_queue!r}",
            code="PAVED-DEF-SHARED-QUEUE",
            fix="drop task_queue= to get split queues, or opt in with shared_queue=True on both",
        )


def check_placements(placements: list[Placement]) -> None:
    """Raise the first queue conflict among ``placements`` (used by ``paved gen``)."""
    by_queue: dict[str, list[Placement]] = {}
    for p in placements:
        by_queue.setdefault(p.task_queue, []).append(p)
    for group in by_queue.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                _check_queue_pair(a, b)


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
    if tier is not None and tier not in (0, 1, 2, 3):
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
    )


def _register(placement: Placement, obj: Any) -> None:
    setattr(obj, PLACEMENT_ATTR, placement)
    # Inside the workflow sandbox the module is re-imported and the decorator
    # runs again; that copy must not touch the host's registry.
    if t_workflow.unsafe.in_sandbox():
        return
    REGISTRY.add(placement, obj)


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
        _register(placement, defined)
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
    **defn_kwargs: Any,
) -> FnT | Callable[[FnT], FnT]:
    """Define an activity and where it runs.

    The task queue defaults to ``<worker>-activities``. Call it from a workflow
    with :func:`paved.execute_activity`, which routes to that queue and applies
    the tier's default timeouts and retry policy.
    """

    where = _caller()

    def decorate(f: FnT) -> FnT:
        if not callable(f) or inspect.isclass(f):
            raise DefinitionError(
                f"{where}: @paved.activity decorates a function, got {type(f).__name__}",
                code="PAVED-DEF-KIND",
                fix="put @paved.activity on a def or async def",
            )
        placement = _placement(
            "activity", f, where, name, namespace, worker, task_queue, shared_queue, tier
        )
        try:
            defined = t_activity.defn(name=name, **defn_kwargs)(f)
        except (ValueError, TypeError) as e:
            raise DefinitionError(f"{where}: {e}", code="PAVED-DEF-TEMPORAL") from e
        _register(placement, defined)
        return defined

    if fn is not None:
        return decorate(fn)
    return decorate


def placement_of(obj: Any) -> Placement:
    """The placement of a Paved workflow class or activity function."""
    p = getattr(obj, PLACEMENT_ATTR, None)
    if not isinstance(p, Placement):
        raise DefinitionError(
            f"{getattr(obj, '__qualname__', obj)!r} is not a Paved workflow or activity",
            code="PAVED-DEF-NOT-PAVED",
            fix="decorate it with @paved.workflow or @paved.activity",
        )
    return p
