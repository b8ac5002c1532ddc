"""The research assistant's web front end: a tiny page, a JSON API, progress as SSE.

``python -m research.frontend --port 8710`` serves:

``GET /``                            the page: ask, watch progress, approve or reject.
``POST /sessions/{id}/ask``          ``{"question": ...}``: update-with-start on the fixed
                                     workflow id ``research-<id>`` (starts the session or
                                     joins it); answers ``{workflow_id, turn}`` at once.
``GET /sessions/{id}/events``        progress as Server-Sent Events (``Last-Event-ID``).
``POST /sessions/{id}/approve``      ``{"action", "approve", "reason"}``: the approval Update.

The front end holds no policy and no session state: it forwards the caller's
credentials (``Authorization: Bearer <key>``, or ``?token=`` for the page's
EventSource, which cannot set headers) on every Temporal call, and the Paved
proxy decides: ``write`` to ask, ``read`` to watch, ``approve`` to approve.
Without a caller token it uses its own (``PAVED_API_KEY``), for local use.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from aiohttp import web
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

import paved
from paved import agents
from research.models import SessionInput
from research.session import ResearchSession

CLIENT = web.AppKey("client", Client)
PAGE = Path(__file__).resolve().parent / "page.html"
STATUS = {7: 403, 16: 401, 5: 404, 3: 400}


def caller(request: web.Request) -> dict[str, str]:
    """The caller's credentials, forwarded to the proxy on each call."""
    auth = request.headers.get("Authorization")
    if not auth and request.query.get("token"):
        auth = f"Bearer {request.query['token']}"
    return {"authorization": auth} if auth else {}


def workflow_id(request: web.Request) -> str:
    sid = request.match_info["sid"]
    if not sid.replace("-", "").isalnum() or len(sid) > 80:
        raise web.HTTPBadRequest(text="session id: letters, digits and '-' only")
    return f"research-{sid}"


def rpc_error(e: RPCError) -> web.Response:
    return web.json_response({"error": e.message}, status=STATUS.get(int(e.status or 0), 502))


async def ask(request: web.Request) -> web.Response:
    body = await request.json()
    question = str(body.get("question", "")).strip()
    if not question:
        raise web.HTTPBadRequest(text="question is required")
    client = request.app[CLIENT]
    wid = workflow_id(request)
    start = WithStartWorkflowOperation(
        ResearchSession.run,
        SessionInput(session=request.match_info["sid"]),
        id=wid,
        task_queue=paved.placement_of(ResearchSession).task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    try:
        turn = await client.execute_update_with_start_workflow(
            ResearchSession.ask,
            question,
            start_workflow_operation=start,
            rpc_metadata=caller(request),
        )
    except RPCError as e:
        # the start half failed with the same error: collect it (no "never retrieved")
        with contextlib.suppress(Exception):
            await start.workflow_handle()
        return rpc_error(e)
    return web.json_response({"workflow_id": wid, "turn": turn}, status=202)


async def events(request: web.Request) -> web.StreamResponse:
    response: web.StreamResponse = await agents.sse_response(
        request, request.app[CLIENT], workflow_id(request), rpc_metadata=caller(request)
    )
    return response


async def approve(request: web.Request) -> web.Response:
    body = await request.json()
    try:
        decision = await agents.send_approval(
            request.app[CLIENT],
            workflow_id(request),
            str(body["action"]),
            approve=bool(body.get("approve", True)),
            reason=str(body.get("reason", "")),
            rpc_metadata=caller(request),
        )
    except RPCError as e:
        return rpc_error(e)
    except WorkflowUpdateFailedError as e:
        return web.json_response({"error": str(e.cause)}, status=409)
    return web.json_response(
        {"outcome": decision.outcome, "by": decision.by, "at": decision.at.isoformat()}
    )


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE.read_text(encoding="utf-8"), content_type="text/html")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def connect() -> Client:
    """The same payload converter and codec as the session's workers."""
    setup = agents.worker_setup("research", "research", paved.sdk.default_codec("research"))
    return await paved.connect("research", data_converter=setup.data_converter)


def make_app(client: Client) -> web.Application:
    app = web.Application()
    app[CLIENT] = client
    app.router.add_get("/", page)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/sessions/{sid}/ask", ask)
    app.router.add_get("/sessions/{sid}/events", events)
    app.router.add_post("/sessions/{sid}/approve", approve)
    return app


async def _app() -> web.Application:
    return make_app(await connect())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8710")))
    args = ap.parse_args(argv)
    web.run_app(_app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
