"""The diff: desired vs observed -> one ``Change`` per object. A pure function.

Level-based (controller-runtime's rule): the verdict depends only on what the
specs want and what exists now, never on which event woke the operator, so a
pass after a crash decides exactly what an uninterrupted pass would have.

Safety rules live here, in one place, so they are tested as a table
(``tests/operator/test_diff.py``):

- an object that exists but is not owned is never changed or deleted (a
  desired one is held with the reason "not owned");
- nothing is deleted or deprecated unless the snapshot is complete;
- an object whose read failed gets no change at all;
- kinds in ``deprecate_first`` are marked deprecated, then deleted only after
  ``grace_seconds``, and only when nothing is in use (open workflows) unless
  ``force``; unknown use (``in_use is None``) never deletes, even forced;
- a child (search attribute) of a parent that is going away is left to it,
  and a desired child of a held parent (not owned, unreadable) is held too;
- an owned object that is desired again loses its deprecation mark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from paved.operator._target import (
    Change,
    Desired,
    FieldChange,
    Key,
    Observed,
    Op,
    Snapshot,
)


@dataclass(frozen=True)
class Rules:
    """The diff's parameters (all explicit, so the function stays pure).

    Attributes:
        now: epoch seconds (compared with ``Observed.deprecated_since``).
        grace_seconds: how long a deprecated object stays before deletion.
        force: delete even when in use (open workflows); never when use is unknown.
        deprecate_first: kinds that go through deprecation (the target's).
        kinds: apply order of kinds, parents first (the target's).
    """

    now: float
    grace_seconds: float = 7 * 86400.0
    force: bool = False
    deprecate_first: frozenset[str] = frozenset()
    kinds: tuple[str, ...] = ()


def field_changes(desired: Desired, observed: Observed) -> tuple[FieldChange, ...]:
    """The managed fields whose observed value differs from the desired one."""
    out = []
    for name in sorted(desired.spec):
        want = desired.spec[name]
        have = observed.spec.get(name)
        if have != want:
            out.append(FieldChange(name, have, want))
    return tuple(out)


def diff(desired: Sequence[Desired], snapshot: Snapshot, rules: Rules) -> list[Change]:
    """One change per desired or owned-observed object, writes in apply order.

    Order: creates/updates/holds/in-sync by ``rules.kinds`` (parents first),
    then deprecations and deletions in reverse kind order (children first);
    inside a kind by name, so plans print and compare deterministically.
    """
    observed: dict[Key, Observed] = {o.key: o for o in snapshot.objects}
    wanted: dict[Key, Desired] = {}
    for d in desired:
        wanted[d.key] = d
    forward: list[Change] = []
    backward: list[Change] = []
    order = {k: i for i, k in enumerate(rules.kinds)}

    def rank(c: Change | Desired) -> tuple[int, str]:
        return (order.get(c.kind, len(order)), c.name)

    held: dict[Key, str] = {}  # desired parents that get no write: their children wait
    for d in sorted(wanted.values(), key=rank):
        key = d.key
        if key in snapshot.errors:
            held[key] = f"read failed: {snapshot.errors[key]}"
            forward.append(_hold(d, None, held[key]))
            continue
        if d.parent is not None and d.parent in held:
            why = f"{d.parent[0]} {d.parent[1]} is held ({held[d.parent]})"
            forward.append(_hold(d, observed.get(key), why))
            held[key] = why
            continue
        o = observed.get(key)
        if o is None:
            if snapshot.complete:
                forward.append(Change(d.kind, d.name, Op.CREATE, desired=d))
            else:
                held[key] = "absent from an incomplete read; not created"
                forward.append(_hold(d, None, held[key]))
            continue
        if not o.owned:
            held[key] = "exists but was not created by this operator; left untouched"
            forward.append(_hold(d, o, held[key]))
            continue
        fields = field_changes(d, o)
        if o.deprecated_since is not None:
            fields = (*fields, FieldChange("deprecated", True, False))
        if fields:
            forward.append(Change(d.kind, d.name, Op.UPDATE, fields=fields, desired=d, observed=o))
        else:
            forward.append(Change(d.kind, d.name, Op.NONE, desired=d, observed=o))

    for key, o in observed.items():
        if key in wanted or not o.owned:
            continue
        if key in snapshot.errors:
            backward.append(_hold(None, o, f"read failed: {snapshot.errors[key]}"))
            continue
        if o.parent is not None and o.parent not in wanted:
            backward.append(
                Change(o.kind, o.name, Op.NONE, reason="goes with its parent", observed=o)
            )
            continue
        if not snapshot.complete:
            backward.append(_hold(None, o, "removed from the specs, but the read was incomplete"))
            continue
        backward.append(_removal(o, rules))

    forward.sort(key=rank)
    backward.sort(key=rank)
    backward.sort(key=lambda c: -order.get(c.kind, len(order)))
    return forward + backward


def _removal(o: Observed, rules: Rules) -> Change:
    """An owned object no longer in the specs: deprecate, wait, or delete."""
    if o.kind in rules.deprecate_first:
        if o.deprecated_since is None:
            return Change(
                o.kind,
                o.name,
                Op.DEPRECATE,
                reason=f"removed from the specs; deleted after a grace period of {_human(rules.grace_seconds)}",
                observed=o,
            )
        left = o.deprecated_since + rules.grace_seconds - rules.now
        if left > 0:
            return _hold(None, o, f"deprecated; deleted in {_human(left)} (grace period)")
    if o.in_use is None:
        return _hold(
            None, o, "removed from the specs; whether it is in use is unknown (read failed)"
        )
    if o.in_use > 0 and not rules.force:
        return _hold(
            None,
            o,
            f"removed from the specs but {o.in_use} open workflow(s) remain; "
            "delete waits for them (or use --force)",
        )
    why = "removed from the specs"
    if o.in_use > 0:
        why += f"; forced with {o.in_use} open workflow(s)"
    return Change(o.kind, o.name, Op.DELETE, reason=why, observed=o)


def _hold(d: Desired | None, o: Observed | None, reason: str) -> Change:
    src = d if d is not None else o
    assert src is not None
    return Change(src.kind, src.name, Op.HOLD, reason=reason, desired=d, observed=o)


def _human(seconds: float) -> str:
    s = max(0, int(seconds))
    if s >= 86400:
        return f"{s / 86400:.1f}d"
    if s >= 3600:
        return f"{s / 3600:.1f}h"
    if s >= 60:
        return f"{s // 60}m"
    return f"{s}s"
