"""Every payload kind through a real dev server, encrypted; the raw-database proof.

A workflow gets a unique marker in its input, activity input and result,
signal, query, update, memo, header and failure message. Afterwards the dev
server's SQLite file and its ``-wal`` file must not contain the marker, while
a search-attribute value is still there and still queryable.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from codec_workflows import EveryKindWorkflow, WaitWorkflow, echo_activity
from temporalio import converter
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

import paved
from paved.codec import FileKeyProvider, KeyRing, client_options, codec_for, is_encrypted
from paved.dev import DevServer, ensure_namespaces

LOGICAL = "codece2e"
MARKER_SA = SearchAttributeKey.for_keyword("PavedMarker")


class HeaderInterceptor(Interceptor):
    """Adds a header carrying ``value`` to every workflow start."""

    def __init__(self, value: str) -> None:
        self.value = value

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        value = self.value

        class _Out(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
                input.headers = {
                    **input.headers,
                    "paved-test": converter.default().payload_converter.to_payloads([value])[0],
                }
                return await super().start_workflow(input)

        return _Out(next)


def _db_bytes(server: DevServer) -> bytes:
    assert server.db_file is not None
    out = b""
    for p in (server.db_file, Path(f"{server.db_file}-wal")):
        if p.exists():
            out += p.read_bytes()
    return out


@pytest.fixture
async def namespace(dev_server: DevServer, client: Client) -> str:
    """The fresh physical namespace of logical ``LOGICAL`` (env dev, region local)."""
    name = paved.physical_namespace(LOGICAL, "local", f"e{uuid.uuid4().hex[:8]}")
    await ensure_namespaces(client, [name])
    # start-dev registers PavedMarker for the namespaces it creates; this one is new.
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=name,
            search_attributes={"PavedMarker": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
        )
    )
    return name


@pytest.fixture
async def paved_client(
    dev_server: DevServer, namespace: str, tmp_path: Path
) -> AsyncIterator[Client]:
    """A client through ``paved.connect`` (Pydantic converter, codec, size guard)."""
    codec = codec_for(LOGICAL, state_dir=tmp_path / ".paved")
    env = paved.RuntimeEnv(
        address=dev_server.address, region="local", environment=namespace.split("-")[-2]
    )
    assert env.namespace_for(LOGICAL) == namespace
    yield await paved.connect(LOGICAL, codec=codec, env=env)


async def test_no_marker_in_raw_database(
    paved_client: Client, dev_server: DevServer, namespace: str, tmp_path: Path
) -> None:
    marker = f"MRK{uuid.uuid4().hex}"
    sa_value = f"SAV{uuid.uuid4().hex}"
    client = Client(
        paved_client.service_client,
        namespace=namespace,
        data_converter=paved_client.data_converter,
        interceptors=[HeaderInterceptor(f"header {marker}")],
        header_codec_behavior=paved_client.config()["header_codec_behavior"],
    )
    queue = f"q-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=[EveryKindWorkflow], activities=[echo_activity]
    ):
        ok = await client.start_workflow(
            EveryKindWorkflow.run,
            f"input {marker}",
            id=f"every-kind-{sa_value}",
            task_queue=queue,
            memo={"m": f"memo {marker}"},
            search_attributes=TypedSearchAttributes([SearchAttributePair(MARKER_SA, sa_value)]),
        )
        await ok.signal(EveryKindWorkflow.note, f"signal {marker}")
        assert await ok.query(EveryKindWorkflow.seen, f"query {marker}") == (
            f"query {marker} ['signal {marker}']"
        )
        assert await ok.execute_update(EveryKindWorkflow.release, f"update {marker}") == (
            f"released with update {marker}"
        )
        result = await ok.result()
        assert result == f"activity saw input {marker} | signals=['signal {marker}']"
        desc = await ok.describe()
        assert await desc.memo_value("m") == f"memo {marker}"

        failing = await client.start_workflow(
            EveryKindWorkflow.run, f"fail:{marker}", id=f"fail-{uuid.uuid4().hex}", task_queue=queue
        )
        await failing.execute_update(EveryKindWorkflow.release, "x")
        with pytest.raises(WorkflowFailureError) as ei:
            await failing.result()
        assert f"workflow failed on fail:{marker}" in str(ei.value.cause)

    # Header and failure went out encrypted: raw history, no codec.
    raw = Client(paved_client.service_client, namespace=namespace)
    history = await raw.get_workflow_handle(ok.id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert is_encrypted(started.header.fields["paved-test"])
    assert is_encrypted(started.input.payloads[0])
    fhist = await raw.get_workflow_handle(failing.id).fetch_history()
    failed = fhist.events[-1].workflow_execution_failed_event_attributes.failure
    assert marker not in failed.message and failed.message == "Encoded failure"
    assert is_encrypted(failed.encoded_attributes)

    # The search attribute stays in the clear and queryable.
    found = [w.id async for w in raw.list_workflows(f'PavedMarker = "{sa_value}"')]
    assert found == [ok.id]

    # Control: the same method does find plaintext that was sent without a codec.
    control = f"CTL{uuid.uuid4().hex}"
    async with Worker(
        raw, task_queue=queue, workflows=[EveryKindWorkflow], activities=[echo_activity]
    ):
        h = await raw.start_workflow(
            EveryKindWorkflow.run, f"input {control}", id=f"ctl-{control}", task_queue=queue
        )
        await h.execute_update(EveryKindWorkflow.release, "x")
        await h.result()

    data = _db_bytes(dev_server)
    assert ok.id.encode() in data  # we are reading the right, up-to-date files
    assert sa_value.encode() in data
    assert control.encode() in data
    assert marker.encode() not in data


async def test_rotation_mid_workflow(paved_client: Client, namespace: str, tmp_path: Path) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    ring = KeyRing(FileKeyProvider(tmp_path / ".paved" / "keys.json"))
    raw = Client(paved_client.service_client, namespace=namespace)
    async with Worker(
        paved_client, task_queue=queue, workflows=[WaitWorkflow], activities=[echo_activity]
    ):
        before = await paved_client.start_workflow(
            WaitWorkflow.run, "before", id=f"rot-{uuid.uuid4().hex}", task_queue=queue
        )
        first_id = ring.active(LOGICAL).id
        ring.rotate(LOGICAL)  # what `paved keys rotate` does, from another "process"
        # The running worker and client pick the new key up without a restart.
        import asyncio

        await asyncio.sleep(1.2)
        after = await paved_client.start_workflow(
            WaitWorkflow.run, "after", id=f"rot-{uuid.uuid4().hex}", task_queue=queue
        )
        await before.signal(WaitWorkflow.go, "sig")
        await after.signal(WaitWorkflow.go, "sig")
        assert await before.result() == "activity saw before+sig"
        assert await after.result() == "activity saw after+sig"

    def key_id(p: Payload) -> str:
        return p.metadata["paved-key-id"].decode()

    h1 = await raw.get_workflow_handle(before.id).fetch_history()
    h2 = await raw.get_workflow_handle(after.id).fetch_history()
    in1 = h1.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    in2 = h2.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert key_id(in1) == first_id
    assert key_id(in2) == ring.active(LOGICAL).id != first_id


async def test_plain_temporalio_client_opts_in(
    dev_server: DevServer, namespace: str, tmp_path: Path
) -> None:
    client = await Client.connect(
        dev_server.address,
        namespace=namespace,
        **client_options(LOGICAL, state_dir=tmp_path / ".paved"),
    )
    queue = f"q-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=[WaitWorkflow], activities=[echo_activity]
    ):
        h = await client.start_workflow(
            WaitWorkflow.run, "plain", id=f"plain-{uuid.uuid4().hex}", task_queue=queue
        )
        await h.signal(WaitWorkflow.go, "s")
        assert await h.result() == "activity saw plain+s"
    raw = Client(client.service_client, namespace=namespace)
    hist = await raw.get_workflow_handle(h.id).fetch_history()
    assert all(
        is_encrypted(p)
        for e in hist.events
        if e.HasField("activity_task_completed_event_attributes")
        for p in e.activity_task_completed_event_attributes.result.payloads
    )
