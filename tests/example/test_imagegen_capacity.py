"""``capacity: 8`` is fleet-wide: three real GPU-worker replicas on one host, one killed -9.

The example's GPU worker declares ``capacity: 8``. Three replicas of it run as
``paved worker run imagegen-gpu`` processes with ``PAVED_CAPACITY_DIR`` (what
``paved dev``'s replica set gives them), against a GPU service that admits 64 at
once and records its highest concurrency: only the shared gate can hold it at 8
(three in-process gates would allow 24). Mid-burst the replica holding the most
permits (read from ``/proc/locks``) is killed with -9: the kernel drops its
``flock``s, the other replicas take the permits at once, and every request still
completes exactly once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from imagegen_stack import (
    PAVED,
    Stack,
    count_closed,
    listed_ids,
    request_body,
    submit,
    wait_all_completed,
)
from temporalio.client import Client

from paved import specs
from paved.dev import DevServer, ensure_namespaces

pytestmark = pytest.mark.slow

CAPACITY = 8  # examples/imagegen/paved.yaml
REPLICAS = ("imagegen-gpu", "imagegen-gpu-1", "imagegen-gpu-2")


@dataclass(kw_only=True)
class SharedStack(Stack):
    """The example's processes with the GPU worker's replicas sharing slot files."""

    def env(self) -> dict[str, str]:
        return {**super().env(), specs.CAPACITY_DIR_ENV: str(self.tmp / "capacity")}

    def start_gpu_replica(self, name: str) -> None:
        self.spawn(
            name,
            [str(PAVED), "worker", "run", "imagegen-gpu", "--project", str(self.project),
             "--http-port", "-1", "--log-level", "WARNING"],
        )  # fmt: skip

    async def gpu_timeline(self) -> list[list[float]]:
        async with aiohttp.ClientSession() as s, s.get(f"{self.gpu_url}/timeline") as r:
            return list((await r.json())["renders"])

    def slot_holders(self) -> Counter[int]:
        """Permits held per pid: the kernel's ``flock``s on this stack's slot files."""
        inodes = {p.stat().st_ino for p in (self.tmp / "capacity").glob("*/slot-*.lock")}
        held: Counter[int] = Counter()
        for line in Path("/proc/locks").read_text().splitlines():
            f = line.split()
            if len(f) >= 6 and f[1] == "FLOCK" and int(f[5].split(":")[-1]) in inodes:
                held[int(f[4])] += 1
        return held


def _peak(
    renders: list[list[float]], since: float = float("-inf"), until: float = float("inf")
) -> int:
    """The highest concurrency at the GPU over renders starting in ``[since, until)``
    (concurrency only rises when a render starts)."""
    starts = [s for s, _, _ in renders if since <= s < until]
    return max((sum(1 for s, e, _ in renders if s <= t < e) for t in starts), default=0)


async def test_three_replicas_share_capacity_8_and_a_killed_one_frees_its_permits(
    dev_server: DevServer, client: Client, tmp_path: Path
) -> None:
    stack = SharedStack(
        address=dev_server.address,
        tmp=tmp_path,
        gpu_capacity=64,  # the service would admit 64: only the gate keeps it at 8
        failure_rate=0.1,
        min_delay_ms=300,
        max_delay_ms=500,
    )
    await ensure_namespaces(client, [stack.physical_namespace])
    ns_client = Client(client.service_client, namespace=stack.physical_namespace)
    stack.start_gpu()
    stack.start_worker("imagegen-worker")
    for name in REPLICAS:
        stack.start_gpu_replica(name)
    stack.start_frontend()
    try:
        n, run = 48, f"c{uuid.uuid4().hex[:6]}"
        deadline = time.monotonic() + 90
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            ids = set(
                await asyncio.gather(
                    *(submit(http, stack.frontend_url, request_body(i), f"{run}-{i}", deadline)
                      for i in range(n))
                )
            )  # fmt: skip
        assert len(ids) == n

        # Mid-burst: the three replicas hold the 8 permits between them.
        pids = {stack.procs[r].pid: r for r in REPLICAS}
        t0 = time.monotonic()
        while sum(stack.slot_holders().values()) < CAPACITY or len(stack.blob_keys()) < 4:
            assert time.monotonic() - t0 < 60, f"never 8 permits held\n{stack.logs()}"
            await asyncio.sleep(0.02)
        held = stack.slot_holders()
        assert set(held) <= set(pids), f"slot files locked by {held}, replicas are {pids}"
        victim_pid = max(held, key=lambda p: held[p])
        lost = held[victim_pid]
        assert len(stack.blob_keys()) < n, "the kill must land mid-burst"
        t_kill, wall_kill = time.monotonic(), time.time()
        stack.kill(pids[victim_pid])
        # The kernel dropped its locks with the process; the others take the permits at once.
        while True:
            now = stack.slot_holders()
            if victim_pid not in now and sum(now.values()) == CAPACITY:
                break
            assert time.monotonic() - t_kill < 2.0, f"permits not back: {now}"
            await asyncio.sleep(0.01)
        back = time.monotonic() - t_kill
        print(
            f"killed a replica holding {lost} permit(s); all {CAPACITY} held again in {back:.2f}s"
        )

        await wait_all_completed(ns_client, stack, ids, timeout=150)
        listed = await listed_ids(ns_client)
        assert sorted(listed) == sorted(ids), "the workflow list must hold each request once"
        assert await count_closed(ns_client, "Completed") == n
        assert await count_closed(ns_client, "Failed") == 0
        assert stack.blob_keys() == ids, "the blob store must hold each request's image once"
        stats = await stack.gpu_stats()
        assert stats["failed"] > 0, "faults were injected and must have been retried"
        # At the GPU: never more than 8 at once, except for the renders the dead replica
        # had already sent, which the GPU finishes anyway (at most one render, 0.5 s,
        # after the kill; 1 s allowed for a loaded machine).
        renders = await stack.gpu_timeline()
        before = _peak(renders, until=wall_kill)
        orphans = _peak(renders, since=wall_kill, until=wall_kill + 1.0)
        after = _peak(renders, since=wall_kill + 1.0)
        print(f"GPU in flight: peak {before} before the kill, {orphans} in the second after "
              f"it, {after} after that (whole run: {stats['max_in_flight']})")  # fmt: skip
        assert before <= CAPACITY and after <= CAPACITY, (before, after)
        assert orphans <= CAPACITY + lost, orphans
        assert before >= CAPACITY - 1, f"the capacity was not used: {before}"
    finally:
        stack.stop()
