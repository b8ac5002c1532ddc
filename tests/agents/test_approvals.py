"""Human approval and the progress stream through a real Paved proxy (policy, encryption).

Principals: ``svc`` (the workers: read, write, worker), ``viewer`` (read, write:
may ask and watch, may not approve), ``boss`` (read, write, approve), ``outsider``
(no role on ``research``). The proxy decides every call; the workflow records
who approved and when, and the history keeps it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowUpdateInput,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from paved import agents, codec
from paved.auth import Policy, new_api_key
from paved.dev import DevServer, ensure_namespaces, free_port
from paved.proxy import ProxyServer, Upstream
from paved.specs import Route, Routes
from tests.agents import harness

TEAMS = {
    "svc": ["read", "write", "worker"],
    "viewer": ["read", "write"],
    "boss": ["read", "write", "approve"],
    "outsider": [],
}


@dataclass
class Stack:
    proxy: ProxyServer
    keys: dict[str, str]
    clients: dict[str, Client]

    async def client(self, who: str) -> Client:
        return await harness.connect(self.proxy.address, "research", "research", self.keys[who])


@pytest.fixture(scope="module")
async def stack(
    dev_server: DevServer, client: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """A proxy with the policy above, and the example's workers through it (once per module)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("RESEARCH_REPORTS_DIR", str(tmp_path_factory.mktemp("reports")))
    physical = f"research-{uuid.uuid4().hex[:8]}"
    await ensure_namespaces(client, [physical])
    keys, principals = {}, []
    for name in TEAMS:
        key, entry = new_api_key(f"{name}-key")
        keys[name] = key
        principals.append(
            {
                "name": name,
                "team": name,
                "region": "local",
                "environment": "dev",
                "api_keys": [entry],
            }
        )
    policy = {
        "teams": {
            n: {"namespaces": {"research": r} if r else {"elsewhere": ["read"]}}
            for n, r in TEAMS.items()
        },
        "principals": principals,
    }
    proxy = ProxyServer(
        policy=Policy.from_dict(policy),
        routes=Routes([Route("research", physical, "local", "dev")]),
        upstream=Upstream(address=dev_server.address, connections=2),
        keyring=codec.KeyRing.in_memory(),
    )
    await proxy.start()
    try:
        async with harness.workers(
            proxy.address, "research", ["research", "research-tools", "llm"], keys["svc"]
        ) as clients:
            yield Stack(proxy, keys, clients)
    finally:
        await proxy.stop()
        mp.undo()


async def start_session(c: Client, **kw: Any) -> Any:
    from research.models import SessionInput
    from research.session import ResearchSession

    inp = SessionInput(
        session=f"a-{uuid.uuid4().hex[:6]}", questions=["rate limits"], close_when_idle=True, **kw
    )
    return await c.start_workflow(
        ResearchSession.run, inp, id=f"research-{inp.session}", task_queue="research-workflows"
    )


async def wait_pending(h: Any) -> str:
    for _ in range(400):
        state = await h.query(agents.APPROVALS_QUERY, result_type=agents.ApprovalsState)
        if state.pending:
            return str(state.pending[0].action)
        await asyncio.sleep(0.05)
    raise AssertionError("no approval became pending")


async def test_only_a_principal_with_the_approve_role_can_approve(stack: Stack) -> None:
    viewer, boss = await stack.client("viewer"), await stack.client("boss")
    h = await start_session(viewer, approval_timeout_seconds=120)
    action = await wait_pending(h)

    with pytest.raises(RPCError) as denied:
        await agents.send_approval(viewer, h.id, action)
    assert denied.value.status == RPCStatusCode.PERMISSION_DENIED
    assert "approve" in denied.value.message

    decision = await agents.send_approval(boss, h.id, action, reason="looks right")
    assert (decision.outcome, decision.by, decision.approved) == ("approved", "boss", True)
    result = await h.result()
    assert result.answered == 1
    sent = Path(result.reports[0]).parent / "sent" / Path(result.reports[0]).name
    assert "(approved by boss)" in sent.read_text()

    # the audit trail: the accepted Update names the principal (stamped by the proxy),
    # its completion holds the decision with the workflow time it was made
    history = await h.fetch_history()
    accepted = [
        e.workflow_execution_update_accepted_event_attributes
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    approvals = [a for a in accepted if a.accepted_request.input.name == agents.APPROVAL_UPDATE]
    assert len(approvals) == 1  # the refused attempt never reached the history
    header = approvals[0].accepted_request.input.header.fields[agents.PRINCIPAL_HEADER]
    assert json.loads(header.data) == "boss"
    state = await h.query(agents.APPROVALS_QUERY, result_type=agents.ApprovalsState)
    assert [(d.by, d.outcome) for d in state.decisions] == [("boss", "approved")]


class _Forger(Interceptor):
    """A client that writes ``paved-principal: ceo`` into every Update it sends."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        class Out(OutboundInterceptor):
            async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
                input.headers = {
                    **input.headers,
                    agents.PRINCIPAL_HEADER: Payload(
                        metadata={"encoding": b"json/plain"}, data=b'"ceo"'
                    ),
                }
                return await super().start_workflow_update(input)

        return Out(next)


async def test_a_client_cannot_claim_to_be_someone_else(stack: Stack) -> None:
    """A principal header sent by the caller is replaced by the proxy with the real one."""
    boss = await stack.client("boss")
    cfg = boss.config()
    cfg["interceptors"] = [_Forger()]
    forger = Client(**cfg)
    h = await start_session(boss, approval_timeout_seconds=120)
    action = await wait_pending(h)
    decision = await agents.send_approval(forger, h.id, action, approve=False)
    assert (decision.by, decision.outcome) == ("boss", "rejected")
    await h.result()


async def test_missed_deadline_takes_the_declared_path(stack: Stack) -> None:
    viewer = await stack.client("viewer")
    rejected = await start_session(viewer, approval_timeout_seconds=0.5, on_timeout="reject")
    approved = await start_session(viewer, approval_timeout_seconds=0.5, on_timeout="approve")
    for h, expect_sent in ((rejected, False), (approved, True)):
        result = await h.result()
        state = await h.query(agents.APPROVALS_QUERY, result_type=agents.ApprovalsState)
        [d] = state.decisions
        assert (d.outcome, d.by, d.approved) == ("timed_out", "deadline", expect_sent)
        sent = Path(result.reports[0]).parent / "sent" / Path(result.reports[0]).name
        assert sent.exists() is expect_sent


async def test_front_end_asks_with_update_with_start_and_streams_only_to_readers(
    stack: Stack,
) -> None:
    """The stateless front end: update-with-start on a fixed id (twice: one session), SSE
    progress for a caller with read, 403 for one without; approval through it."""
    from research import frontend

    app_client = await stack.client("svc")
    runner = web.AppRunner(frontend.make_app(app_client))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}/sessions/fe-{uuid.uuid4().hex[:6]}"

    def bearer(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {stack.keys[who]}"}

    try:
        async with aiohttp.ClientSession() as http:
            for n, question in enumerate(["rate limits", "streaming"], start=1):
                async with http.post(
                    f"{base}/ask", json={"question": question}, headers=bearer("viewer")
                ) as r:
                    assert r.status == 202, await r.text()
                    body = await r.json()
                    assert body["turn"] == n
            wid = body["workflow_id"]
            async with http.get(f"{base}/events", headers=bearer("outsider")) as r:
                assert r.status == 403, await r.text()
            async with http.post(
                f"{base}/ask", json={"question": "x"}, headers=bearer("outsider")
            ) as r:
                assert r.status == 403
            seen: list[str] = []
            async with http.get(f"{base}/events", headers=bearer("viewer")) as r:
                assert r.status == 200
                async for raw in r.content:
                    line = raw.decode().strip()
                    if line.startswith("data: "):
                        ev = json.loads(line[6:])
                        seen.append(ev.get("kind", ""))
                        if ev.get("kind") == "approval_needed":
                            break
            assert seen[0] == "question" and seen.count("question") == 2, seen
            assert "tool_start" in seen
            async with http.post(
                f"{base}/approve", json={"action": "send-report-1"}, headers=bearer("viewer")
            ) as r:
                assert r.status == 403
            async with http.post(
                f"{base}/approve", json={"action": "send-report-1"}, headers=bearer("boss")
            ) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["by"] == "boss"
            async with http.post(
                f"{base}/approve", json={"action": "send-report-1"}, headers=bearer("boss")
            ) as r:
                assert r.status == 409  # already decided: the validator refuses
        # the second question: approve it too, then close the session and let it finish
        from research.models import SessionResult

        handle = app_client.get_workflow_handle(wid, result_type=SessionResult)
        boss = await stack.client("boss")
        await agents.send_approval(boss, wid, await wait_pending(handle))
        await handle.signal("close")
        result = await handle.result()
        assert (result.answered, result.questions) == (2, ["rate limits", "streaming"])
    finally:
        await runner.cleanup()
    _ = WorkflowUpdateFailedError
