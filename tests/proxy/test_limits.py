"""Rate limits per physical namespace: in memory and shared through Redis by two replicas."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from google.rpc import error_details_pb2, status_pb2
from proxy_helpers import Env, make_routes
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollActivityTaskQueueRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from paved.auth import Policy
from paved.proxy import Limiter, MemoryLimiter, ProxyServer, RedisLimiter, Upstream
from paved.specs import RateLimit

LIMIT = RateLimit(actions_per_second=3, requests_per_second=50)


async def _proxy(env: Env, limiter: Limiter) -> ProxyServer:
    return await ProxyServer(
        policy=Policy.from_dict(env.policy_data),
        routes=make_routes(env.alpha, env.beta, LIMIT),
        upstream=Upstream(env.dev.address),
        limiter=limiter,
    ).start()


def _start_req(env: Env) -> StartWorkflowExecutionRequest:
    return StartWorkflowExecutionRequest(
        namespace=env.alpha,
        workflow_id=f"rl-{uuid.uuid4().hex[:8]}",
        workflow_type=WorkflowType(name="Anything"),
        task_queue=TaskQueue(name="nobody"),
        request_id=str(uuid.uuid4()),
        workflow_execution_timeout=timedelta(seconds=30),
    )


async def _burst(clients: list[Client], env: Env, n: int) -> tuple[int, list[RPCError]]:
    ok, refused = 0, []
    for i in range(n):
        try:
            await clients[i % len(clients)].workflow_service.start_workflow_execution(
                _start_req(env), retry=False
            )
            ok += 1
        except RPCError as e:
            assert e.status == RPCStatusCode.RESOURCE_EXHAUSTED, e
            refused.append(e)
    return ok, refused


@pytest.fixture
async def limited(env: Env) -> AsyncIterator[ProxyServer]:
    proxy = await _proxy(env, MemoryLimiter())
    try:
        yield proxy
    finally:
        await proxy.stop()


async def _connect(proxy: ProxyServer, env: Env, who: str = "writer") -> Client:
    return await Client.connect(
        proxy.address, namespace=env.alpha, api_key=env.keys[who], tls=False
    )


async def test_over_the_limit_is_resource_exhausted_with_a_retry_hint(
    env: Env, limited: ProxyServer
) -> None:
    c = await _connect(limited, env)
    t0 = time.monotonic()
    ok, refused = await _burst([c], env, 10)
    elapsed = time.monotonic() - t0
    assert ok <= 3 + 3 * elapsed + 1  # burst of one second's worth, then the rate
    assert refused
    e = refused[0]
    assert "rate limit" in e.message and env.alpha in e.message
    # the retry hint: google.rpc.RetryInfo in the status details (what SDKs back off on)
    status = status_pb2.Status.FromString(e.raw_grpc_status)
    infos = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    assert len(infos) == 1
    hint = error_details_pb2.RetryInfo()
    infos[0].Unpack(hint)
    assert 0 < hint.retry_delay.ToMilliseconds() <= 1000
    # metrics say which namespace and bucket
    assert 'paved_proxy_rate_limited_total{bucket="actions"' in limited.metrics.text()


async def test_long_polls_are_not_starved_by_a_burst_of_starts(
    env: Env, limited: ProxyServer
) -> None:
    writer = await _connect(limited, env)
    worker = await _connect(limited, env, "worker")
    _, refused = await _burst([writer], env, 8)
    assert refused  # the namespace is now over its action budget
    # a long poll still goes through (it ends empty at its deadline rather than being refused)
    try:
        await worker.workflow_service.poll_activity_task_queue(
            PollActivityTaskQueueRequest(namespace=env.alpha, task_queue=TaskQueue(name="empty-q")),
            retry=False,
            timeout=timedelta(seconds=3),
        )
    except RPCError as e:
        assert e.status == RPCStatusCode.DEADLINE_EXCEEDED, e


async def test_sdk_backs_off_and_every_start_succeeds(env: Env, limited: ProxyServer) -> None:
    c = await _connect(limited, env)
    t0 = time.monotonic()
    handles = await asyncio.gather(
        *(
            c.start_workflow("Anything", id=f"rl-sdk-{uuid.uuid4().hex[:8]}", task_queue="nobody")
            for _ in range(8)
        )
    )
    assert len(handles) == 8  # none lost: refused calls were retried by the SDK
    assert time.monotonic() - t0 >= 1.0  # and they were paced, not let through at once


async def test_two_replicas_share_one_budget_through_redis(env: Env, redis_url: str) -> None:
    prefix = f"paved:test:{uuid.uuid4().hex[:8]}:"
    a = await _proxy(env, RedisLimiter(redis_url, prefix=prefix))
    b = await _proxy(env, RedisLimiter(redis_url, prefix=prefix))
    try:
        ca, cb = await _connect(a, env), await _connect(b, env)
        t0 = time.monotonic()
        ok, refused = await _burst([ca, cb], env, 12)
        elapsed = time.monotonic() - t0
        # one budget: what both replicas let through together fits one bucket, not two
        assert ok <= 3 + 3 * elapsed + 1, (ok, elapsed)
        assert refused
    finally:
        await a.stop()
        await b.stop()
