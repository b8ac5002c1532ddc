"""The front end's durable intake: answer 202 once a request is on disk, start its workflow next.

Measured (``bench/bench_burst.py``): under a 1,000-request burst the Temporal
server is CPU-bound and a ``StartWorkflowExecution`` waits seconds behind the
burst's own work, so a front end that answers 202 only after the start answered
has a p99 of 6-15 s. The intake moves the start out of the answer's path without
weakening what a 202 promises:

1. ``submit`` appends the request to a local SQLite journal (WAL,
   ``synchronous=FULL``: on disk when the call returns); requests arriving
   together share one transaction (group commit), so 1,000 at once cost a few
   fsyncs, not 1,000;
2. the 202 goes out;
3. starters (``concurrency`` at a time) start each journaled request's workflow
   with its id (``img-<key>``, ``USE_EXISTING``) and mark it started; a start that
   fails (server down, overloaded) is retried with backoff until it succeeds.

Exactly once: the id is the idempotency key, so a start repeated after a crash
(journaled, started, not yet marked) attaches to the same workflow. A front end
restarted on the same journal resumes every request not yet marked started. A
request accepted but not started yet answers ``GET /images/{id}`` with
``status: queued``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger("imagegen.intake")

Start = Callable[[str, str], Awaitable[None]]  # (workflow id, request JSON)


class Intake:
    """A journal of accepted requests and the tasks that start their workflows."""

    def __init__(self, path: Path, start: Start, *, concurrency: int = 16) -> None:
        self.path = path
        self._start = start
        self.concurrency = concurrency
        self._db: sqlite3.Connection | None = None
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake")
        self._incoming: asyncio.Queue[tuple[str, str, asyncio.Future[None]]] = asyncio.Queue()
        self._to_start: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._started: list[str] = []
        self.pending: set[str] = set()  # journaled, not started yet
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Intake:
        await self._run(self._open)
        for wid, body in await self._run(self._unstarted):
            self.pending.add(wid)
            self._to_start.put_nowait((wid, body))
        self._tasks = [asyncio.create_task(self._writer(), name="intake-writer")]
        self._tasks += [
            asyncio.create_task(self._starter(), name=f"intake-starter-{i}")
            for i in range(self.concurrency)
        ]
        self._tasks.append(asyncio.create_task(self._marker(), name="intake-marker"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self._flush_started()
        await self._run(self._close)
        self._io.shutdown(wait=True)

    async def submit(self, workflow_id: str, body: str) -> None:
        """Journal one request (durably) and queue its start; returns once it is on disk."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._incoming.put((workflow_id, body, fut))
        await fut

    # --- the journal (one thread owns the connection) ---------------------------------

    async def _run(self, fn: Callable[..., object], *args: object) -> object:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS intake (workflow_id TEXT PRIMARY KEY, body TEXT NOT NULL,"
            " accepted REAL NOT NULL, started REAL)"
        )
        self._db = db

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()

    def _unstarted(self) -> list[tuple[str, str]]:
        assert self._db is not None
        rows = self._db.execute(
            "SELECT workflow_id, body FROM intake WHERE started IS NULL ORDER BY accepted"
        ).fetchall()
        return [(str(w), str(b)) for w, b in rows]

    def _append(self, batch: list[tuple[str, str]]) -> list[str]:
        """Insert a batch in one transaction; the ids that were new (a repeated key is not)."""
        assert self._db is not None
        now = time.time()
        new = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for wid, body in batch:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO intake (workflow_id, body, accepted) VALUES (?, ?, ?)",
                    (wid, body, now),
                )
                if cur.rowcount:
                    new.append(wid)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return new

    def _mark(self, ids: list[str]) -> None:
        assert self._db is not None
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany(
            "UPDATE intake SET started = ? WHERE workflow_id = ?", [(now, w) for w in ids]
        )
        self._db.execute("COMMIT")

    # --- tasks ------------------------------------------------------------------------

    async def _writer(self) -> None:
        """Group commit: everything that arrived while the last batch was written."""
        while True:
            items = [await self._incoming.get()]
            while not self._incoming.empty():
                items.append(self._incoming.get_nowait())
            batch = [(w, b) for w, b, _ in items]
            try:
                new = set(await self._run(self._append, batch))  # type: ignore[arg-type]
            except Exception as e:
                for _, _, fut in items:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            for wid, body, fut in items:
                if wid in new:
                    self.pending.add(wid)
                    self._to_start.put_nowait((wid, body))
                if not fut.done():
                    fut.set_result(None)

    async def _starter(self) -> None:
        while True:
            wid, body = await self._to_start.get()
            delay = 0.2
            while True:
                try:
                    await self._start(wid, body)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # the server is down or refuses: keep the request
                    log.warning("starting %s failed (%s); retrying in %.1fs", wid, e, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            self.pending.discard(wid)
            self._started.append(wid)

    async def _marker(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            await self._flush_started()

    async def _flush_started(self) -> None:
        if self._started:
            ids, self._started = self._started, []
            await self._run(self._mark, ids)
