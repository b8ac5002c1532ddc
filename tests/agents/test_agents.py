"""Agent sessions against the real dev server, offline: placement, both frameworks, continue-as-new, SSE.

The example's workers run in this process (``harness``), the model is the
example's scripted offline model, approvals here take their deadline's declared
path (the proxy-authorized approvals are in ``test_approvals.py``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from temporalio.client import Client, WorkflowExecutionStatus

from paved import agents
from paved.dev import DevServer, ensure_namespaces, free_port
from tests.agents import harness

ALL = ["research", "research-tools", "llm", "research-pydantic", "llm-pydantic"]


@pytest.fixture(scope="module")
async def example(
    dev_server: DevServer, client: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, Client]]:
    """The example's workers, once for the module, on a namespace of their own."""
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    await ensure_namespaces(client, [namespace])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RESEARCH_REPORTS_DIR", str(tmp_path_factory.mktemp("reports")))
        async with harness.workers(dev_server.address, namespace, ALL) as clients:
            yield clients


def scheduled(events: Any) -> list[tuple[str, str]]:
    out = []
    for e in events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            a = e.activity_task_scheduled_event_attributes
            out.append((a.activity_type.name, a.task_queue.name))
    return out


async def start(client: Client, flavour: str, **kw: Any) -> Any:
    from research.models import SessionInput
    from research.pydantic_session import ResearchSessionPydantic
    from research.session import ResearchSession

    wf = ResearchSession if flavour == "research" else ResearchSessionPydantic
    inp = SessionInput(
        session=f"s-{uuid.uuid4().hex[:6]}",
        close_when_idle=True,
        approval_timeout_seconds=0.2,
        **kw,
    )
    return await client.start_workflow(
        wf.run, inp, id=f"research-{inp.session}", task_queue=f"{flavour}-workflows"
    )


@pytest.mark.parametrize("flavour", ["research", "research-pydantic"])
async def test_two_tool_calls_as_separate_activities_on_declared_queues(
    example: dict[str, Client], flavour: str, tmp_path: Path
) -> None:
    """OpenAI Agents SDK and Pydantic AI: each model call and each tool call is its own
    activity, model calls on the llm worker's queue, tools on the tools worker's."""
    h = await start(
        example[flavour], flavour, questions=["what do providers answer past their rate limit?"]
    )
    result = await h.result()
    assert result.answered == 1
    report = Path(result.reports[0]).read_text()
    assert "Retry-After" in report  # the read tool's document reached the model's answer
    acts = scheduled((await h.fetch_history()).events)
    llm_queue = "llm-activities" if flavour == "research" else "llm-pydantic-activities"
    tools_queue = (
        "research-tools-activities" if flavour == "research" else "research-pydantic-activities"
    )
    model_calls = [a for a in acts if a[1] == llm_queue]
    tool_calls = [
        a for a in acts if a[1] == tools_queue and a[0] not in ("store_report", "send_report")
    ]
    assert len(model_calls) == 3, acts  # search? -> read? -> report
    assert len(tool_calls) == 2, acts  # search, read
    if flavour == "research":
        # streamed model calls; their tokens reached the progress log as they came
        assert {n for n, _ in model_calls} == {"invoke_model_activity_streaming"}
        events = [e async for e in agents.poll_events(example[flavour], h.id)]
        tokens = [e.data["delta"] for e in events if e.event == "tokens" and "delta" in e.data]
        streamed = "".join(tokens)
        assert len(tokens) > 10 and streamed.startswith("Report (offline model)")
        assert streamed in report  # the whole answer, token by token, in order
        assert [n for n, _ in tool_calls] == ["search", "read"]
    else:
        assert {n for n, _ in model_calls} == {"agent__researcher__model_request"}
        assert {n for n, _ in tool_calls} == {"agent__researcher__toolset__<agent>__call_tool"}
    # the history replays deterministically with the same plugins and converter (the
    # replay guardrail's precondition for agent workflows)
    await replay(h, flavour)
    # the deadline passed without an approver: declared path (reject), report stored, not sent
    assert ("send_report", "research-tools-activities") not in acts
    assert ("store_report", "research-tools-activities") in acts


async def replay(h: Any, flavour: str) -> None:
    from research.pydantic_session import ResearchSessionPydantic
    from research.session import ResearchSession
    from temporalio.worker import Replayer

    wf = ResearchSession if flavour == "research" else ResearchSessionPydantic
    setup = agents.replayer_setup("research", flavour, None)
    assert setup.data_converter is not None
    replayer = Replayer(
        workflows=[wf],
        plugins=setup.plugins,
        data_converter=setup.data_converter,
        workflow_runner=harness.runner(),
    )
    result = await replayer.replay_workflow(await h.fetch_history(), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_agent_histories_in_the_replay_corpus(
    example: dict[str, Client], tmp_path: Path
) -> None:
    """Both flavours' histories, pulled into an encrypted corpus by ``paved.checks``, replay
    against the current code with their framework's plugins (each replayed per worker)."""
    from research.pydantic_session import ResearchSessionPydantic
    from research.session import ResearchSession

    from paved import checks, codec

    for flavour in ("research", "research-pydantic"):
        h = await start(example[flavour], flavour, questions=["rate limits"])
        await h.result()
    ring = codec.KeyRing.in_memory()
    corpus = tmp_path / "replay"
    stats = await checks.pull(
        example["research"],
        corpus,
        namespace="research",
        workflow_types=["ResearchSession", "ResearchSessionPydantic"],
        ring=ring,
    )
    entries = list(checks.iter_corpus(corpus))
    assert {e.workflow_type for e in entries} == {"ResearchSession", "ResearchSessionPydantic"}
    outcomes = await checks.replay_entries(
        entries, [ResearchSession, ResearchSessionPydantic], ring=ring, passthrough=("research",)
    )
    assert outcomes and all(o.ok for o in outcomes), [(o.divergence, o.error) for o in outcomes]
    del stats


async def test_model_tier_and_queue_reach_the_activity(example: dict[str, Client]) -> None:
    """The llm tier's timeouts and retry policy are what the server schedules."""
    h = await start(example["research"], "research", questions=["streaming"])
    await h.result()
    for e in (await h.fetch_history()).events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            a = e.activity_task_scheduled_event_attributes
            if a.activity_type.name.startswith("invoke_model_activity"):
                tier = agents.MODEL_TIERS[1]
                assert a.start_to_close_timeout.ToTimedelta() == tier.start_to_close
                assert a.retry_policy.maximum_interval.ToTimedelta() == tier.retry.maximum_interval
                assert a.heartbeat_timeout.ToTimedelta().total_seconds() > 0
                return
    raise AssertionError("no model call scheduled")


async def test_long_conversation_continues_as_new_with_state(example: dict[str, Client]) -> None:
    """One question per run: three runs, the conversation and the event log carried over."""
    questions = ["rate limits", "human approval", "continue-as-new"]
    h = await start(example["research"], "research", questions=questions, max_turns_per_run=1)
    result = await h.result()
    assert result.answered == 3
    assert result.questions == questions
    # each turn adds user + 2 tool calls + 2 tool outputs + message (and more); all carried
    assert result.history_items >= 3 * 6
    first = (
        await example["research"]
        .get_workflow_handle(h.id, run_id=h.first_execution_run_id)
        .describe()
    )
    assert first.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    events = [e async for e in agents.poll_events(example["research"], h.id)]
    assert [e.id for e in events] == list(range(len(events)))
    kinds = [e.event for e in events]
    assert kinds.count("continue_as_new") == 2
    assert kinds.count("report_stored") == 3
    assert kinds[-1] == "session_end"


async def test_sse_delivers_every_event_once_across_a_reconnect(example: dict[str, Client]) -> None:
    """A browser that drops the connection mid-run and reconnects with Last-Event-ID
    sees every event exactly once, in order."""
    client = example["research"]
    h = await start(client, "research", questions=["rate limits", "streaming"])

    async def handler(request: web.Request) -> web.StreamResponse:
        return await agents.sse_response(
            request,
            client,
            request.match_info["wid"],
            poll_interval=__import__("datetime").timedelta(milliseconds=50),
        )

    app = web.Application()
    app.router.add_get("/events/{wid}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    got: list[tuple[int, str]] = []
    try:
        async with aiohttp.ClientSession() as http:
            # first connection: read a few events, then drop it
            async with http.get(f"http://127.0.0.1:{port}/events/{h.id}") as r:
                assert r.headers["Content-Type"] == "text/event-stream"
                async for frame in sse_frames(r):
                    got.append(frame)
                    if len(got) == 4:
                        break
            last = got[-1][0]
            async with http.get(
                f"http://127.0.0.1:{port}/events/{h.id}", headers={"Last-Event-ID": str(last)}
            ) as r:
                async for frame in sse_frames(r):
                    if frame[1] == "end":
                        break
                    got.append(frame)
    finally:
        await runner.cleanup()
    await h.result()
    ids = [i for i, _ in got]
    assert ids == list(range(len(ids)))  # no gap, no repeat
    full = [e async for e in agents.poll_events(client, h.id)]
    assert [(e.id, e.event) for e in full] == got


async def sse_frames(resp: aiohttp.ClientResponse) -> Any:
    """(id, event) of each SSE frame; the end frame has id -1."""
    ident, event = -1, ""
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("id: "):
            ident = int(line[4:])
        elif line.startswith("event: "):
            event = line[7:]
        elif line == "" and event:
            yield ident, event
            ident, event = -1, ""


async def test_retry_after_is_honoured_by_the_model_activity(example: dict[str, Client]) -> None:
    """A 429 with Retry-After: the next attempt waits that long (the integration's
    next_retry_delay), and the run still completes."""
    import httpx2 as httpx
    import openai
    from research.llm import offline_model, openai_agents

    base = offline_model()
    calls: list[float] = []

    class Limited(agents.ScriptedModel):
        async def get_response(self, *a: Any, **kw: Any) -> Any:
            calls.append(asyncio.get_running_loop().time())
            if len(calls) == 1:
                req = httpx.Request("POST", "https://api.openai.com/v1/responses")
                resp = httpx.Response(429, headers={"retry-after": "2"}, request=req)
                raise openai.RateLimitError("rate limited", response=resp, body=None)
            return await base.get_response(*a, **kw)

    openai_agents.use_model(Limited(base.script))
    try:
        h = await start(example["research"], "research", questions=["rate limits"])
        await h.result()
    finally:
        openai_agents.use_model(offline_model())
    assert calls[1] - calls[0] >= 1.9
