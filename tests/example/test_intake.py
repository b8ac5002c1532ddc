"""The front end's durable intake (examples/imagegen/imagegen/intake.py), without Temporal:
group commit, every request started once, failed starts retried, a restart resumes."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
from pathlib import Path
from types import ModuleType

from imagegen_stack import PROJECT


def _intake() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "imagegen_intake_under_test", PROJECT / "imagegen" / "intake.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


async def _until(cond: object, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def _rows(db: Path) -> list[tuple[str, float | None]]:
    with sqlite3.connect(db) as c:
        return [(str(w), s) for w, s in c.execute("SELECT workflow_id, started FROM intake")]


async def test_every_request_journaled_then_started_once(tmp_path: Path) -> None:
    intake = _intake()
    started: list[str] = []
    failures = {"w-3": 2}  # the server refuses twice, then accepts

    async def start(wid: str, body: str) -> None:
        if failures.get(wid, 0):
            failures[wid] -= 1
            raise RuntimeError("server unavailable")
        started.append(wid)

    db = tmp_path / "intake.db"
    async with intake.Intake(db, start, concurrency=4) as j:
        await asyncio.gather(*(j.submit(f"w-{i}", "{}") for i in range(100)))
        # on disk when submit returned
        assert {w for w, _ in _rows(db)} == {f"w-{i}" for i in range(100)}
        await j.submit("w-1", "{}")  # a repeated key: no second start
        await _until(lambda: len(started) == 100 and not j.pending)
    assert sorted(started) == sorted(f"w-{i}" for i in range(100))
    assert all(s is not None for _, s in _rows(db))


async def test_a_restart_resumes_what_was_not_started(tmp_path: Path) -> None:
    intake = _intake()
    db = tmp_path / "intake.db"
    gate = asyncio.Event()

    async def stuck(wid: str, body: str) -> None:
        await gate.wait()  # the server never answers before the "crash"

    async with intake.Intake(db, stuck, concurrency=2) as j:
        await asyncio.gather(*(j.submit(f"r-{i}", "{}") for i in range(10)))
    assert all(s is None for _, s in _rows(db))

    started: list[str] = []

    async def start(wid: str, body: str) -> None:
        started.append(wid)

    async with intake.Intake(db, start) as j:
        await _until(lambda: len(started) == 10 and not j.pending)
    assert sorted(started) == sorted(f"r-{i}" for i in range(10))
