"""The imagegen example end to end: front end -> workflow -> GPU -> blob store -> query.

Everything runs as real processes (GPU service, front end, two managed workers
started with ``paved worker run``) behind a ``paved proxy`` in front of the
session's Temporal dev server, in a namespace of its own, as ``paved dev``
wires them. The raw-database check at the end proves that under this wiring a
marker in every input, signal, query result and failure message never reaches
Temporal's SQLite file, while a search-attribute value does and stays queryable.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from imagegen_stack import PAVED, PROJECT, Stack, request_body
from temporalio.client import Client, WorkflowExecutionStatus

import paved
from paved.dev import DevServer, ensure_namespaces

STAGES = {"queued", "moderating", "rendering", "storing", "done", "rejected"}


@pytest.fixture(scope="module")
async def stack(
    dev_server: DevServer, client: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    # A slow GPU (0.4-0.6 s per image) so that a request is observably in flight.
    s = Stack(
        address=dev_server.address,
        tmp=tmp_path_factory.mktemp("imagegen"),
        failure_rate=0.0,
        min_delay_ms=400,
        max_delay_ms=600,
        via_proxy=True,
    )
    await ensure_namespaces(client, [s.physical_namespace])
    s.start_all()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
async def ex_client(stack: Stack) -> Client:
    """A client of the example's namespace through the proxy (which encrypts), like its workers."""
    env = paved.RuntimeEnv(address=stack.proxy_address, via_proxy=True, api_key=stack.api_key)
    return await paved.connect("imagegen", env=env, codec=None)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s:
        yield s


async def _poll_until_final(
    http: aiohttp.ClientSession, url: str, timeout: float = 60
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with http.get(url) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
        seen.append(body)
        if body["status"] not in ("queued", "running"):  # queued: journaled, not started yet
            return body, seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} still running after {timeout}s: {seen[-1:]}")


async def _until_started(http: aiohttp.ClientSession, url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with http.get(url) as r:
            if r.status == 200 and (await r.json())["status"] != "queued":
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} still queued after {timeout}s")


async def test_request_is_accepted_at_once_and_completes(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{stack.frontend_url}/images", json=request_body(1)) as r:
        assert r.status == 202
        accepted = await r.json()
    wid = accepted["workflow_id"]
    assert wid.startswith("img-")
    assert accepted["status_url"] == f"/images/{wid}"

    final, seen = await _poll_until_final(http, stack.frontend_url + accepted["status_url"])
    running = [b for b in seen if b["status"] == "running"]
    # The render takes >= 0.4 s, so the first answers show the progress query.
    assert running, "the front end answered 'done' before the GPU could have rendered"
    assert all(b["progress"] is None or b["progress"]["stage"] in STAGES for b in running)
    assert any(b["progress"] and b["progress"]["stage"] == "rendering" for b in running)

    assert final["status"] == "done"
    result = final["result"]
    assert result["blob_key"] == wid
    assert (result["width"], result["height"]) == (32, 32)
    stored = (stack.blob_dir / f"{wid}.png").read_bytes()
    assert stored.startswith(b"\x89PNG\r\n\x1a\n")
    assert hashlib.sha256(stored).hexdigest() == result["sha256"]
    async with http.get(f"{stack.frontend_url}{final['image_url']}") as r:
        assert r.status == 200
        assert await r.read() == stored


async def test_progress_query_after_completion(
    stack: Stack, ex_client: Client, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{stack.frontend_url}/images", json=request_body(2)) as r:
        wid = (await r.json())["workflow_id"]
    # The 202 comes once the request is journaled; the workflow starts right after.
    await _until_started(http, f"{stack.frontend_url}/images/{wid}")
    handle = ex_client.get_workflow_handle(wid)
    result = await asyncio.wait_for(handle.result(), 60)
    assert result["status"] == "done"
    progress = await handle.query("progress")
    assert progress["stage"] == "done"
    assert progress["render_attempts"] >= 1


async def test_blocked_prompt_is_rejected_cleanly(
    stack: Stack, client: Client, http: aiohttp.ClientSession
) -> None:
    body = {"prompt": "a scene full of gore", "user": "mallory"}
    async with http.post(f"{stack.frontend_url}/images", json=body) as r:
        assert r.status == 202
        wid = (await r.json())["workflow_id"]
    final, _ = await _poll_until_final(http, f"{stack.frontend_url}/images/{wid}")
    assert final["status"] == "rejected"
    assert "content policy" in final["result"]["reason"]
    assert final["result"]["blob_key"] is None
    assert f"{wid}.png" not in os.listdir(stack.blob_dir) if stack.blob_dir.exists() else True
    # A rejection is an answer, not a failure: the workflow completed.
    ns_client = Client(client.service_client, namespace=stack.physical_namespace)
    desc = await ns_client.get_workflow_handle(wid).describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED


async def test_same_idempotency_key_is_one_workflow_and_one_image(
    stack: Stack, client: Client, http: aiohttp.ClientSession
) -> None:
    key = f"idem-{os.urandom(4).hex()}"
    ids = []
    for _ in range(3):
        async with http.post(
            f"{stack.frontend_url}/images", json=request_body(3), headers={"Idempotency-Key": key}
        ) as r:
            assert r.status == 202
            ids.append((await r.json())["workflow_id"])
    assert ids == [f"img-{key}"] * 3
    await _poll_until_final(http, f"{stack.frontend_url}/images/{ids[0]}")
    # Once finished, the key still maps to the same (finished) workflow.
    async with http.post(
        f"{stack.frontend_url}/images", json=request_body(3), headers={"Idempotency-Key": key}
    ) as r:
        assert r.status == 202
    ns_client = Client(client.service_client, namespace=stack.physical_namespace)
    runs = [w async for w in ns_client.list_workflows(f"WorkflowId='img-{key}'")]
    assert len(runs) == 1
    assert [k for k in stack.blob_keys() if k == f"img-{key}"] == [f"img-{key}"]


async def test_invalid_request_is_refused(stack: Stack, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{stack.frontend_url}/images", json={"prompt": "", "user": "u"}) as r:
        assert r.status == 400
    async with http.get(f"{stack.frontend_url}/images/img-does-not-exist") as r:
        assert r.status == 404


async def test_burst_above_capacity_sync_rejects_workflows_complete(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    n = 24  # three times the GPU's capacity of 8, all at once
    sync = await asyncio.gather(
        *(
            http.post(f"{stack.frontend_url}/images/sync", json=request_body(100 + i))
            for i in range(n)
        )
    )
    codes = [r.status for r in sync]
    for r in sync:
        r.release()
    assert codes.count(429) >= n - stack.gpu_capacity, codes
    assert 1 <= codes.count(200) <= stack.gpu_capacity, codes

    accepted = []
    for r in await asyncio.gather(
        *(http.post(f"{stack.frontend_url}/images", json=request_body(200 + i)) for i in range(n))
    ):
        assert r.status == 202
        accepted.append((await r.json())["workflow_id"])
    finals = await asyncio.gather(
        *(
            _poll_until_final(http, f"{stack.frontend_url}/images/{wid}", timeout=120)
            for wid in accepted
        )
    )
    assert [f["status"] for f, _ in finals] == ["done"] * n
    assert set(accepted) <= stack.blob_keys()
    stats = await stack.gpu_stats()
    assert stats["max_in_flight"] <= stack.gpu_capacity


def _raw_database(db: Path) -> bytes:
    """The SQLite file and its WAL (plaintext can sit in the WAL before a checkpoint)."""
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_marker_never_reaches_the_database_search_attribute_does(
    stack: Stack,
    ex_client: Client,
    client: Client,
    dev_server: DevServer,
    http: aiohttp.ClientSession,
) -> None:
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.client import WorkflowFailureError
    from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
    from temporalio.service import RPCError

    assert dev_server.db_file is not None
    marker = f"mk{uuid.uuid4().hex}"
    tag = uuid.uuid4().hex[:10]  # workflow ids are not payloads: keep the marker out of them
    sa_value = f"sa{uuid.uuid4().hex}"
    key = SearchAttributeKey.for_keyword("ImagegenUser")
    with contextlib.suppress(RPCError):  # already there from an earlier run of this module
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=stack.physical_namespace,
                search_attributes={"ImagegenUser": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
            )
        )

    # Through the front end: the marker in the prompt and the user.
    body = {"prompt": f"a lighthouse {marker}", "user": f"u-{marker}", "size": 16}
    async with http.post(f"{stack.frontend_url}/images", json=body) as r:
        assert r.status == 202
        wid = (await r.json())["workflow_id"]
    final, _ = await _poll_until_final(http, f"{stack.frontend_url}/images/{wid}")
    assert final["status"] == "done"

    # A client run with a search attribute, and one cancelled by a signal: the
    # signal, the query result and the failure message all carry the marker.
    req = {"prompt": f"a harbour {marker}", "user": f"u-{marker}", "size": 16}
    done = await ex_client.execute_workflow(
        "GenerateImage", req, id=f"img-sa-{tag}", task_queue="imagegen-worker-workflows",
        search_attributes=TypedSearchAttributes([SearchAttributePair(key, sa_value)]),
    )  # fmt: skip
    assert done["status"] == "done"
    h = await ex_client.start_workflow(
        "GenerateImage", req, id=f"img-cx-{tag}", task_queue="imagegen-worker-workflows",
        start_signal="cancel_request", start_signal_args=[f"sig-{marker}"],
    )  # fmt: skip
    with pytest.raises(WorkflowFailureError) as e:
        await asyncio.wait_for(h.result(), 60)
    assert f"request cancelled: sig-{marker}" in str(e.value.cause)
    progress = await h.query("progress")
    assert progress == {"stage": "cancelled", "detail": f"sig-{marker}", "render_attempts": 0}

    ns_client = Client(client.service_client, namespace=stack.physical_namespace)
    deadline = time.monotonic() + 30
    while (await ns_client.count_workflows(f"ImagegenUser='{sa_value}'")).count != 1:
        assert time.monotonic() < deadline, "the search attribute is not queryable"
        await asyncio.sleep(0.2)
    data = _raw_database(dev_server.db_file)
    leaked = marker.encode() in data  # (a bool: never print the database in a failure)
    assert not leaked, "the marker reached Temporal's database in the clear"
    assert sa_value.encode() in data  # search attributes stay clear: Temporal indexes them


def test_committed_specs_are_current() -> None:
    r = subprocess.run(
        [str(PAVED), "gen", "--check", "--project", str(PROJECT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_blob_store_rewrites_the_same_key_once(tmp_path: Path) -> None:
    import importlib.util
    import sys

    # Load the module by path: the example's package must not linger in
    # sys.modules, where other tests' generated packages live.
    spec = importlib.util.spec_from_file_location(
        "imagegen_blobstore_under_test", PROJECT / "imagegen" / "blobstore.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while defining
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[spec.name]
    BlobStore = mod.BlobStore
    store = BlobStore(tmp_path)
    first = store.put("img-a", b"png-bytes")
    again = store.put("img-a", b"png-bytes")
    store.put("img-b", b"other")
    assert first == again
    assert store.keys() == ["img-a", "img-b"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
