"""Progress events from a running agent to a browser: a durable log, read as Server-Sent Events.

Workflow side, :class:`Progress` is temporalio's ``WorkflowStream`` (the
Workflow Streams contrib: an offset-addressed, deduplicated log of batched
events) with one topic, ``progress``. Events the workflow emits cost no history
(the log is rebuilt on replay); events published from activities (for example
the OpenAI integration's token stream) arrive as one Signal per batch. On
continue-as-new the log travels in :meth:`Progress.state`, truncated to the
last ``retain`` events so a long conversation does not grow without bound.

Reader side, :func:`sse_stream` polls the stream's *query* (not its long-poll
Update, which would add history events for every read of every viewer), turns
each item into an SSE frame whose ``id`` is the item's global offset, and
resumes after a reconnect from ``Last-Event-ID`` + 1: offsets never repeat or
skip, across continue-as-new too. :func:`sse_response` is the aiohttp handler
body. Authorization is the caller's: pass its ``rpc_metadata`` (its bearer
token) and the Paved proxy checks the ``read`` role on every poll.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.workflow_streams import (
    PollInput,
    PollResult,
    WorkflowStream,
    WorkflowStreamState,
)
from temporalio.service import RPCError

PROGRESS_TOPIC = "progress"
POLL_QUERY = "__temporal_workflow_stream_poll"


@dataclass
class ProgressEvent:
    """One event: ``kind`` (``model_call``, ``tool_start``, ``token``...) and its fields."""

    kind: str
    data: dict[str, Any]


class Progress:
    """A workflow's progress log; construct it in the workflow's ``__init__``.

    Args:
        prior: the state a previous run carried through continue-as-new.
        retain: how many past events a continued run keeps for reconnecting readers.
    """

    def __init__(self, prior: WorkflowStreamState | None = None, *, retain: int = 1000) -> None:
        # WorkflowStream insists on being built from a method named __init__: this one.
        self.stream = WorkflowStream(prior_state=prior)
        self.retain = retain
        self._topic = self.stream.topic(PROGRESS_TOPIC)
        self._count = (prior.base_offset + len(prior.log)) if prior else 0

    def emit(self, kind: str, **data: Any) -> None:
        """Append one event (JSON-able fields). Deterministic; costs no history event."""
        self._topic.publish({"kind": kind, **data})
        self._count += 1

    @property
    def offset(self) -> int:
        """The offset the next event will get."""
        return self._count

    def state(self) -> WorkflowStreamState:
        """Truncate to the last ``retain`` events and return the state for continue-as-new."""
        self.stream.truncate(max(0, self._count - self.retain))
        return self.stream.get_state()

    def detach(self) -> None:
        """Release long-poll readers before continue-as-new (query readers need nothing)."""
        self.stream.detach_pollers()


def _wire_payload(data: str) -> Payload:
    """A stream item's payload (the wire form is base64 of the serialized Payload)."""
    payload = Payload()
    payload.ParseFromString(base64.b64decode(data))
    return payload


@dataclass(frozen=True)
class SSEEvent:
    id: int
    event: str
    data: Any

    def frame(self) -> bytes:
        body = json.dumps(self.data, separators=(",", ":"), default=str)
        return f"id: {self.id}\nevent: {self.event}\ndata: {body}\n\n".encode()


async def poll_events(
    client: Client,
    workflow_id: str,
    *,
    last_event_id: int | None = None,
    rpc_metadata: Mapping[str, str] | None = None,
    poll_interval: timedelta = timedelta(milliseconds=100),
    status_interval: timedelta = timedelta(seconds=1),
) -> AsyncIterator[SSEEvent]:
    """Every progress event of ``workflow_id`` after ``last_event_id``, in order, once;
    ends when the workflow has closed (completed, failed...) and its log is drained."""
    md = dict(rpc_metadata or {})
    offset = 0 if last_event_id is None else last_event_id + 1
    converter = client.data_converter.payload_converter
    handle = client.get_workflow_handle(workflow_id)
    last_status = 0.0
    closed = False
    while True:
        result: PollResult = await handle.query(
            POLL_QUERY,
            PollInput(topics=[], from_offset=offset),
            result_type=PollResult,
            rpc_metadata=md,
        )
        for item in result.items:
            if item.offset < offset:  # a truncated prefix re-sent: never deliver twice
                continue
            value = converter.from_payload(_wire_payload(item.data))
            kind = value.get("kind", item.topic) if isinstance(value, dict) else item.topic
            yield SSEEvent(item.offset, str(kind), value)
            offset = item.offset + 1
        offset = max(offset, result.next_offset)
        if result.more_ready:
            continue
        if closed:
            return
        now = time.monotonic()
        if now - last_status >= status_interval.total_seconds():
            last_status = now
            desc = await handle.describe(rpc_metadata=md)
            if desc.status not in (
                WorkflowExecutionStatus.RUNNING,
                WorkflowExecutionStatus.CONTINUED_AS_NEW,
            ):
                closed = True  # one more poll drains what the last run wrote
                continue
        await asyncio.sleep(poll_interval.total_seconds())


async def sse_response(
    request: Any,
    client: Client,
    workflow_id: str,
    *,
    rpc_metadata: Mapping[str, str] | None = None,
    poll_interval: timedelta = timedelta(milliseconds=100),
    keepalive: timedelta = timedelta(seconds=15),
) -> Any:
    """Serve ``workflow_id``'s progress as ``text/event-stream`` on aiohttp ``request``.

    Honours ``Last-Event-ID`` (header, or ``?last_event_id=`` for clients that
    cannot set headers). A Temporal error before the first byte (the proxy's
    PERMISSION_DENIED, an unknown workflow) answers 403/404 instead of a stream.
    """
    from aiohttp import web

    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    try:
        last = int(raw) if raw not in (None, "") else None
    except ValueError:
        raise web.HTTPBadRequest(text=f"Last-Event-ID must be an integer, got {raw!r}") from None
    events = poll_events(
        client,
        workflow_id,
        last_event_id=last,
        rpc_metadata=rpc_metadata,
        poll_interval=poll_interval,
    )
    try:
        first = await anext(events)
    except StopAsyncIteration:
        first = None
    except RPCError as e:
        status = {7: 403, 16: 401, 5: 404}.get(int(e.status or 0), 502)
        return web.Response(status=status, text=f"{e.message}\n")
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await resp.prepare(request)
    # A reader that goes away resumes with Last-Event-ID: nothing to report.
    with contextlib.suppress(ConnectionResetError):
        await _pump(resp, first, events, keepalive)
    return resp


async def _pump(
    resp: Any, first: SSEEvent | None, events: AsyncIterator[SSEEvent], keepalive: timedelta
) -> None:
    """Write ``first`` and the rest of ``events``, keepalive comments in quiet spells."""
    if first is None:
        await resp.write(b"event: end\ndata: {}\n\n")
        return
    await resp.write(first.frame())
    queue: asyncio.Queue[SSEEvent | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for ev in events:
                await queue.put(ev)
        finally:
            await queue.put(None)

    task = asyncio.create_task(pump())
    try:
        while True:
            try:
                ev = await asyncio.wait_for(queue.get(), timeout=keepalive.total_seconds())
            except TimeoutError:
                await resp.write(b": keepalive\n\n")
                continue
            if ev is None:
                break
            await resp.write(ev.frame())
        if task.done() and task.exception() is not None:
            return  # the stream broke (the caller lost access, Temporal is gone): no end frame
        await resp.write(b"event: end\ndata: {}\n\n")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
