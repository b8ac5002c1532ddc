"""The one small interface every operator target implements, and the values it trades in.

A *target* is one place where the operator makes resources real: the Temporal
namespaces of one cluster, Temporal Cloud, the proxy's policy file, the local
worker replica-set, the Kubernetes objects of one cluster. The reconciler
(``_reconcile.py``) drives every target the same level-based way::

    desired  = target.desired(inputs)          # pure: specs + policy -> objects
    snapshot = await target.observe(desired)    # read what exists (never writes)
    plan     = diff(desired, snapshot, rules)   # pure (``_diff.py``)
    for change in plan.writes: await target.apply(change)

Objects are identified by ``(kind, name)`` inside a target; ``spec`` holds the
fields the operator manages, as plain JSON-like values compared with ``==``.
A target reports only what it *owns* as deletable: ``Observed.owned`` comes from
a mark the target wrote when it created the object (namespace data, labels, a
file header), so the operator never touches what it did not create.

This module is the contract other targets (Kubernetes, replicas) build on: keep
it small and backward compatible (new fields get defaults).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from paved._errors import PavedError
from paved.specs import ProjectConfig, Specs

Key = tuple[str, str]
"""``(kind, name)``: an object's identity inside one target."""


@dataclass(frozen=True)
class Inputs:
    """Everything desired state is computed from (the operator's inputs, loaded and valid).

    Attributes:
        project: the project's name (``paved.yaml``: ``project``); part of ownership marks.
        root: the project directory (where ``.paved/`` and ``policy.yaml`` live).
        config: ``paved.yaml`` as loaded.
        specs: the generated spec files (namespaces, workflows, workers).
        policy: the hand-written proxy policy as plain data (``policy.yaml``), or None.
    """

    project: str
    root: Path
    config: ProjectConfig
    specs: Specs
    policy: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Desired:
    """One object as the specs want it.

    Attributes:
        kind: object kind inside the target ("namespace", "search-attribute", ...).
        name: unique per kind inside the target.
        spec: managed fields (JSON-like values); only these are compared.
        parent: the key of the object this one lives in (a search attribute's
            namespace): when the parent is removed, the child goes with it.
    """

    kind: str
    name: str
    spec: Mapping[str, Any] = field(default_factory=dict)
    parent: Key | None = None

    @property
    def key(self) -> Key:
        return (self.kind, self.name)


@dataclass(frozen=True)
class Observed:
    """One object as read from the target.

    Attributes:
        spec: the same fields as ``Desired.spec`` (and possibly more, ignored).
        owned: this operator created it (its ownership mark is present).
        deprecated_since: epoch seconds when the operator marked it deprecated,
            or None. Only kinds in ``Target.deprecate_first`` use it.
        in_use: what keeps it from being deleted (open workflows, in-flight
            work): 0 = nothing, None = unknown (a read failed: never delete).
        parent: as ``Desired.parent``.
    """

    kind: str
    name: str
    spec: Mapping[str, Any] = field(default_factory=dict)
    owned: bool = True
    deprecated_since: float | None = None
    in_use: int | None = 0
    parent: Key | None = None

    @property
    def key(self) -> Key:
        return (self.kind, self.name)


@dataclass(frozen=True)
class Snapshot:
    """What ``Target.observe`` read.

    Attributes:
        objects: every object of the target's kinds that exists (owned or not).
        errors: objects whose read failed, with the error; they get no change.
        complete: False when the listing itself may be partial (a page failed):
            then absence proves nothing and the diff deletes nothing.
    """

    objects: Sequence[Observed] = ()
    errors: Mapping[Key, str] = field(default_factory=dict)
    complete: bool = True


class Op(StrEnum):
    """What the diff decided for one object. The first four are writes."""

    CREATE = "create"
    UPDATE = "update"
    DEPRECATE = "deprecate"
    DELETE = "delete"
    NONE = "in-sync"
    HOLD = "hold"


WRITE_OPS = frozenset({Op.CREATE, Op.UPDATE, Op.DEPRECATE, Op.DELETE})


@dataclass(frozen=True)
class FieldChange:
    """One managed field that differs: ``field: actual -> desired``."""

    field: str
    actual: Any
    desired: Any


@dataclass(frozen=True)
class Change:
    """The diff's verdict on one object.

    Attributes:
        op: what to do (``Op.NONE`` in sync, ``Op.HOLD`` nothing now, with ``reason``).
        fields: for updates, the fields that differ.
        reason: why (always set for holds, deprecations and deletions).
        desired, observed: the inputs, for the target's ``apply``.
    """

    kind: str
    name: str
    op: Op
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""
    desired: Desired | None = None
    observed: Observed | None = None

    @property
    def key(self) -> Key:
        return (self.kind, self.name)

    @property
    def is_write(self) -> bool:
        return self.op in WRITE_OPS


class OperatorError(PavedError):
    """A reconcile step failed for one object (retried with backoff)."""

    code = "PAVED-OPERATOR"


class TerminalError(OperatorError):
    """A failure retrying cannot fix (invalid spec, refused by the target):
    retried only once the desired spec of the object changes."""

    code = "PAVED-OPERATOR-TERMINAL"


@runtime_checkable
class Target(Protocol):
    """Where the operator makes objects real. See the module docstring.

    Attributes:
        name: unique among the reconciler's targets ("temporal:local", "policy", "k8s:eu-1").
        kinds: the kinds it manages, parents first: creates and updates run in
            this order, deletions in reverse.
        deprecate_first: kinds that are marked deprecated before deletion,
            deleted only after the grace period (Temporal namespaces); others
            are deleted as soon as they are removed from the specs.
        cache_desired (optional class attribute, default False): ``desired``
            depends on the inputs alone, so the reconciler computes it once per
            inputs object. Leave it False when it reads other state (the local
            worker target asks whether an autoscaler owns the replica count).
    """

    @property
    def name(self) -> str: ...

    @property
    def kinds(self) -> tuple[str, ...]: ...

    @property
    def deprecate_first(self) -> frozenset[str]: ...

    def desired(self, inputs: Inputs) -> list[Desired]:
        """The objects ``inputs`` ask for. Pure: no I/O."""
        ...

    async def observe(self, desired: Sequence[Desired]) -> Snapshot:
        """Read the actual state. Never writes. Raise on a failure of the whole
        read (unreachable): the reconciler then changes nothing on this target."""
        ...

    async def apply(self, change: Change) -> None:
        """Carry out one write change; idempotent (a retried create of an object
        that now exists succeeds). Raise ``OperatorError``/any exception to retry
        with backoff, ``TerminalError`` to wait for a spec change."""
        ...
