"""Cross-namespace leaks, task-token replay, and residency routing through the proxy."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from proxy_helpers import Env
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    ListNamespacesRequest,
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from paved.proxy import REGION_HEADER


async def _names(c: Client) -> set[str]:
    resp = await c.workflow_service.list_namespaces(
        ListNamespacesRequest(page_size=1000), retry=False
    )
    return {n.namespace_info.name for n in resp.namespaces}


async def test_list_namespaces_shows_only_what_the_caller_may_see(env: Env) -> None:
    assert await _names(await env.client("beta", env.beta)) == {env.beta}
    assert await _names(await env.client("reader")) == {env.alpha}
    # the admin team holds roles on "*": every routed namespace of its region, no unrouted ones
    admin = await _names(await env.client("admin"))
    assert {env.alpha, env.beta} <= admin
    assert "default" not in admin
    assert env.physical(env.alpha, "us") not in admin  # other region: residency
    # the traveller may reach us too: the us namespace is listed by its physical name
    assert await _names(await env.client("traveller")) == {env.alpha, env.physical(env.alpha, "us")}


async def test_other_teams_namespace_is_denied(env: Env) -> None:
    beta = await env.client("beta", env.alpha)  # names alpha, holds nothing there
    with pytest.raises(RPCError) as e:
        await beta.count_workflows()
    assert e.value.status == RPCStatusCode.PERMISSION_DENIED
    # naming the physical namespace directly does not get around RBAC
    with pytest.raises(RPCError) as e:
        await beta.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=env.physical(env.alpha)), retry=False
        )
    assert e.value.status == RPCStatusCode.PERMISSION_DENIED


async def _poll_token(c: Client, logical: str, queue: str) -> bytes:
    resp = await c.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(
            namespace=logical, task_queue=TaskQueue(name=queue), identity="t"
        ),
        retry=False,
        timeout=timedelta(seconds=20),
    )
    assert resp.task_token
    return bytes(resp.task_token)


async def test_task_token_cannot_be_replayed_into_another_namespace(env: Env) -> None:
    multi = await env.client("multi")  # worker on alpha AND beta: only the token binding stops it
    queue = f"tok-{uuid.uuid4().hex[:8]}"
    await multi.workflow_service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=env.alpha,
            workflow_id=f"tok-{uuid.uuid4().hex[:8]}",
            workflow_type=WorkflowType(name="Anything"),
            task_queue=TaskQueue(name=queue),
            request_id=str(uuid.uuid4()),
        ),
        retry=False,
    )
    token = await _poll_token(multi, env.alpha, queue)
    with pytest.raises(RPCError) as e:
        await multi.workflow_service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(namespace=env.beta, task_token=token, identity="t"),
            retry=False,
        )
    assert e.value.status == RPCStatusCode.PERMISSION_DENIED
    assert "task token" in e.value.message
    # the same token in its own namespace is accepted
    await multi.workflow_service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(namespace=env.alpha, task_token=token, identity="t"),
        retry=False,
    )
    # a garbage token is a clear INVALID_ARGUMENT, not a crash
    with pytest.raises(RPCError) as e:
        await multi.workflow_service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(namespace=env.alpha, task_token=b"\xff\x00junk"),
            retry=False,
        )
    assert e.value.status == RPCStatusCode.INVALID_ARGUMENT


async def _start_and_find(env: Env, c: Client, **kw: object) -> set[str]:
    """Start a workflow through the proxy; return the physical namespaces that hold it."""
    wid = f"res-{uuid.uuid4().hex[:8]}"
    await c.workflow_service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=str(kw.get("namespace", env.alpha)),
            workflow_id=wid,
            workflow_type=WorkflowType(name="Anything"),
            task_queue=TaskQueue(name="nobody"),
            request_id=str(uuid.uuid4()),
        ),
        retry=False,
        metadata=dict(kw.get("metadata", {})),  # type: ignore[arg-type]
    )
    found = set()
    for region in ("eu", "us"):
        direct = await Client.connect(env.dev.address, namespace=env.physical(env.alpha, region))
        try:
            await direct.get_workflow_handle(wid).describe()
            found.add(env.physical(env.alpha, region))
            await direct.get_workflow_handle(wid).terminate()
        except RPCError as e:
            assert e.status == RPCStatusCode.NOT_FOUND
    return found


async def test_residency_routing(env: Env) -> None:
    writer = await env.client("writer")  # eu/prod
    assert await _start_and_find(env, writer) == {env.physical(env.alpha, "eu")}
    # an EU service cannot reach the US namespace: not by header, not by physical name
    for kw in ({"metadata": {REGION_HEADER: "us"}}, {"namespace": env.physical(env.alpha, "us")}):
        with pytest.raises(RPCError) as e:
            await _start_and_find(env, writer, **kw)
        assert e.value.status == RPCStatusCode.PERMISSION_DENIED
        assert "residency" in e.value.message
    # ... unless the policy allows it (the traveller may reach us)
    traveller = await env.client("traveller")
    assert await _start_and_find(env, traveller, metadata={REGION_HEADER: "us"}) == {
        env.physical(env.alpha, "us")
    }
    assert await _start_and_find(env, traveller) == {env.physical(env.alpha, "eu")}


async def test_us_worker_polls_the_us_namespace(env: Env) -> None:
    """Same logical name, same queue: the region of the worker picks the physical namespace."""
    queue = f"res-q-{uuid.uuid4().hex[:6]}"
    direct_us = await Client.connect(env.dev.address, namespace=env.physical(env.alpha, "us"))
    await direct_us.start_workflow(
        "Anything", id=f"res-us-{uuid.uuid4().hex[:6]}", task_queue=queue
    )
    us_worker = await env.client("us-worker")
    resp = await us_worker.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(namespace=env.alpha, task_queue=TaskQueue(name=queue)),
        retry=False,
        timeout=timedelta(seconds=20),
    )
    assert resp.workflow_type.name == "Anything"
