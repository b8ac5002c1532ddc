"""A declared capacity shared by the replicas: slot files on one host, leases in Redis.

Real processes (``gate_holder.py``: tasks through the managed worker's
``SharedCapacityGate``) against the example's fake GPU service, which records its
highest concurrency and is given far more room than the declared capacity, so
the gate alone keeps it there; a real ``redis-server`` for the Redis store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.worker import ActivityInboundInterceptor

from paved.dev import free_port, wait_for_port
from paved.worker import CapacityStoreError, FileSlots, RedisSlots, SharedCapacityGate

REPO = Path(__file__).resolve().parents[2]
HOLDER = Path(__file__).with_name("gate_holder.py")
CAPACITY = 8


@pytest.fixture(scope="module")
def gpu() -> Iterator[str]:
    """The example's GPU service with room for 64 at once: only the gate limits it."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "examples" / "imagegen"),
                                                        os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagegen.gpu", "--port", str(port), "--capacity", "64",
         "--failure-rate", "0", "--min-delay-ms", "30", "--max-delay-ms", "80"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=30, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


async def _stats(gpu: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(f"{gpu}/stats") as r:
        return dict(await r.json())


async def _timeline(gpu: str, since: int) -> list[list[float]]:
    async with aiohttp.ClientSession() as s, s.get(f"{gpu}/timeline?since={since}") as r:
        return list((await r.json())["renders"])


async def _next(gpu: str) -> int:
    async with aiohttp.ClientSession() as s, s.get(f"{gpu}/timeline") as r:
        return int((await r.json())["next"])


def _max_in_flight(renders: list[list[float]]) -> int:
    """The highest concurrency of these renders (a GPU's counter is for its whole life)."""
    events = sorted([(s, 1) for s, _, _ in renders] + [(e, -1) for _, e, _ in renders])
    now = peak = 0
    for _, d in events:  # an end sorts before a start at the same instant
        now += d
        peak = max(peak, now)
    return peak


def _holder(store: str, where: str, *args: str, fleet: str = "test") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HOLDER), "--store", store, "--where", where, "--fleet", fleet,
         "--capacity", str(CAPACITY), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_running(proc: subprocess.Popen[str], n: int, timeout: float = 20.0) -> None:
    """Read the holder's lines until it says ``running n``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"holder exited: {proc.stderr.read() if proc.stderr else ''}")
        if line.strip() == f"running {n}":
            return
    raise AssertionError(f"holder never ran {n} at once")


@pytest.fixture(params=["files", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    """(store, where, fleet): a slot directory, or the session's real Redis and a fresh key."""
    if request.param == "files":
        return "files", str(tmp_path / "slots"), "test"
    url = request.getfixturevalue("redis_url")
    return "redis", url, f"t{uuid.uuid4().hex[:8]}"


async def test_three_processes_never_exceed_the_capacity(
    gpu: str, store: tuple[str, str, str]
) -> None:
    kind, where, fleet = store
    since = await _next(gpu)
    procs = [_holder(kind, where, "--tasks", "16", "--gpu", gpu, fleet=fleet) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert out.strip().endswith("done 16"), out[-500:] + err
    renders = await _timeline(gpu, since)
    assert len(renders) == 48
    peak = _max_in_flight(renders)
    assert peak <= CAPACITY, f"{peak} renders at once with capacity {CAPACITY}"
    # ... and the capacity was used, not just respected (48 renders of 30-80 ms).
    assert peak >= CAPACITY - 1, peak
    assert (await _stats(gpu))["rejected"] == 0


async def test_a_killed_process_gives_its_slot_files_back_at_once(tmp_path: Path) -> None:
    where = tmp_path / "slots"
    holder = _holder("files", str(where), "--tasks", str(CAPACITY), "--hold", "60")
    try:
        _wait_running(holder, CAPACITY)
        mine = FileSlots(where, CAPACITY)
        assert await mine.try_acquire() is None, "every slot is held by the other process"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        t0 = time.monotonic()
        got = [await mine.try_acquire() for _ in range(CAPACITY)]
        took = time.monotonic() - t0
        assert None not in got and len(set(got)) == CAPACITY, got
        assert took < 0.5, f"{took:.2f}s to take back the killed process's slots"
        assert await mine.try_acquire() is None
        await mine.close()
    finally:
        holder.kill()
        holder.wait(10)


async def test_a_killed_holders_leases_expire_and_are_taken_back(redis_url: str) -> None:
    """Leases renewed while held (past several lease times), reclaimed after a kill -9."""
    fleet = f"t{uuid.uuid4().hex[:8]}"
    lease = 1.0
    holder = _holder(
        "redis", redis_url, "--tasks", str(CAPACITY), "--hold", "60", "--lease", str(lease),
        fleet=fleet,
    )  # fmt: skip
    mine = RedisSlots(redis_url, fleet, CAPACITY, lease_seconds=lease)
    try:
        _wait_running(holder, CAPACITY)
        # Three lease times later the holder still has all of them: it renews.
        for _ in range(6):
            assert await mine.try_acquire() is None
            await asyncio.sleep(lease / 2)
        assert await mine.holders() == CAPACITY
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        t0 = time.monotonic()
        got: list[str] = []
        while len(got) < CAPACITY and time.monotonic() - t0 < 5:
            token = await mine.try_acquire()
            if token is None:
                await asyncio.sleep(0.05)
            else:
                got.append(token)
        took = time.monotonic() - t0
        assert len(got) == CAPACITY, f"only {len(got)} permits back after {took:.1f}s"
        assert took <= lease + 0.5, f"{took:.2f}s for leases of {lease}s"
        assert await mine.try_acquire() is None
    finally:
        holder.kill()
        holder.wait(10)
        await mine.close()


class _Body(ActivityInboundInterceptor):
    def __init__(self) -> None:
        self.ran = 0

    async def execute_activity(self, input: Any) -> Any:
        self.ran += 1
        return "ok"


def _redis_server(port: int, d: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no redis-server binary (apt-get install redis-server)")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(d)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            pass
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)


async def test_redis_down_fails_closed_says_so_and_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    gate = SharedCapacityGate(RedisSlots(url, "down", CAPACITY, lease_seconds=2.0))
    body = _Body()
    chain = gate.intercept_activity(body)
    with caplog.at_level(logging.ERROR, logger="paved.worker"):
        task = asyncio.create_task(chain.execute_activity(None))  # type: ignore[arg-type]
        await asyncio.sleep(1.5)
        # Fail closed: nothing ran while the store was unreachable, and it was said.
        assert body.ran == 0 and not task.done()
        assert gate.waiting == 1 and gate.store_errors >= 1
        metrics = {
            s.name: s.value
            for fam in text_string_to_metric_families(gate.exposition("w"))
            for s in fam.samples
        }
        assert metrics["paved_capacity_waiting"] == 1 and metrics["paved_capacity_running"] == 0
        assert metrics["paved_capacity_store_errors_total"] >= 1
    said = [r.getMessage() for r in caplog.records if "PAVED-CAPACITY-STORE" in r.getMessage()]
    assert said, caplog.text
    assert "failing closed" in said[0] and f"127.0.0.1:{port}" in said[0] and "fix:" in said[0]
    server = _redis_server(port, tmp_path)
    try:
        assert await asyncio.wait_for(task, 5) == "ok"
        assert body.ran == 1 and gate.waiting == 0
    finally:
        await gate.close()
        server.terminate()
        server.wait(10)
    gone = RedisSlots(url, "down", 1)
    with pytest.raises(CapacityStoreError, match="PAVED-CAPACITY-STORE"):
        await gone.try_acquire()
    await gone.close()
