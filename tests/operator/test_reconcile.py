"""The reconciler's own rules with an in-memory target: per-object errors and backoff, one bad
object never blocks the rest, terminal errors wait for a spec change, the lease gate, the
status file and the metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paved.operator import (
    Backoff,
    Change,
    Desired,
    Inputs,
    Metrics,
    Observed,
    Op,
    OperatorError,
    Reconciler,
    Snapshot,
    TerminalError,
    read_status,
    write_status,
)


class Memory:
    """A target whose objects live in a dict; ``fail`` maps names to the error to raise."""

    kinds = ("thing",)
    deprecate_first: frozenset[str] = frozenset()

    def __init__(self, want: dict[str, int]) -> None:
        self.name = "memory"
        self.want = want
        self.have: dict[str, int] = {}
        self.fail: dict[str, Exception] = {}
        self.calls: list[tuple[str, str]] = []

    def desired(self, inputs: Inputs) -> list[Desired]:
        return [Desired("thing", n, {"v": v}) for n, v in self.want.items()]

    async def observe(self, desired: Sequence[Desired]) -> Snapshot:
        return Snapshot([Observed("thing", n, {"v": v}) for n, v in self.have.items()])

    async def apply(self, change: Change) -> None:
        self.calls.append((change.op.value, change.name))
        if change.name in self.fail:
            raise self.fail[change.name]
        if change.op == Op.DELETE:
            self.have.pop(change.name)
        else:
            assert change.desired is not None
            self.have[change.name] = int(change.desired.spec["v"])


INPUTS: Any = None  # the memory target ignores its inputs


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_one_bad_object_never_blocks_the_rest_and_is_retried_with_backoff() -> None:
    t = Memory({"a": 1, "b": 2, "c": 3})
    t.fail["b"] = OperatorError("b is broken")
    clock = Clock()
    metrics = Metrics()
    rec = Reconciler([t], backoff=Backoff(base=10, cap=100), clock=clock, metrics=metrics)

    first = await rec.reconcile(INPUTS)
    assert t.have == {"a": 1, "c": 3} and first.errors == 1
    b = next(o for o in first.targets[0].objects if o.name == "b")
    assert b.state == "error" and "b is broken" in b.last_error and b.attempts == 1
    assert 8 <= (b.next_retry or 0) - clock.now <= 12  # base 10 s +- 20 %

    t.calls.clear()
    waiting = await rec.reconcile(INPUTS)  # before the retry time: not attempted
    assert t.calls == [] and waiting.pending == 1
    clock.now += 13
    await rec.reconcile(INPUTS)  # attempt 2 fails: the delay doubles
    again = await rec.reconcile(INPUTS)
    b = next(o for o in again.targets[0].objects if o.name == "b")
    assert b.attempts == 2 and 16 <= (b.next_retry or 0) - clock.now <= 24

    del t.fail["b"]
    clock.now += 25
    fixed = await rec.reconcile(INPUTS)
    assert t.have == {"a": 1, "b": 2, "c": 3} and fixed.errors == 0
    done = await rec.reconcile(INPUTS)
    assert done.converged and done.writes == 0
    text = metrics.registry.get_sample_value(
        "paved_operator_objects", {"target": "memory", "kind": "thing", "state": "in-sync"}
    )
    assert text == 3
    assert (
        metrics.registry.get_sample_value(
            "paved_operator_errors_total", {"target": "memory", "kind": "thing"}
        )
        == 2
    )


async def test_terminal_error_waits_for_a_spec_change() -> None:
    t = Memory({"x": 1})
    t.fail["x"] = TerminalError("x cannot be")
    clock = Clock()
    rec = Reconciler([t], backoff=Backoff(base=1, cap=1), clock=clock)
    await rec.reconcile(INPUTS)
    clock.now += 3600
    t.calls.clear()
    still = await rec.reconcile(INPUTS)
    assert t.calls == [] and still.targets[0].objects[0].state == "error"
    assert rec.next_retry_in() is None
    t.want["x"] = 2  # the spec changed: tried again
    del t.fail["x"]
    await rec.reconcile(INPUTS)
    assert t.have == {"x": 2}


async def test_no_write_without_the_lease_and_dry_run_writes_nothing(tmp_path: Path) -> None:
    t = Memory({"a": 1})
    held = False
    rec = Reconciler([t], may_write=lambda: held)
    r = await rec.reconcile(INPUTS)
    assert t.calls == [] and r.targets[0].objects[0].state == "waiting"
    held = True
    plan = await rec.reconcile(INPUTS, dry_run=True)
    assert t.calls == [] and [c.op for c in plan.drift] == [Op.CREATE]
    result = await rec.reconcile(INPUTS)
    assert t.have == {"a": 1}

    path = tmp_path / "status.json"
    write_status(path, result, role="active")
    doc = read_status(path)
    assert doc is not None and doc["targets"]["memory"]["objects"][0]["state"] == "applied"
