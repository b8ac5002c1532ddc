"""The process-wide record of every Paved workflow and activity, and its read-only views.

The decorators :func:`register` what they define; ``paved gen`` reads
:func:`placements`, the managed worker resolves names with :func:`definitions`.
Nothing outside this module changes the record: it is not exported, and the
views are read-only. :func:`registry_scope` lets a tool that imports a project
temporarily (an in-process ``paved gen`` of a scaffolded project, a test)
forget what it defined.

``register`` also completes a placement with its namespace's tier, read from the
``paved.yaml`` above the code (see ``paved.sdk._tiers``), so that every runner
of the same code sees the same tier.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from temporalio import workflow as t_workflow

from paved._errors import DefinitionError
from paved.sdk import _tiers as tiers
from paved.sdk._placement import PLACEMENT_ATTR, Placement


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


def project_scope(
    namespaces: Iterable[str], packages: Iterable[str]
) -> contextlib.AbstractContextManager[None]:
    """While a project's code is imported (``paved gen``, a managed worker): its decorators
    may only use ``namespaces`` (``PAVED-DEF-UNKNOWN-NAMESPACE`` at the decorator's line)."""
    return REGISTRY.project_scope(namespaces, packages)


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


def register(placement: Placement, obj: Any) -> Placement:
    """Record ``obj`` (a workflow class or activity callable) under ``placement``.

    Completes the placement with its namespace's tier when it has none (read
    from the ``paved.yaml`` above the code), attaches it to ``obj`` and, outside
    the workflow sandbox, adds it to the registry. Returns the placement kept.

    Raises:
        DefinitionError: the name is taken by another definition, or the queue
            conflicts with another placement (``PAVED-DEF-*``).
    """
    if placement.namespace_tier is None and not placement.project_file:
        project_file, ns_tier = _namespace_tier(placement, obj)
        placement = dataclasses.replace(
            placement, namespace_tier=ns_tier, project_file=project_file
        )
    with contextlib.suppress(AttributeError, TypeError):
        setattr(obj, PLACEMENT_ATTR, placement)
    # Inside the workflow sandbox the module is re-imported and the decorator
    # runs again; that copy must not touch the host's registry.
    if not t_workflow.unsafe.in_sandbox():
        REGISTRY.add(placement, obj)
    return placement


def definitions(kind: str) -> Mapping[str, tuple[Placement, Any]]:
    """Read-only ``{Temporal name: (placement, object)}`` of ``kind`` ("workflow"/"activity")."""
    if kind not in ("workflow", "activity"):
        raise ValueError(f"kind must be 'workflow' or 'activity', not {kind!r}")
    return MappingProxyType(_table(kind))


def _table(kind: str) -> dict[str, tuple[Placement, Any]]:
    return REGISTRY.workflows if kind == "workflow" else REGISTRY.activities  # type: ignore[return-value]


def placements() -> list[Placement]:
    """Every placement defined in this process, sorted by kind and name."""
    return REGISTRY.placements()


@contextlib.contextmanager
def registry_scope() -> Iterator[None]:
    """Forget, on exit, every definition registered inside the block.

    For tools and tests that import a project for a while; the modules they
    imported stay in ``sys.modules`` (remove them too, see ``paved.testing``).
    """
    saved = (dict(REGISTRY.workflows), dict(REGISTRY.activities), dict(REGISTRY._by_queue))
    try:
        yield
    finally:
        REGISTRY.workflows.clear()
        REGISTRY.workflows.update(saved[0])
        REGISTRY.activities.clear()
        REGISTRY.activities.update(saved[1])
        REGISTRY._by_queue.clear()
        REGISTRY._by_queue.update(saved[2])


def _namespace_tier(placement: Placement, obj: Any) -> tuple[str, int | None]:
    """(project file, tier of the placement's namespace in it) for the code that declared it."""
    if t_workflow.unsafe.in_sandbox():
        # The sandbox re-imports workflow modules for every run: take what the
        # host's import of the same definition read, without touching files.
        host = _table(placement.kind).get(placement.name)
        if host is not None and host[0].ref == placement.ref:
            return host[0].project_file, host[0].namespace_tier
        with t_workflow.unsafe.sandbox_unrestricted():
            return _read_namespace_tier(placement)
    return _read_namespace_tier(placement)


def _read_namespace_tier(placement: Placement) -> tuple[str, int | None]:
    module_file = getattr(sys.modules.get(placement.module), "__file__", None)
    source = module_file or placement.source.rsplit(":", 1)[0]
    if not source or not os.path.exists(source):
        return "", None
    found = tiers.project_file_for(source)
    if found is None:
        return "", None
    return str(found), tiers.namespace_tier(placement.namespace, found)
