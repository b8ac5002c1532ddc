"""A worker's poll that goes away through the proxy: the proxy's upstream poll ends with
it, so the next task goes to a worker that is there, at once (not at the task's timeout).

Each test leaves a poll on an otherwise idle task queue, makes its caller go away
(the call cancelled, the process killed -9), then schedules one task and polls
with a fresh caller. Had the proxy kept its upstream poll open, Temporal would
hand the task to it (the only poll there, on a one-partition dev server) and
the fresh poll would get nothing until the task's timeout: 60 s for these
workflow tasks, 120 s for these activities. The race where the task arrives as
the caller leaves is reproduced by holding the answer in the proxy (an extra
stage) until the caller has gone: the proxy gives that task back to Temporal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from proxy_helpers import Env
from proxy_workflows import Echo, shout
from temporalio.api.command.v1 import Command, ScheduleActivityTaskCommandAttributes
from temporalio.api.common.v1 import ActivityType, RetryPolicy
from temporalio.api.enums.v1 import CommandType, TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeTaskQueueResponse,
    PollActivityTaskQueueRequest,
    PollActivityTaskQueueResponse,
    PollWorkflowTaskQueueRequest,
    PollWorkflowTaskQueueResponse,
    RespondWorkflowTaskCompletedRequest,
    ShutdownWorkerRequest,
)
from temporalio.client import Client
from temporalio.worker import Worker

from paved.auth import Policy
from paved.proxy import ProxyServer, Upstream
from paved.proxy._context import CallContext

WS = "/temporal.api.workflowservice.v1.WorkflowService/"
# what a task waits for when it goes to a poll nobody waits for (far above "promptly")
WORKFLOW_TASK_TIMEOUT = 60
ACTIVITY_START_TO_CLOSE = 120
PROMPTLY = 5.0

_KILLED_POLLER = """
import asyncio, os, sys
import grpc

async def main() -> None:
    ch = grpc.aio.insecure_channel(sys.argv[1])
    call = ch.unary_unary(sys.argv[2])(
        bytes.fromhex(sys.argv[3]),
        metadata=[("authorization", "Bearer " + os.environ["POLL_KEY"])],
        timeout=70,
    )
    print("polling", flush=True)
    await call

asyncio.run(main())
"""


@dataclass
class Kind:
    """Workflow tasks or activity tasks: how to poll, schedule and read them."""

    name: str
    method: str  # the poll's method name
    queue_type: int

    @property
    def path(self) -> str:
        return WS + self.method

    def poll_request(self, namespace: str, tq: str, identity: str) -> bytes:
        cls = (
            PollWorkflowTaskQueueRequest
            if self.name == "workflow"
            else PollActivityTaskQueueRequest
        )
        return cls(  # type: ignore[no-any-return]
            namespace=namespace,
            task_queue=TaskQueue(name=tq, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            identity=identity,
        ).SerializeToString()

    def answer(self, raw: bytes) -> Any:
        cls = (
            PollWorkflowTaskQueueResponse
            if self.name == "workflow"
            else PollActivityTaskQueueResponse
        )
        return cls.FromString(raw)


WORKFLOW = Kind("workflow", "PollWorkflowTaskQueue", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
ACTIVITY = Kind("activity", "PollActivityTaskQueue", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
KINDS = [pytest.param(WORKFLOW, id="workflow-task"), pytest.param(ACTIVITY, id="activity-task")]


@dataclass
class Queue:
    """One idle task queue of the test, reached through the proxy and directly."""

    env: Env
    kind: Kind
    tq: str
    proxy_ch: grpc.aio.Channel
    direct: grpc.aio.Channel
    client: Client

    @property
    def physical(self) -> str:
        return self.env.physical(self.env.alpha)

    @property
    def auth(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.env.keys['worker']}")]

    def poll(self, identity: str, timeout: float = 70) -> Any:
        """A poll through the proxy (the grpc.aio call: await it or cancel it)."""
        req = self.kind.poll_request(self.env.alpha, self.tq, identity)
        return self.proxy_ch.unary_unary(self.kind.path)(req, metadata=self.auth, timeout=timeout)

    def in_flight(self) -> float:
        v = self.env.proxy.metrics.registry.get_sample_value(
            "paved_proxy_long_polls_in_flight", {"method": self.kind.method}
        )
        return v or 0.0

    async def pollers(self) -> list[str]:
        """Who Temporal has seen polling the queue (kept for minutes after they leave)."""
        raw = await self.direct.unary_unary(WS + "DescribeTaskQueue")(
            DescribeTaskQueueRequest(
                namespace=self.physical,
                task_queue=TaskQueue(name=self.tq, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=self.kind.queue_type,  # type: ignore[arg-type]
            ).SerializeToString(),
            timeout=10,
        )
        return [p.identity for p in DescribeTaskQueueResponse.FromString(raw).pollers]

    async def until_polling_upstream(self, identity: str, before: float) -> None:
        """Until Temporal has the poll of ``identity`` and the proxy counts it."""
        deadline = time.monotonic() + 10
        while identity not in await self.pollers() or self.in_flight() < before + 1:
            assert time.monotonic() < deadline, f"the poll of {identity} never reached Temporal"
            await asyncio.sleep(0.05)

    async def until_no_poll_upstream(self, before: float) -> float:
        """Seconds until the proxy has no upstream poll of the queue left."""
        t0 = time.monotonic()
        while self.in_flight() > before:
            assert time.monotonic() - t0 < PROMPTLY, (
                "the proxy kept its upstream poll open after the caller left"
            )
            await asyncio.sleep(0.02)
        return time.monotonic() - t0

    async def schedule(self) -> None:
        """One task on the queue: a workflow's first task, or an activity of a workflow."""
        wid = f"wf-{self.tq}"
        if self.kind is WORKFLOW:
            await self.client.start_workflow(
                "Nothing",
                id=wid,
                task_queue=self.tq,
                task_timeout=timedelta(seconds=WORKFLOW_TASK_TIMEOUT),
            )
            return
        # the workflow runs on its own queue, polled here directly; its task schedules
        # the activity on the queue under test
        await self.client.start_workflow("Parent", id=wid, task_queue=self.tq + "-wf")
        raw = await self.direct.unary_unary(WS + "PollWorkflowTaskQueue")(
            WORKFLOW.poll_request(self.physical, self.tq + "-wf", "parent"), timeout=30
        )
        task = PollWorkflowTaskQueueResponse.FromString(raw)
        assert task.task_token, "the parent workflow's task did not come"
        attrs = ScheduleActivityTaskCommandAttributes(
            activity_id="act-1",
            activity_type=ActivityType(name="Act"),
            task_queue=TaskQueue(name=self.tq, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            start_to_close_timeout=Duration(seconds=ACTIVITY_START_TO_CLOSE),
            retry_policy=RetryPolicy(initial_interval=Duration(seconds=1), maximum_attempts=5),
        )
        await self.direct.unary_unary(WS + "RespondWorkflowTaskCompleted")(
            RespondWorkflowTaskCompletedRequest(
                namespace=self.physical,
                task_token=task.task_token,
                identity="parent",
                commands=[
                    Command(
                        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
                        schedule_activity_task_command_attributes=attrs,
                    )
                ],
            ).SerializeToString(),
            timeout=10,
        )

    async def fresh_poll(self, limit: float = 15) -> tuple[Any, float]:
        """(the task a new caller gets, seconds it waited for it); fails after ``limit``."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            left = max(1.0, limit - (time.monotonic() - t0))
            task = self.kind.answer(await self.poll("fresh", timeout=left))
            if task.task_token:
                return task, time.monotonic() - t0
        raise AssertionError(
            f"no {self.kind.name} task for a fresh poll in {limit:.0f}s: it went to the poll "
            "that left and waits for its timeout"
        )


@pytest.fixture
async def queue(env: Env, request: pytest.FixtureRequest) -> AsyncIterator[Callable[[Kind], Queue]]:
    chans: list[grpc.aio.Channel] = []
    client = await Client.connect(env.dev.address, namespace=env.physical(env.alpha))

    def make(kind: Kind) -> Queue:
        proxy_ch = grpc.aio.insecure_channel(env.proxy.address)
        direct = grpc.aio.insecure_channel(env.dev.address)
        chans.extend([proxy_ch, direct])
        return Queue(env, kind, f"pc-{uuid.uuid4().hex[:8]}", proxy_ch, direct, client)

    yield make
    for ch in chans:
        await ch.close()


async def _go_away_by_cancel(q: Queue) -> None:
    before = q.in_flight()
    call = q.poll("orphan")
    await q.until_polling_upstream("orphan", before)
    call.cancel()


async def _go_away_by_kill(q: Queue) -> None:
    before = q.in_flight()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _KILLED_POLLER,
            q.env.proxy.address,
            q.kind.path,
            q.kind.poll_request(q.env.alpha, q.tq, "orphan").hex(),
        ],
        env={**os.environ, "POLL_KEY": q.env.keys["worker"]},
        stdout=subprocess.PIPE,
    )
    try:
        await q.until_polling_upstream("orphan", before)
    finally:
        proc.kill()  # SIGKILL: no cancel on the wire, the connection just closes
        proc.wait(10)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "go_away", [_go_away_by_cancel, _go_away_by_kill], ids=["cancelled", "killed-9"]
)
async def test_a_poll_whose_caller_left_gets_no_task(
    queue: Callable[[Kind], Queue], kind: Kind, go_away: Callable[[Queue], Awaitable[None]]
) -> None:
    q = queue(kind)
    before = q.in_flight()
    await go_away(q)
    closed = await q.until_no_poll_upstream(before)
    await q.schedule()
    task, waited = await q.fresh_poll()
    assert waited < PROMPTLY
    assert task.attempt == 1
    print(
        f"{kind.name}/{go_away.__name__}: upstream poll closed in {closed:.3f}s, "
        f"the next caller had the task in {waited:.3f}s"
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_a_task_that_arrives_as_its_caller_leaves_is_given_back(
    env: Env,
    queue: Callable[[Kind], Queue],
    kind: Kind,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="paved.proxy")
    q = queue(kind)
    arrived = asyncio.Event()

    async def hold(call: CallContext) -> None:
        """After forward: the answer is in the proxy; the caller leaves before it is sent."""
        arrived.set()
        await asyncio.Future()  # until the handler is cancelled

    stages = env.proxy.pipeline.stages
    saved = stages[kind.path]
    forward = [s.__name__ for s in saved].index("forward")
    stages[kind.path] = (*saved[: forward + 1], hold, *saved[forward + 1 :])
    counter = env.proxy.metrics.registry.get_sample_value
    labels = {"method": kind.method, "outcome": "returned"}
    given_back = counter("paved_proxy_undelivered_tasks_total", labels) or 0.0
    try:
        before = q.in_flight()
        call = q.poll("orphan")
        await q.until_polling_upstream("orphan", before)
        await q.schedule()
        await asyncio.wait_for(arrived.wait(), 10)
        call.cancel()
    finally:
        stages[kind.path] = saved
    task, waited = await q.fresh_poll()
    assert waited < PROMPTLY
    assert task.attempt == 2  # the first attempt was the one given back
    assert counter("paved_proxy_undelivered_tasks_total", labels) == given_back + 1
    # Temporal records why the attempt ended (a workflow task: in the history)
    handle = q.client.get_workflow_handle(f"wf-{q.tq}")
    if kind is WORKFLOW:
        failed = [
            e.workflow_task_failed_event_attributes.failure.message
            async for e in handle.fetch_history_events()
            if e.HasField("workflow_task_failed_event_attributes")
        ]
    else:
        failed = [
            a.last_failure.message
            for a in (await handle.describe()).raw_description.pending_activities
        ]
    assert len(failed) == 1 and "PAVED-PROXY-UNDELIVERED" in failed[0]
    lines = [r.getMessage() for r in caplog.records if "PAVED-PROXY-UNDELIVERED" in r.getMessage()]
    assert lines and "given back" in lines[0] and f"wf-{q.tq}" in lines[0]
    print(f"{kind.name}: given back, the next caller had attempt 2 in {waited:.3f}s")


async def test_shutdown_worker_through_the_proxy_ends_the_workers_polls(
    queue: Callable[[Kind], Queue],
) -> None:
    """ShutdownWorker (sent by the SDK at shutdown) reaches Temporal through the proxy,
    and Temporal answers the worker's open polls (empty) at once: the dev server runs
    with frontend.enableCancelWorkerPollsOnShutdown."""
    q = queue(WORKFLOW)
    key = uuid.uuid4().hex
    req = PollWorkflowTaskQueueRequest(
        namespace=q.env.alpha,
        task_queue=TaskQueue(name=q.tq, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
        identity="leaving",
        worker_instance_key=key,
    ).SerializeToString()
    before = q.in_flight()
    call = q.proxy_ch.unary_unary(WORKFLOW.path)(req, metadata=q.auth, timeout=70)
    await q.until_polling_upstream("leaving", before)
    t0 = time.monotonic()
    await q.proxy_ch.unary_unary(WS + "ShutdownWorker")(
        ShutdownWorkerRequest(
            namespace=q.env.alpha,
            identity="leaving",
            reason="test",
            worker_instance_key=key,
            task_queue=q.tq,
            task_queue_types=[TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW],
        ).SerializeToString(),
        metadata=q.auth,
        timeout=10,
    )
    answer = WORKFLOW.answer(await asyncio.wait_for(call, 5))
    assert not answer.task_token
    ended = time.monotonic() - t0
    # a poll the leaving worker sends after that (Core can re-poll while it stops) gets
    # an empty answer, never a task it would drop
    await q.schedule()
    t1 = time.monotonic()
    late = await q.proxy_ch.unary_unary(WORKFLOW.path)(req, metadata=q.auth, timeout=10)
    assert not WORKFLOW.answer(late).task_token and time.monotonic() - t1 < 2
    task, waited = await q.fresh_poll()
    assert waited < PROMPTLY and task.attempt == 1
    print(f"ShutdownWorker: the open poll answered (empty) in {ended:.3f}s")


async def test_an_sdk_worker_shutting_down_through_the_proxy_leaves_no_poll_behind(
    env: Env, queue: Callable[[Kind], Queue], caplog: pytest.LogCaptureFixture
) -> None:
    """A temporalio Worker behind the proxy, shut down: its polls end with Temporal's empty
    answer (not a cancel that can race a task), promptly, and the next worker gets the next
    workflow at once."""
    caplog.set_level(logging.INFO, logger="paved.proxy.access")
    q = queue(WORKFLOW)
    polls = ("PollWorkflowTaskQueue", "PollActivityTaskQueue")
    c = await env.client("worker")
    baseline = {m: _in_flight(env, m) for m in polls}
    worker = Worker(c, task_queue=q.tq, workflows=[Echo], activities=[shout])
    running = asyncio.create_task(worker.run())
    deadline = time.monotonic() + 10
    while any(_in_flight(env, m) <= baseline[m] for m in polls):
        assert time.monotonic() < deadline, "the worker's polls never reached the proxy"
        await asyncio.sleep(0.05)
    caplog.clear()
    t0 = time.monotonic()
    await worker.shutdown()
    await running
    shutdown = time.monotonic() - t0
    assert shutdown < PROMPTLY, f"shutdown took {shutdown:.1f}s: polls left to their timeout"
    assert all(_in_flight(env, m) == baseline[m] for m in polls)
    ended = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "paved.proxy.access" and "Poll" in r.getMessage()
    ]
    codes = {(e["method"], e["code"]) for e in ended}
    assert codes and all(code == "OK" for _, code in codes), codes
    async with Worker(c, task_queue=q.tq, workflows=[Echo], activities=[shout]):
        t1 = time.monotonic()
        writer = await env.client("writer")  # payloads are encrypted by the proxy
        out = await writer.execute_workflow(
            Echo.run, "hi", id=f"wf-{q.tq}", task_queue=q.tq, run_timeout=timedelta(seconds=30)
        )
        assert out == "HI!"
        took = time.monotonic() - t1
    assert took < PROMPTLY
    print(
        f"SDK worker shutdown through the proxy: {shutdown:.3f}s, polls ended {sorted(codes)}; "
        f"next workflow done in {took:.3f}s"
    )


def _in_flight(env: Env, method: str) -> float:
    v = env.proxy.metrics.registry.get_sample_value(
        "paved_proxy_long_polls_in_flight", {"method": method}
    )
    return v or 0.0


class _Relay:
    """A TCP relay between a caller and the proxy that can go silent: no FIN, no RST,
    nothing (a host that died, a cut network)."""

    def __init__(self, target: str) -> None:
        self.host, port = target.rsplit(":", 1)
        self.port = int(port)
        self.frozen = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection(self.host, self.port)
        self.writers += [w, uw]
        await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w))

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while not self.frozen.is_set():
            data = await r.read(65536)
            if not data or self.frozen.is_set():
                break
            w.write(data)
            await w.drain()
        await asyncio.Future()  # silent: the sockets stay open, nothing moves

    async def close(self) -> None:
        for w in self.writers:
            w.transport.abort()
        if self.server is not None:
            self.server.close()


async def test_a_caller_that_vanishes_without_closing_loses_its_polls_by_keepalive(
    env: Env,
) -> None:
    """The caller's host goes silent (no FIN): the proxy's pings find it out and its
    upstream poll ends after about 1.5 keepalive periods, not at the poll's 70 s deadline."""
    proxy = ProxyServer(
        policy=Policy.from_dict(env.policy_data),
        routes=env.routes,
        upstream=Upstream(address=env.dev.address, connections=1),
        peer_keepalive_seconds=1.0,
    )
    await proxy.start()
    relay = _Relay(proxy.address)
    ch = grpc.aio.insecure_channel(await relay.start())
    tq = f"pc-{uuid.uuid4().hex[:8]}"

    def in_flight() -> float:
        v = proxy.metrics.registry.get_sample_value(
            "paved_proxy_long_polls_in_flight", {"method": WORKFLOW.method}
        )
        return v or 0.0

    try:
        call = ch.unary_unary(WORKFLOW.path)(
            WORKFLOW.poll_request(env.alpha, tq, "vanishing"),
            metadata=[("authorization", f"Bearer {env.keys['worker']}")],
            timeout=70,
        )
        deadline = time.monotonic() + 10
        while in_flight() < 1:
            assert time.monotonic() < deadline, "the poll never reached the proxy"
            await asyncio.sleep(0.05)
        relay.frozen.set()
        t0 = time.monotonic()
        while in_flight() > 0:
            assert time.monotonic() - t0 < 10, "the proxy kept the vanished caller's poll"
            await asyncio.sleep(0.05)
        print(f"vanished caller: upstream poll ended after {time.monotonic() - t0:.2f}s")
        call.cancel()
    finally:
        await relay.close()
        await ch.close()
        await proxy.stop()
