"""Payload encryption at the proxy: Temporal stores only ciphertext, workers need no codec.

The raw-database check: a unique marker in inputs, results, signals, update
arguments and failure messages must not appear in the dev server's SQLite file
or its -wal file. A control run straight to Temporal (no proxy) proves that the
check would see plaintext if it were there.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from proxy_helpers import Env
from proxy_workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, Echo, Failing, Parent
from temporalio.api.common.v1 import Payload, Payloads, WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from paved import codec

QUEUE = "enc-q"


def _db_bytes(env: Env) -> bytes:
    db = env.dev.db_file
    assert db is not None
    out = db.read_bytes()
    wal = db.with_name(db.name + "-wal")
    if wal.exists():
        out += wal.read_bytes()
    return out


@pytest.fixture(scope="module")
async def worker_client(env: Env) -> AsyncIterator[Client]:
    c = await env.client(
        "multi"
    )  # worker + write on alpha; a plain Client: no codec, no data converter
    async with Worker(c, task_queue=QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
        yield c


async def test_marker_never_reaches_the_database(env: Env, worker_client: Client) -> None:
    marker = f"mk{uuid.uuid4().hex}"
    wid = uuid.uuid4().hex[:10]  # workflow ids are not payloads: keep the marker out of them
    c = await env.client("writer")
    # input + signal + update argument + activity result + workflow result
    h = await c.start_workflow(
        Echo.run, args=[f"in-{marker}", True], id=f"enc-{wid}", task_queue=QUEUE
    )
    assert await h.execute_update(Echo.add, f"upd-{marker}") == f"added:upd-{marker}"
    await h.signal(Echo.note, f"sig-{marker}")
    result = await h.result()
    # the caller sees plaintext (the proxy decrypts on the way back)
    assert result == f"IN-{marker}|UPD-{marker}".upper() + "!"
    assert await h.query(Echo.seen) == [f"upd-{marker}", f"sig-{marker}"]
    # failures: the message travels encrypted and comes back whole
    with pytest.raises(WorkflowFailureError) as e:
        await c.execute_workflow(Failing.run, f"fail-{marker}", id=f"enc-f-{wid}", task_queue=QUEUE)
    assert f"fail-{marker}" in str(e.value.cause.cause if e.value.cause.cause else e.value.cause)
    # a child workflow: namespace names inside commands and events are rewritten both ways
    assert (
        await c.execute_workflow(Parent.run, f"child-{marker}", id=f"enc-p-{wid}", task_queue=QUEUE)
        == f"CHILD-{marker}!".upper()
    )
    data = _db_bytes(env)
    assert marker.encode() not in data
    assert marker.upper().encode() not in data

    # control: the same kind of run straight to Temporal does leave plaintext there
    control = f"ct{uuid.uuid4().hex}"
    direct = await Client.connect(env.dev.address, namespace=env.physical(env.alpha))
    await direct.start_workflow(
        Echo.run, args=[control, True], id=f"enc-c-{control}", task_queue="nobody"
    )
    assert control.encode() in _db_bytes(env)


async def test_history_seen_directly_is_ciphertext(env: Env, worker_client: Client) -> None:
    marker = f"mk{uuid.uuid4().hex}"
    c = await env.client("writer")
    h = await c.start_workflow(
        Echo.run, args=[marker, False], id=f"enc-h-{marker}", task_queue=QUEUE
    )
    await h.result()
    direct = await Client.connect(env.dev.address, namespace=env.physical(env.alpha))
    raw = await direct.get_workflow_handle(h.id).fetch_history()
    started = raw.events[0].workflow_execution_started_event_attributes
    assert all(codec.is_encrypted(p) for p in started.input.payloads)
    # through the proxy the same history is plaintext again
    via = await c.get_workflow_handle(h.id).fetch_history()
    inp = via.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert marker.encode() in inp.data and not codec.is_encrypted(inp)


async def test_payload_encrypted_by_sdk_is_not_encrypted_twice(env: Env) -> None:
    c = await env.client("writer")
    sealed = codec.encrypt_payload(
        Payload(metadata={"encoding": b"json/plain"}, data=b'"pre"'), env.keyring, env.alpha
    )
    wid = f"enc-pre-{uuid.uuid4().hex[:8]}"
    await c.workflow_service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=env.alpha,
            workflow_id=wid,
            workflow_type=WorkflowType(name="Echo"),
            task_queue=TaskQueue(name="nobody"),
            input=Payloads(payloads=[sealed]),
            request_id=str(uuid.uuid4()),
        ),
        retry=False,
    )
    direct = await Client.connect(env.dev.address, namespace=env.physical(env.alpha))
    hist = await direct.get_workflow_handle(wid).fetch_history()
    stored = hist.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert stored == sealed  # byte for byte: no second layer
    await direct.get_workflow_handle(wid).terminate()


async def test_search_attributes_stay_clear(env: Env, worker_client: Client) -> None:
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

    key = SearchAttributeKey.for_keyword("PavedMarker")
    # an admin operation through the proxy (logical name; the proxy maps it)
    admin = await env.client("admin")
    try:
        await admin.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.alpha,
                search_attributes={"PavedMarker": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
            ),
            retry=False,
        )
    except RPCError as e:  # already added by an earlier run of this session
        assert e.status == RPCStatusCode.ALREADY_EXISTS, e
    value = f"sa{uuid.uuid4().hex[:10]}"
    c = await env.client("writer")
    h = await c.start_workflow(
        Echo.run,
        args=["x", False],
        id=f"enc-sa-{value}",
        task_queue=QUEUE,
        search_attributes=TypedSearchAttributes([SearchAttributePair(key, value)]),
        memo={"note": f"memo-{value}"},
    )
    await h.result()
    direct = await Client.connect(env.dev.address, namespace=env.physical(env.alpha))
    desc = await direct.get_workflow_handle(h.id).describe()
    assert desc.typed_search_attributes.get(key) == value  # Temporal can index it
    raw_memo = desc.raw_description.workflow_execution_info.memo.fields["note"]
    assert codec.is_encrypted(raw_memo)  # memos are encrypted
    assert await (await c.get_workflow_handle(h.id).describe()).memo() == {"note": f"memo-{value}"}
