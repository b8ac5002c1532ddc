"""The diff on its own: a table of desired x observed -> verdict (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from paved.operator import Change, Desired, FieldChange, Observed, Op, Rules, Snapshot, diff

NOW = 1_000_000.0
DAY = 86400.0
NS = "namespace"
SA = "search-attribute"
RULES = Rules(now=NOW, grace_seconds=DAY, deprecate_first=frozenset({NS}), kinds=(NS, SA))


def ns(name: str, retention: int = 7, **kw: object) -> Desired:
    return Desired(NS, name, {"retention_days": retention, "owner": "team"}, **kw)  # type: ignore[arg-type]


def obs(name: str, retention: int = 7, **kw: object) -> Observed:
    return Observed(NS, name, {"retention_days": retention, "owner": "team", "extra": 1}, **kw)  # type: ignore[arg-type]


@dataclass
class Row:
    id: str
    desired: list[Desired]
    observed: list[Observed]
    expect: list[tuple[str, Op]]
    errors: dict[tuple[str, str], str] = field(default_factory=dict)
    complete: bool = True
    rules: Rules = RULES
    reason: str = ""  # substring expected in the (single) verdict's reason


TABLE = [
    Row("absent -> create", [ns("a")], [], [("a", Op.CREATE)]),
    Row(
        "equal -> in sync (extra observed fields ignored)", [ns("a")], [obs("a")], [("a", Op.NONE)]
    ),
    Row("retention differs -> update", [ns("a", 30)], [obs("a", 7)], [("a", Op.UPDATE)]),
    Row(
        "exists, not owned -> hold, never updated",
        [ns("a", 30)],
        [obs("a", 7, owned=False)],
        [("a", Op.HOLD)],
        reason="not created by this operator",
    ),
    Row("not owned, not desired -> not even listed", [], [obs("x", owned=False)], []),
    Row(
        "read failed -> hold, no create",
        [ns("a")],
        [],
        [("a", Op.HOLD)],
        errors={(NS, "a"): "UNAVAILABLE"},
        reason="read failed",
    ),
    Row(
        "incomplete listing -> no create from absence",
        [ns("a")],
        [],
        [("a", Op.HOLD)],
        complete=False,
    ),
    Row(
        "removed, owned -> deprecate first",
        [],
        [obs("a")],
        [("a", Op.DEPRECATE)],
        reason="grace period",
    ),
    Row(
        "removed, incomplete read -> nothing deleted",
        [],
        [obs("a", deprecated_since=NOW - 2 * DAY)],
        [("a", Op.HOLD)],
        complete=False,
        reason="incomplete",
    ),
    Row(
        "removed, read of it failed -> hold",
        [],
        [obs("a", deprecated_since=NOW - 2 * DAY)],
        [("a", Op.HOLD)],
        errors={(NS, "a"): "deadline exceeded"},
    ),
    Row(
        "deprecated, inside grace -> hold",
        [],
        [obs("a", deprecated_since=NOW - 3600)],
        [("a", Op.HOLD)],
        reason="grace period",
    ),
    Row(
        "deprecated, grace over, idle -> delete",
        [],
        [obs("a", deprecated_since=NOW - 2 * DAY)],
        [("a", Op.DELETE)],
    ),
    Row(
        "grace over, open workflows -> hold",
        [],
        [obs("a", deprecated_since=NOW - 2 * DAY, in_use=3)],
        [("a", Op.HOLD)],
        reason="3 open workflow",
    ),
    Row(
        "grace over, open workflows, forced -> delete",
        [],
        [obs("a", deprecated_since=NOW - 2 * DAY, in_use=3)],
        [("a", Op.DELETE)],
        rules=Rules(now=NOW, grace_seconds=DAY, force=True, deprecate_first=frozenset({NS})),
        reason="forced",
    ),
    Row(
        "grace over, use unknown, forced -> still hold",
        [],
        [obs("a", deprecated_since=NOW - 2 * DAY, in_use=None)],
        [("a", Op.HOLD)],
        rules=Rules(now=NOW, grace_seconds=DAY, force=True, deprecate_first=frozenset({NS})),
        reason="unknown",
    ),
    Row(
        "forced does not skip the grace period",
        [],
        [obs("a", deprecated_since=NOW - 60)],
        [("a", Op.HOLD)],
        rules=Rules(now=NOW, grace_seconds=DAY, force=True, deprecate_first=frozenset({NS})),
    ),
    Row(
        "desired again after deprecation -> update clears the mark",
        [ns("a")],
        [obs("a", deprecated_since=NOW - 60)],
        [("a", Op.UPDATE)],
    ),
    Row(
        "kind without deprecation -> deleted at once",
        [],
        [Observed("deployment", "w1")],
        [("w1", Op.DELETE)],
    ),
    Row(
        "child of a removed parent goes with it",
        [],
        [obs("a"), Observed(SA, "a/Color", {"type": "Keyword"}, parent=(NS, "a"))],
        [("a/Color", Op.NONE), ("a", Op.DEPRECATE)],  # removals: children first
    ),
    Row(
        "child removed, parent kept -> delete child",
        [ns("a")],
        [obs("a"), Observed(SA, "a/Color", {"type": "Keyword"}, parent=(NS, "a"))],
        [("a", Op.NONE), ("a/Color", Op.DELETE)],
    ),
    Row(
        "desired child of a parent that is not owned -> held with it",
        [ns("a"), Desired(SA, "a/Color", {"type": "Keyword"}, parent=(NS, "a"))],
        [obs("a", owned=False)],
        [("a", Op.HOLD), ("a/Color", Op.HOLD)],
    ),
    Row(
        "child not owned (someone else added it) -> untouched",
        [ns("a")],
        [obs("a"), Observed(SA, "a/Color", {"type": "Keyword"}, owned=False, parent=(NS, "a"))],
        [("a", Op.NONE)],
    ),
]


@pytest.mark.parametrize("row", TABLE, ids=[r.id for r in TABLE])
def test_diff_table(row: Row) -> None:
    plan = diff(row.desired, Snapshot(row.observed, row.errors, row.complete), row.rules)
    assert [(c.name, c.op) for c in plan] == row.expect
    if row.reason:
        assert len(plan) >= 1 and row.reason in plan[0].reason, plan[0].reason


def test_update_lists_the_fields_that_differ() -> None:
    (change,) = diff([ns("a", 30)], Snapshot([obs("a", 7)]), RULES)
    assert change.fields == (FieldChange("retention_days", 7, 30),)
    (undep,) = diff([ns("a")], Snapshot([obs("a", deprecated_since=NOW)]), RULES)
    assert undep.fields == (FieldChange("deprecated", True, False),)


def test_order_parents_first_for_creates_children_first_for_removals() -> None:
    desired = [
        Desired(SA, "b/X", {"type": "Int"}, parent=(NS, "b")),
        ns("b"),
        Desired(SA, "a/X", {"type": "Int"}, parent=(NS, "a")),
        ns("a"),
    ]
    plan = diff(desired, Snapshot([]), RULES)
    assert [c.key for c in plan] == [(NS, "a"), (NS, "b"), (SA, "a/X"), (SA, "b/X")]
    removal = diff(
        [ns("k")],
        Snapshot(
            [
                obs("k"),
                obs("gone", deprecated_since=0),
                Observed(SA, "k/Old", {"type": "Int"}, parent=(NS, "k")),
            ]
        ),
        RULES,
    )
    assert [(c.name, c.op) for c in removal if c.is_write] == [
        ("k/Old", Op.DELETE),
        ("gone", Op.DELETE),
    ]


def test_diff_is_pure_and_deterministic() -> None:
    desired = [ns(f"n{i}", i % 5 + 1) for i in range(50)]
    observed = [obs(f"n{i}", 3) for i in range(0, 60, 2)]
    snap = Snapshot(observed)
    first: list[Change] = diff(desired, snap, RULES)
    assert diff(list(reversed(desired)), Snapshot(list(reversed(observed))), RULES) == first
    assert snap.objects == observed  # inputs untouched
