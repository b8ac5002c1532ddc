"""The HTTP front end: accept image requests at once, let workflows do the work.

``python -m imagegen.frontend --port 8700`` serves:

``POST /images``            body ``ImageRequest``; journals the request in the
                            durable intake (``imagegen.intake``: on disk, then
                            202), which starts ``GenerateImage`` with id
                            ``img-<key>`` right after; answers **202**
                            ``{workflow_id, status_url}``. An ``Idempotency-Key``
                            header makes retries safe: the same key is the same
                            workflow, never a second image.
                            ``IMAGEGEN_INTAKE=off`` starts the workflow before
                            answering instead (503 while Temporal is down).
``GET /images/{id}``        status (``queued`` while journaled, not started yet),
                            progress (a workflow query) and, when finished, the
                            result.
``GET /images/{id}/png``    the stored image.
``POST /images/sync``       the synchronous baseline the example replaces: calls
                            the GPU service directly, once, and passes its answer
                            (429/503/500 included) back to the user.

Temporal is reached with ``paved.connect("imagegen")``: ``PAVED_ADDRESS``,
``PAVED_REGION``, ``PAVED_ENV``, ``PAVED_VIA_PROXY``, ``PAVED_API_KEY`` choose
the server and namespace, exactly as for the workers.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import ValidationError
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import paved
from imagegen.activities import gpu_url, moderation_rule
from imagegen.blobstore import BlobStore
from imagegen.intake import Intake
from imagegen.models import ImageRequest
from imagegen.workflows import GenerateImage

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_ID = re.compile(r"^img-[A-Za-z0-9_-]{1,100}$")
CLIENT = web.AppKey("client", Client)
BLOBS = web.AppKey("blobs", BlobStore)
SESSION = web.AppKey("session", aiohttp.ClientSession)
INTAKE = web.AppKey("intake", Intake)
QUERY_TIMEOUT = timedelta(seconds=5)


def _codec() -> Any:
    """The payload codec the managed workers use for this namespace (None when off).

    Client and workers must agree on it, or neither can read the other's payloads.
    """
    if os.environ.get("PAVED_CODEC", "on").lower() in ("off", "0", "false", "no"):
        return None
    from paved import codec

    root = Path(os.environ.get("PAVED_PROJECT") or PROJECT_ROOT)
    return codec.codec_for("imagegen", state_dir=root / ".paved")


async def connect() -> Client:
    """A lazy client: the front end starts (and answers 503) while Temporal is down."""
    return await paved.connect("imagegen", codec=_codec(), lazy=True)


def _unavailable(what: str) -> web.Response:
    return web.json_response(
        {"error": f"{what} unavailable, retry later"}, status=503, headers={"Retry-After": "1"}
    )


async def submit(request: web.Request) -> web.Response:
    try:
        req = ImageRequest.model_validate(await request.json())
    except (ValidationError, ValueError) as e:
        return web.json_response({"error": "invalid request", "detail": str(e)[:500]}, status=400)
    key = request.headers.get("Idempotency-Key") or uuid.uuid4().hex
    if not _KEY.match(key):
        return web.json_response(
            {"error": "Idempotency-Key must match [A-Za-z0-9_-]{1,100}"}, status=400
        )
    wid = f"img-{key}"
    intake = request.app.get(INTAKE)
    if intake is not None:
        # On disk before the 202; the intake starts the workflow right after.
        try:
            await intake.submit(wid, req.model_dump_json())
        except Exception:
            return _unavailable("request journal")
    else:
        try:
            await start(request.app[CLIENT], wid, req)
        except RPCError:
            return _unavailable("workflow service")
    return web.json_response(
        {"workflow_id": wid, "status_url": f"/images/{wid}"},
        status=202,
        headers={"Location": f"/images/{wid}"},
    )


async def start(client: Client, wid: str, req: ImageRequest) -> None:
    """Start the request's workflow; a repeated start of the same id is a no-op."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            GenerateImage.run,
            req,
            id=wid,
            task_queue=paved.placement_of(GenerateImage).task_queue,
            # Same key, same workflow: a retried POST (lost answer, restarted
            # server, a start the intake repeats) attaches to the running one or
            # finds the finished one.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )


async def status(request: web.Request) -> web.Response:
    wid = request.match_info["id"]
    if not _ID.match(wid):
        return web.json_response({"error": "unknown image id"}, status=404)
    intake = request.app.get(INTAKE)
    if intake is not None and wid in intake.pending:
        return web.json_response({"workflow_id": wid, "status": "queued"})
    handle = request.app[CLIENT].get_workflow_handle_for(GenerateImage.run, wid)
    try:
        desc = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            if intake is not None and wid in intake.pending:  # started meanwhile? not yet
                return web.json_response({"workflow_id": wid, "status": "queued"})
            return web.json_response({"error": "unknown image id"}, status=404)
        return _unavailable("workflow service")
    body: dict[str, Any] = {"workflow_id": wid}
    if desc.status == WorkflowExecutionStatus.RUNNING:
        body["status"] = "running"
        try:
            progress = await handle.query(GenerateImage.progress, rpc_timeout=QUERY_TIMEOUT)
            body["progress"] = progress.model_dump()
        except RPCError:
            body["progress"] = None  # no worker answered in time; the request is still safe
        return web.json_response(body)
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        result = await handle.result(rpc_timeout=QUERY_TIMEOUT)
        body["status"] = result.status
        body["result"] = result.model_dump()
        if result.blob_key:
            body["image_url"] = f"/images/{wid}/png"
        return web.json_response(body)
    # Failed, terminated, timed out or cancelled: the name says which.
    body["status"] = "failed"
    body["detail"] = desc.status.name.lower() if desc.status else "unknown"
    return web.json_response(body)


async def image(request: web.Request) -> web.Response:
    wid = request.match_info["id"]
    if not _ID.match(wid):
        return web.json_response({"error": "unknown image id"}, status=404)
    try:
        data = request.app[BLOBS].get(wid)
    except FileNotFoundError:
        return web.json_response({"error": "no image stored (yet)"}, status=404)
    return web.Response(body=data, content_type="image/png")


async def submit_sync(request: web.Request) -> web.Response:
    """The baseline: one synchronous call to the GPU, no queue, no retry."""
    try:
        req = ImageRequest.model_validate(await request.json())
    except (ValidationError, ValueError) as e:
        return web.json_response({"error": "invalid request", "detail": str(e)[:500]}, status=400)
    verdict = moderation_rule(req.prompt)
    if not verdict.allowed:
        return web.json_response({"status": "rejected", "reason": verdict.reason})
    key = f"sync-{uuid.uuid4().hex}"
    payload = {"request_id": key, "prompt": req.prompt, "size": req.size, "seed": req.seed}
    session: aiohttp.ClientSession = request.app[SESSION]
    try:
        async with session.post(f"{gpu_url()}/render", json=payload) as resp:
            if resp.status != 200:
                return web.json_response(
                    {"error": f"gpu service answered {resp.status}"}, status=resp.status
                )
            data = await resp.read()
    except aiohttp.ClientError:
        return _unavailable("gpu service")
    blob = request.app[BLOBS].put(key, data)
    return web.json_response(
        {
            "status": "done",
            "blob_key": key,
            "sha256": blob.sha256,
            "png_b64": base64.b64encode(data).decode(),
        }
    )


def intake_path(blobs: BlobStore) -> Path | None:
    """The intake journal: ``IMAGEGEN_INTAKE_DB``, else ``intake.db`` beside the blob
    directory; None when ``IMAGEGEN_INTAKE=off`` (start before answering)."""
    if os.environ.get("IMAGEGEN_INTAKE", "on").lower() in ("off", "0", "false", "no"):
        return None
    explicit = os.environ.get("IMAGEGEN_INTAKE_DB")
    return Path(explicit) if explicit else blobs.root.parent / "intake.db"


def make_app(
    client: Client, blobs: BlobStore | None = None, *, intake: Path | None = None
) -> web.Application:
    """The front end's aiohttp application, bound to a Temporal client (and an intake
    journal at ``intake``, when given)."""
    app = web.Application()
    app[CLIENT] = client
    app[BLOBS] = blobs or BlobStore.from_env()

    if intake is not None:

        async def intake_ctx(app: web.Application) -> Any:
            async def start_one(wid: str, body: str) -> None:
                await start(client, wid, ImageRequest.model_validate_json(body))

            async with Intake(intake, start_one) as journal:
                app[INTAKE] = journal
                yield

        app.cleanup_ctx.append(intake_ctx)

    async def session_ctx(app: web.Application) -> Any:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=60)
        ) as s:
            app[SESSION] = s
            yield

    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/images", submit)
    app.router.add_post("/images/sync", submit_sync)
    app.router.add_get("/images/{id}", status)
    app.router.add_get("/images/{id}/png", image)
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _app() -> web.Application:
    blobs = BlobStore.from_env()
    return make_app(await connect(), blobs, intake=intake_path(blobs))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m imagegen.frontend", description=__doc__.split("\n")[0]
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8700)
    a = p.parse_args(argv)
    web.run_app(_app(), host=a.host, port=a.port, print=None, backlog=2048)


if __name__ == "__main__":
    main()
