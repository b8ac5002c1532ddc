"""The role matrix: every role x representative RPCs through the proxy, allowed and denied.

Real temporalio clients (one per principal, API keys) against the real dev
server; a worker that itself connects through the proxy runs the workflows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from proxy_helpers import Env
from proxy_workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, Echo
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.namespace.v1 import UpdateNamespaceInfo
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    PollActivityTaskQueueRequest,
    RecordActivityTaskHeartbeatByIdRequest,
    ResetWorkflowExecutionRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

QUEUE = "roles-q"
# what each principal holds on alpha (from conftest's policy)
HOLDS = {
    "writer": {"read", "write"},
    "reader": {"read"},
    "worker": {"worker"},
    "admin": {"admin", "read"},
    "decoder": set(),
    "beta": set(),
}


class Ctx:
    def __init__(self, env: Env, direct: Client) -> None:
        self.env = env
        self.direct = direct  # physical namespace, straight to Temporal: sets up targets

    async def open_workflow(self) -> WorkflowHandle[Any, Any]:
        return await self.direct.start_workflow(
            Echo.run, args=["x", True], id=f"roles-{uuid.uuid4().hex[:8]}", task_queue=QUEUE
        )


@pytest.fixture(scope="module")
async def ctx(env: Env) -> AsyncIterator[Ctx]:
    direct = await Client.connect(env.dev.address, namespace=env.physical(env.alpha))
    worker_client = await env.client("worker")
    async with Worker(
        worker_client, task_queue=QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES
    ):
        yield Ctx(env, direct)


async def _list(c: Client, x: Ctx) -> None:
    async for _ in c.list_workflows(page_size=5):
        break


async def _count(c: Client, x: Ctx) -> None:
    await c.count_workflows()


async def _describe(c: Client, x: Ctx) -> None:
    h = await x.open_workflow()
    await c.get_workflow_handle(h.id).describe()


async def _history(c: Client, x: Ctx) -> None:
    h = await x.open_workflow()
    await c.get_workflow_handle(h.id).fetch_history()


async def _query(c: Client, x: Ctx) -> None:
    h = await x.open_workflow()
    await c.get_workflow_handle(h.id).query(Echo.seen, rpc_timeout=timedelta(seconds=20))


async def _start(c: Client, x: Ctx) -> None:
    h = await c.start_workflow(
        Echo.run, args=["x", True], id=f"roles-s-{uuid.uuid4().hex[:8]}", task_queue=QUEUE
    )
    await x.direct.get_workflow_handle(h.id).terminate()


async def _signal(c: Client, x: Ctx) -> None:
    h = await x.open_workflow()
    await c.get_workflow_handle(h.id).signal(Echo.note, "hi")


async def _update(c: Client, x: Ctx) -> None:
    h = await x.open_workflow()
    await c.get_workflow_handle(h.id).execute_update(
        Echo.add, "u", rpc_timeout=timedelta(seconds=20)
    )


async def _cancel(c: Client, x: Ctx) -> None:
    h = await x.open_workflow()
    await c.get_workflow_handle(h.id).cancel()


async def _terminate(c: Client, x: Ctx) -> None:
    h = await x.open_workflow()
    await c.get_workflow_handle(h.id).terminate()


async def _reset(c: Client, x: Ctx) -> None:
    h = await x.open_workflow()
    for _ in range(100):  # the first workflow task must complete (event 4) before a reset
        if len((await h.fetch_history()).events) >= 4:
            break
        await asyncio.sleep(0.05)
    await c.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=x.env.alpha,
            workflow_execution=WorkflowExecution(workflow_id=h.id),
            reason="test",
            workflow_task_finish_event_id=4,
            request_id=str(uuid.uuid4()),
        ),
        retry=False,
    )


async def _poll(c: Client, x: Ctx) -> None:
    try:
        await c.workflow_service.poll_activity_task_queue(
            PollActivityTaskQueueRequest(
                namespace=x.env.alpha, task_queue=TaskQueue(name=f"empty-{uuid.uuid4().hex[:6]}")
            ),
            retry=False,
            timeout=timedelta(seconds=3),
        )
    except RPCError as e:  # an empty long poll ends with its deadline: that is "allowed"
        if e.status != RPCStatusCode.DEADLINE_EXCEEDED:
            raise


async def _heartbeat(c: Client, x: Ctx) -> None:
    try:
        await c.workflow_service.record_activity_task_heartbeat_by_id(
            RecordActivityTaskHeartbeatByIdRequest(
                namespace=x.env.alpha, workflow_id="nope", activity_id="1"
            ),
            retry=False,
        )
    except RPCError as e:  # reached Temporal, which knows no such activity
        if e.status != RPCStatusCode.NOT_FOUND:
            raise


async def _update_namespace(c: Client, x: Ctx) -> None:
    await c.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=x.env.alpha, update_info=UpdateNamespaceInfo(description="by proxy test")
        ),
        retry=False,
    )


async def _describe_namespace(c: Client, x: Ctx) -> None:
    resp = await c.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=x.env.alpha), retry=False
    )
    assert resp.namespace_info.name == x.env.alpha  # the caller sees its logical name


OPS: dict[str, tuple[set[str], Callable[[Client, Ctx], Awaitable[None]]]] = {
    "list": ({"read"}, _list),
    "count": ({"read"}, _count),
    "describe": ({"read"}, _describe),
    "history": ({"read", "worker"}, _history),
    "query": ({"read"}, _query),
    "start": ({"write"}, _start),
    "signal": ({"write"}, _signal),
    "update": ({"write"}, _update),
    "cancel": ({"write"}, _cancel),
    "terminate": ({"write"}, _terminate),
    "reset": ({"write"}, _reset),
    "poll": ({"worker"}, _poll),
    "heartbeat": ({"worker"}, _heartbeat),
    "update_namespace": ({"admin"}, _update_namespace),
    "describe_namespace": ({"read", "write", "worker", "admin"}, _describe_namespace),
}


@pytest.mark.parametrize("op", list(OPS))
async def test_role_matrix(env: Env, ctx: Ctx, op: str) -> None:
    needs, fn = OPS[op]
    outcomes: dict[str, str] = {}
    for who, _holds in HOLDS.items():
        c = await env.client(who)
        try:
            await fn(c, ctx)
            outcomes[who] = "allowed"
        except RPCError as e:
            assert e.status == RPCStatusCode.PERMISSION_DENIED, (
                f"{who} {op}: {e.status} {e.message}"
            )
            assert who in e.message and env.alpha in e.message  # says who and where
            outcomes[who] = "denied"
    expected = {who: "allowed" if holds & needs else "denied" for who, holds in HOLDS.items()}
    assert outcomes == expected


async def test_unauthenticated_and_revoked(env: Env) -> None:
    from temporalio.service import ConnectConfig, ServiceClient

    # no credentials: the SDK's own connect (GetSystemInfo) is refused
    with pytest.raises(RuntimeError, match=r"(?i)unauthenticated|credentials"):
        await Client.connect(env.proxy.address, namespace=env.alpha)
    with pytest.raises(RuntimeError, match=r"(?i)revoked"):
        await Client.connect(
            env.proxy.address, namespace=env.alpha, api_key=env.keys["revoked"], tls=False
        )
    with pytest.raises(RuntimeError, match=r"(?i)unknown API key"):
        await Client.connect(
            env.proxy.address, namespace=env.alpha, api_key="pvd_made-up", tls=False
        )
    assert ServiceClient and ConnectConfig  # imported to show the refusal happens at connect
