"""The image request of examples/imagegen on DBOS Transact: front end and workflows in one process.

Run by ``bench/bench_dbos.py`` (one process per side, as a DBOS user deploys it):

    python bench/dbos_app.py --port P --db sqlite:///F --gpu-url URL --capacity 8 --blob-dir D

Same shape as the Paved example: ``POST /images`` (``Idempotency-Key`` -> workflow id
``img-<key>``) starts ``generate_image`` and answers 202; the workflow moderates the
prompt (a step), renders on the GPU service through a queue of concurrency
``capacity`` (a child workflow per render, so the GPU never sees more than its
capacity; the render step retries faults with backoff from 200 ms), and stores the
PNG (a step). ``GET /results?prefix=`` lists the workflows of a run with their
status and times (DBOS's own ``list_workflows``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from dbos import DBOS, DBOSConfig, SetWorkflowID

BLOCKLIST = frozenset({"gore", "violence", "weapon", "nsfw", "hate"})
GPU: dict[str, Any] = {}


@DBOS.step()
async def moderate(prompt: str) -> bool:
    words = {w.strip(".,;:!?\"'()").lower() for w in prompt.split()}
    return not (words & BLOCKLIST)


@DBOS.step(retries_allowed=True, interval_seconds=0.2, backoff_rate=2.0, max_attempts=30)
async def render(req: dict[str, Any]) -> str:
    session: aiohttp.ClientSession = GPU["session"]
    async with session.post(f"{GPU['url']}/render", json=req) as r:
        if r.status != 200:
            raise RuntimeError(f"gpu service answered {r.status}")
        return base64.b64encode(await r.read()).decode()


@DBOS.workflow()
async def render_workflow(req: dict[str, Any]) -> str:
    return await render(req)


@DBOS.step()
async def store(key: str, png_b64: str) -> int:
    data = base64.b64decode(png_b64)
    path = Path(GPU["blob_dir"]) / f"{key}.png"
    tmp = path.with_suffix(".tmp")
    await asyncio.to_thread(tmp.write_bytes, data)
    await asyncio.to_thread(os.replace, tmp, path)
    return len(data)


@DBOS.workflow()
async def generate_image(req: dict[str, Any]) -> dict[str, Any]:
    if not await moderate(req["prompt"]):
        return {"status": "rejected"}
    handle = await GPU["queue"].enqueue_async(render_workflow, req)
    png = await handle.get_result()
    size = await store(DBOS.workflow_id or "", png)
    return {"status": "done", "bytes": size}


async def submit(request: web.Request) -> web.Response:
    body = await request.json()
    wid = f"img-{request.headers['Idempotency-Key']}"
    req = {
        "request_id": wid,
        "prompt": body["prompt"],
        "size": body.get("size", 64),
        "seed": body.get("seed", 0),
    }
    with SetWorkflowID(wid):
        await DBOS.start_workflow_async(generate_image, req)
    return web.json_response({"workflow_id": wid}, status=202)


async def results(request: web.Request) -> web.Response:
    rows = await DBOS.list_workflows_async(
        workflow_id_prefix=request.query["prefix"], name="generate_image", load_output=False
    )
    return web.json_response(
        [
            {
                "id": w.workflow_id,
                "status": w.status,
                "created": w.created_at,
                "updated": w.updated_at,
            }
            for w in rows
        ]
    )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument(
        "--db", required=True, help="system database URL (sqlite:///F, postgresql://...)"
    )
    ap.add_argument("--gpu-url", required=True)
    ap.add_argument("--capacity", type=int, default=8)
    ap.add_argument("--blob-dir", required=True)
    a = ap.parse_args()
    Path(a.blob_dir).mkdir(parents=True, exist_ok=True)
    config: DBOSConfig = {
        "name": "imagegen-dbos",
        "system_database_url": a.db,
        "log_level": "WARNING",
        "sys_db_pool_size": 40,
    }
    DBOS(config=config)
    GPU.update(url=a.gpu_url.rstrip("/"), blob_dir=a.blob_dir)

    async def startup(app: web.Application) -> None:
        GPU["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        DBOS.launch()
        # The GPU's capacity as a queue of that concurrency; polled every 100 ms
        # (DBOS's default is 1 s: tuned, as a team would for a latency-sensitive queue).
        GPU["queue"] = await DBOS.register_queue_async(
            "gpu", worker_concurrency=a.capacity, polling_interval_sec=0.1
        )

    app = web.Application()
    app.on_startup.append(startup)
    app.router.add_post("/images", submit)
    app.router.add_get("/results", results)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=a.port, print=None, backlog=2048)


if __name__ == "__main__":
    main()
