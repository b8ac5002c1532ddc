"""Large-payload offload (directory and a real S3-compatible server) and bad input.

S3 is moto's ``ThreadedMotoServer``, a real HTTP S3 endpoint on 127.0.0.1,
driven by boto3 exactly as production would be.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from codec_workflows import SizeWorkflow, WaitWorkflow, echo_activity, size_activity
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

import paved
from paved.codec import (
    REF_ENCODING,
    BlobCorruptError,
    BlobMissingError,
    DirBlobStore,
    EncryptionCodec,
    KeyRing,
    MemoryKeyProvider,
    OffloadTooLargeError,
    S3BlobStore,
    UnknownKeyError,
    decrypt_payload,
    is_encrypted,
)
from paved.dev import DevServer

THRESHOLD = 64 * 1024


def _big(n: int, fill: bytes = b"x") -> Payload:
    return Payload(metadata={"encoding": b"binary/plain"}, data=fill * n)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_store(s3_endpoint: str) -> S3BlobStore:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    bucket = f"paved-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return S3BlobStore(bucket, client=client)


def _s3_keys(store: S3BlobStore) -> list[str]:
    resp: dict[str, Any] = store.client.list_objects_v2(Bucket=store.bucket)
    return [o["Key"] for o in resp.get("Contents", [])]


def _dir_keys(store: DirBlobStore) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file()] if store.root.exists() else []


@pytest.mark.parametrize("kind", ["dir", "s3"])
async def test_offload_above_threshold_only(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store: Any = (
        DirBlobStore(tmp_path / "blobs") if kind == "dir" else request.getfixturevalue("s3_store")
    )
    count = (lambda: len(_dir_keys(store))) if kind == "dir" else (lambda: len(_s3_keys(store)))
    ring = KeyRing(MemoryKeyProvider())
    codec = EncryptionCodec(ring, "media", blobs=store, offload_threshold=THRESHOLD)

    small, big = _big(THRESHOLD - 100), _big(THRESHOLD + 1, b"S")
    enc = await codec.encode([small, big])
    assert count() == 1
    assert enc[0].ByteSize() > THRESHOLD - 100  # inline
    assert enc[1].ByteSize() < 1024  # a small encrypted reference
    assert all(is_encrypted(p) for p in enc)
    # The reference itself is encrypted; inside, it names the blob.
    ref = decrypt_payload(enc[1], ring, "media")
    assert ref.metadata["encoding"] == REF_ENCODING
    assert await codec.decode(enc) == [small, big]
    # Retries re-send the same payload: content-addressed, nothing new stored.
    again = await codec.encode([big])
    assert count() == 1
    assert (
        json.loads(decrypt_payload(again[0], ring, "media").data)["key"]
        == (json.loads(ref.data)["key"])
    )
    # Blobs are encrypted too.
    if kind == "dir":
        assert b"SSSSSSSS" not in _dir_keys(store)[0].read_bytes()
    else:
        body = store.client.get_object(Bucket=store.bucket, Key=_s3_keys(store)[0])["Body"].read()
        assert b"SSSSSSSS" not in body


async def test_missing_and_corrupt_blob(tmp_path: Path, s3_store: S3BlobStore) -> None:
    ring = KeyRing(MemoryKeyProvider())
    dstore = DirBlobStore(tmp_path / "blobs")
    for store in (dstore, s3_store):
        codec = EncryptionCodec(ring, "media", blobs=store, offload_threshold=THRESHOLD)
        enc = await codec.encode([_big(THRESHOLD * 2, b"Q")])
        kid = ring.active("media").id
        if store is dstore:
            (path,) = _dir_keys(dstore)
            path.write_bytes(path.read_bytes()[:-1] + b"!")
        else:
            (key,) = _s3_keys(s3_store)
            s3_store.client.put_object(Bucket=s3_store.bucket, Key=key, Body=b"garbage" * 10)
        with pytest.raises(BlobCorruptError) as ei:
            await codec.decode(enc)
        assert "payload #0" in str(ei.value) and "'media'" in str(ei.value) and kid in str(ei.value)
        if store is dstore:
            path.unlink()
        else:
            s3_store.client.delete_object(Bucket=s3_store.bucket, Key=key)
        with pytest.raises(BlobMissingError) as ei2:
            await codec.decode(enc)
        assert kid in str(ei2.value) and "QQQQ" not in str(ei2.value)


async def test_too_large_even_for_offload(tmp_path: Path) -> None:
    ring = KeyRing(MemoryKeyProvider())
    codec = EncryptionCodec(
        ring,
        "media",
        blobs=DirBlobStore(tmp_path),
        offload_threshold=THRESHOLD,
        max_offload_bytes=THRESHOLD * 2,
    )
    with pytest.raises(OffloadTooLargeError) as ei:
        await codec.encode([_big(THRESHOLD), _big(THRESHOLD * 3)])
    assert "payload #1" in str(ei.value) and ring.active("media").id in str(ei.value)
    assert isinstance(ei.value, paved.PayloadTooLargeError)


async def test_other_namespace_cannot_decode(tmp_path: Path) -> None:
    ring = KeyRing(MemoryKeyProvider())
    store = DirBlobStore(tmp_path)
    a = EncryptionCodec(ring, "team-a", blobs=store, offload_threshold=THRESHOLD)
    b = EncryptionCodec(ring, "team-b", blobs=store, offload_threshold=THRESHOLD)
    ring.active("team-b")
    enc = await a.encode([_big(10), _big(THRESHOLD * 2)])
    for p in enc:
        with pytest.raises(UnknownKeyError):
            await b.decode([p])


# ----- through a real dev server -----------------------------------------------------


async def _client(
    server: DevServer, namespace: str, codec: EncryptionCodec, *, limit: int | None = None
) -> Client:
    extra = {"max_payload_bytes": limit} if limit else {}
    return await Client.connect(
        server.address,
        namespace=namespace,
        data_converter=paved.data_converter(codec=codec, **extra),
    )


async def test_workflow_offload_and_size_guard_measure_what_is_sent(
    dev_server: DevServer, namespace: str, tmp_path: Path
) -> None:
    ring = KeyRing(MemoryKeyProvider())
    store = DirBlobStore(tmp_path / "blobs")
    codec = EncryptionCodec(ring, "media", blobs=store)  # default threshold: 256 KiB
    # A 1 MiB size guard: a 3 MiB input only passes because it is offloaded first.
    client = await _client(dev_server, namespace, codec, limit=1024 * 1024)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=[SizeWorkflow], activities=[size_activity]
    ):
        small = await client.execute_workflow(
            SizeWorkflow.run, "s" * (200 * 1024), id=f"s-{uuid.uuid4().hex}", task_queue=queue
        )
        assert small == 200 * 1024 and _dir_keys(store) == []
        big = await client.execute_workflow(
            SizeWorkflow.run, "b" * (3 * 1024 * 1024), id=f"b-{uuid.uuid4().hex}", task_queue=queue
        )
        assert big == 3 * 1024 * 1024
        # Workflow input and activity input are the same bytes: one blob.
        assert len(_dir_keys(store)) == 1
    plain = Client(client.service_client, namespace=namespace)
    wf_id = next(iter([w.id async for w in plain.list_workflows('WorkflowId STARTS_WITH "b-"')]))
    hist = await plain.get_workflow_handle(wf_id).fetch_history()
    started = hist.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].ByteSize() < 1024


async def _wait_for_event(client: Client, wf_id: str, kind: int, timeout: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        hist = await client.get_workflow_handle(wf_id).fetch_history()
        for e in hist.events:
            if e.event_type == kind:
                return e
        await asyncio.sleep(0.2)
    raise AssertionError(f"no event {kind} in {wf_id} within {timeout}s")


async def test_wrong_key_fails_the_task_and_a_retry_succeeds(
    dev_server: DevServer, namespace: str
) -> None:
    right = KeyRing(MemoryKeyProvider())
    wrong = KeyRing(MemoryKeyProvider())  # same namespace name, different keys
    starter = await _client(dev_server, namespace, EncryptionCodec(right, "ns"))
    bad = await _client(dev_server, namespace, EncryptionCodec(wrong, "ns"))
    wrong.active("ns")
    queue = f"q-{uuid.uuid4().hex[:8]}"
    wf_id = f"wk-{uuid.uuid4().hex}"
    h = await starter.start_workflow(WaitWorkflow.run, "secret-input", id=wf_id, task_queue=queue)
    async with Worker(bad, task_queue=queue, workflows=[WaitWorkflow], activities=[echo_activity]):
        ev = await _wait_for_event(starter, wf_id, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
    # The failure recorded in history names the namespace and key id and no plaintext.
    failure = ev.workflow_task_failed_event_attributes.failure
    (decoded,) = await EncryptionCodec(wrong, "ns").decode([failure.encoded_attributes])
    text = decoded.data.decode()
    assert "PAVED-CODEC-UNKNOWN-KEY" in text and right.active("ns").id in text
    assert "secret-input" not in text
    # Temporal retries the task: a worker with the right key finishes the workflow.
    async with Worker(
        starter, task_queue=queue, workflows=[WaitWorkflow], activities=[echo_activity]
    ):
        await h.signal(WaitWorkflow.go, "go")
        assert await h.result() == "activity saw secret-input+go"


async def test_missing_blob_fails_the_task_until_restored(
    dev_server: DevServer, namespace: str, tmp_path: Path
) -> None:
    ring = KeyRing(MemoryKeyProvider())
    store = DirBlobStore(tmp_path / "blobs")
    codec = EncryptionCodec(ring, "media", blobs=store, offload_threshold=THRESHOLD)
    client = await _client(dev_server, namespace, codec)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    wf_id = f"mb-{uuid.uuid4().hex}"
    h = await client.start_workflow(
        SizeWorkflow.run, "m" * (THRESHOLD * 2), id=wf_id, task_queue=queue
    )
    (blob,) = _dir_keys(store)
    aside = tmp_path / "aside"
    os.replace(blob, aside)
    async with Worker(
        client, task_queue=queue, workflows=[SizeWorkflow], activities=[size_activity]
    ):
        ev = await _wait_for_event(client, wf_id, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
        (decoded,) = await codec.decode(
            [ev.workflow_task_failed_event_attributes.failure.encoded_attributes]
        )
        assert "PAVED-CODEC-BLOB-MISSING" in decoded.data.decode()
        os.replace(aside, blob)
        assert await h.result() == THRESHOLD * 2
