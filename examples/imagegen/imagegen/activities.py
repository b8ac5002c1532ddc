"""The example's activities: moderation, rendering on the GPU service, storage.

They are ordinary async functions with a placement: moderation and storage are
short steps on ``imagegen-worker``, the workflow's own worker, declared
``local=True``: they run inside the workflow's worker as local activities (no
activity task, fewer history events; Paved's local rule, docs/tiers.md);
rendering runs on ``imagegen-gpu``,
a worker whose slot count equals the GPU fleet's capacity (see ``paved.yaml``),
so the backlog of a burst waits in Temporal's task queue instead of hammering
the GPUs. Failures are raised, never swallowed: Temporal retries with backoff.

Configuration (environment, read on each call):
    IMAGEGEN_GPU_URL   the inference service, default http://127.0.0.1:8701
    IMAGEGEN_BLOB_DIR  the blob store directory, default <project>/.paved/images
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import time
from datetime import timedelta

import aiohttp
from temporalio import activity
from temporalio.exceptions import ApplicationError

import paved
from imagegen.blobstore import BlobStore
from imagegen.models import Moderation, RenderedImage, RenderInput, StoredImage, StoreInput

NAMESPACE = "imagegen"
DEFAULT_GPU_URL = "http://127.0.0.1:8701"
HEARTBEAT_EVERY = timedelta(seconds=1)

# A deliberately simple, deterministic rule: the point of the example is the
# workflow around it, not the classifier.
BLOCKLIST = frozenset({"gore", "violence", "weapon", "nsfw", "hate"})


def moderation_rule(prompt: str) -> Moderation:
    """Allow a prompt unless it contains a blocked word (also used by the sync baseline)."""
    words = {w.strip(".,;:!?\"'()").lower() for w in prompt.split()}
    hits = sorted(words & BLOCKLIST)
    if hits:
        return Moderation(allowed=False, reason=f"prompt violates the content policy ({hits[0]})")
    return Moderation(allowed=True)


@paved.activity(namespace=NAMESPACE, worker="imagegen-worker", local=True)
async def moderate_prompt(prompt: str) -> Moderation:
    """Check a prompt against the content policy."""
    return moderation_rule(prompt)


def gpu_url() -> str:
    return os.environ.get("IMAGEGEN_GPU_URL", DEFAULT_GPU_URL).rstrip("/")


async def _heartbeat_forever() -> None:
    # A render can take long on a real GPU; heartbeats let Temporal notice a
    # dead worker within the heartbeat timeout instead of the start-to-close one.
    # Sleep first: a render shorter than the interval costs no heartbeat RPC.
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY.total_seconds())
        activity.heartbeat()


@paved.activity(namespace=NAMESPACE, worker="imagegen-gpu")
async def render_image(inp: RenderInput) -> RenderedImage:
    """Render on the GPU service; raise on 429/503/5xx so that Temporal retries.

    A busy answer (429/503) carries ``Retry-After``: the next attempt waits that
    long plus jitter, so a fleet at capacity sees a spread-out retry wave, not a
    thundering herd. A 4xx other than 429 is the request's fault: no retry.
    """
    attempt = activity.info().attempt
    payload = {
        "request_id": inp.request_id,
        "prompt": inp.prompt,
        "size": inp.size,
        "seed": inp.seed,
    }
    beat = asyncio.create_task(_heartbeat_forever())
    t0 = time.perf_counter()
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
            session.post(f"{gpu_url()}/render", json=payload) as resp,
        ):
            if resp.status == 200:
                data = await resp.read()
                return RenderedImage(
                    png_b64=base64.b64encode(data).decode("ascii"),
                    width=inp.size,
                    height=inp.size,
                    gpu_ms=(time.perf_counter() - t0) * 1000,
                    attempt=attempt,
                )
            if resp.status in (429, 503):
                delay = _retry_after(resp.headers.get("Retry-After"))
                raise ApplicationError(
                    f"gpu service busy (HTTP {resp.status}), attempt {attempt}",
                    type="GpuBusy",
                    next_retry_delay=delay,
                )
            if resp.status >= 500:
                raise ApplicationError(
                    f"gpu service failed (HTTP {resp.status}), attempt {attempt}", type="GpuError"
                )
            raise ApplicationError(
                f"gpu service rejected the request (HTTP {resp.status})",
                type="GpuBadRequest",
                non_retryable=True,
            )
    except aiohttp.ClientError as e:
        raise ApplicationError(
            f"gpu service unreachable ({type(e).__name__}), attempt {attempt}",
            type="GpuUnreachable",
        ) from None
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat


def _retry_after(header: str | None) -> timedelta | None:
    """``Retry-After`` seconds, jittered to between half and the full value."""
    try:
        seconds = float(header) if header else 0.0
    except ValueError:
        return None
    if seconds <= 0:
        return None
    return timedelta(seconds=seconds * random.uniform(0.5, 1.0))


@paved.activity(namespace=NAMESPACE, worker="imagegen-worker", local=True)
async def store_image(inp: StoreInput) -> StoredImage:
    """Write the image to the blob store under ``inp.key`` (idempotent: a retry overwrites)."""
    data = base64.b64decode(inp.image.png_b64)
    blob = await asyncio.to_thread(BlobStore.from_env().put, inp.key, data)
    return StoredImage(key=blob.key, path=str(blob.path), sha256=blob.sha256, bytes=blob.size)
