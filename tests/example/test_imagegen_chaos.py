"""Reliability of the imagegen example: ``kill -9`` mid-burst, then count.

Three chaos runs, each with its own burst of requests through the front end:

- kill -9 both managed workers (the workflow worker and the GPU worker) while
  renders and writes are in flight, then restart them;
- kill -9 the Temporal dev server itself while requests are still arriving,
  then restart it on the same port and SQLite file;
- kill -9 the Paved proxy, the only way workers and the front end reach
  Temporal, while requests are still arriving, then restart it.

After the restart every request must complete exactly once: one completed
workflow per request in Temporal's workflow list (no duplicate from a client
retry), one image per request in the blob store, nothing failed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from imagegen_stack import (
    Stack,
    count_closed,
    listed_ids,
    request_body,
    submit,
    wait_all_completed,
)
from temporalio.client import Client

from paved.dev import DevServer, ensure_namespaces, free_port

pytestmark = pytest.mark.slow


async def _until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _submit_all(stack: Stack, first: int, n: int, run: str) -> set[str]:
    deadline = time.monotonic() + 90
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        ids = await asyncio.gather(
            *(
                submit(http, stack.frontend_url, request_body(i), f"{run}-{i}", deadline)
                for i in range(first, first + n)
            )
        )
    assert len(set(ids)) == n
    return set(ids)


async def _assert_exactly_once(ns_client: Client, stack: Stack, ids: set[str]) -> None:
    await wait_all_completed(ns_client, stack, ids, timeout=150)
    listed = await listed_ids(ns_client)
    assert sorted(listed) == sorted(ids), "the workflow list must hold each request once"
    assert await count_closed(ns_client, "Completed") == len(ids)
    assert await count_closed(ns_client, "Failed") == 0
    assert stack.blob_keys() == ids, "the blob store must hold each request's image once"
    stats = await stack.gpu_stats()
    assert stats["max_in_flight"] <= stack.gpu_capacity
    assert stats["failed"] > 0, "faults were injected and must have been retried"


async def test_kill_9_workers_mid_burst(
    dev_server: DevServer, client: Client, tmp_path: Path
) -> None:
    stack = Stack(
        address=dev_server.address,
        tmp=tmp_path,
        failure_rate=0.15,
        min_delay_ms=300,
        max_delay_ms=500,
    )
    await ensure_namespaces(client, [stack.physical_namespace])
    ns_client = Client(client.service_client, namespace=stack.physical_namespace)
    stack.start_all()
    try:
        n = 60
        ids = await _submit_all(stack, 0, n, f"w{uuid.uuid4().hex[:6]}")
        await _until(lambda: len(stack.blob_keys()) >= 8, 60, "the first images")
        done_at_kill = len(stack.blob_keys())
        stack.kill("imagegen-gpu")
        stack.kill("imagegen-worker")
        assert done_at_kill < n, "the kill must land mid-burst"
        await asyncio.sleep(1.0)
        stack.start_worker("imagegen-worker")
        stack.start_worker("imagegen-gpu")
        await _assert_exactly_once(ns_client, stack, ids)
    finally:
        stack.stop()


async def test_kill_9_dev_server_mid_burst(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "temporal.db"
    stack = Stack(
        address=f"127.0.0.1:{port}",
        tmp=tmp_path,
        failure_rate=0.15,
        min_delay_ms=300,
        max_delay_ms=500,
    )
    server = DevServer(db_file=db, port=port, namespaces=[stack.physical_namespace]).start()
    stack.start_all()
    run = f"s{uuid.uuid4().hex[:6]}"
    try:
        first = await _submit_all(stack, 0, 30, run)
        await _until(lambda: len(stack.blob_keys()) >= 5, 60, "the first images")
        server.kill()
        assert len(stack.blob_keys()) < len(first), "the kill must land mid-burst"
        # More requests arrive while Temporal is down: clients retry on 503
        # with their idempotency key until the server is back.
        late = asyncio.create_task(_submit_all(stack, 30, 20, run))
        await asyncio.sleep(2.0)
        server = DevServer(db_file=db, port=port, namespaces=[stack.physical_namespace]).start()
        ids = first | await late
        ns_client = await Client.connect(server.address, namespace=stack.physical_namespace)
        await _assert_exactly_once(ns_client, stack, ids)
    finally:
        stack.stop()
        server.stop()


async def test_kill_9_proxy_mid_burst(
    dev_server: DevServer, client: Client, tmp_path: Path
) -> None:
    """Workers and the front end reach Temporal only through the proxy; kill it mid-burst.

    While it is down, workers' polls and the front end's starts fail and are
    retried by the SDK (and by clients on 503); after a restart on the same
    address everything reconnects and every request completes exactly once.
    """
    stack = Stack(
        address=dev_server.address,
        tmp=tmp_path,
        via_proxy=True,
        failure_rate=0.15,
        min_delay_ms=300,
        max_delay_ms=500,
    )
    await ensure_namespaces(client, [stack.physical_namespace])
    ns_client = Client(client.service_client, namespace=stack.physical_namespace)
    stack.start_all()
    run = f"p{uuid.uuid4().hex[:6]}"
    try:
        first = await _submit_all(stack, 0, 30, run)
        await _until(lambda: len(stack.blob_keys()) >= 5, 60, "the first images")
        stack.kill("proxy")
        assert len(stack.blob_keys()) < len(first), "the kill must land mid-burst"
        # More requests arrive while the proxy is down: the front end answers
        # 503 and clients retry with the same idempotency key.
        late = asyncio.create_task(_submit_all(stack, 30, 15, run))
        await asyncio.sleep(2.0)
        stack.start_proxy()
        ids = first | await late
        await _assert_exactly_once(ns_client, stack, ids)
    finally:
        stack.stop()
