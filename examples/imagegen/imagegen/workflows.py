"""``GenerateImage``: moderate the prompt, render it on a GPU, store it; report progress.

The front end starts one workflow per request (id ``img-<key>``) and answers at
once; the workflow then takes as long as the GPU fleet needs. Every step is an
activity with Paved's tier defaults plus the overrides below, so a crashed
worker, a GPU answering 429, or a restarted Temporal server delay a request but
never lose or duplicate it. A prompt that fails moderation ends the workflow
with ``status="rejected"``: it is an answer, not a failure. A user who changes
their mind sends the ``cancel_request(reason)`` signal: the request stops at its
next step and the workflow fails with the reason (a ``RequestCancelled`` error).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import paved
    from imagegen.activities import moderate_prompt, render_image, store_image
    from imagegen.models import ImageRequest, ImageResult, Progress, RenderInput, StoreInput

# Short steps get short timeouts: after a worker is killed, an attempt it held
# is retried once its timeout passes, so the timeout bounds the delay.
QUICK_STEP = timedelta(seconds=10)
# The GPU step: generous start-to-close, a short heartbeat timeout to detect a
# dead worker, and a retry policy with no attempt limit and a small ceiling, so
# a burst far above capacity drains instead of being given up on.
RENDER_TIMEOUT = timedelta(minutes=2)
RENDER_HEARTBEAT = timedelta(seconds=5)
RENDER_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    non_retryable_error_types=["GpuBadRequest"],
)


@paved.workflow(namespace="imagegen", worker="imagegen-worker")
class GenerateImage:
    def __init__(self) -> None:
        self._progress = Progress()
        self._cancel_reason: str | None = None

    def _stop_if_cancelled(self) -> None:
        if self._cancel_reason is not None:
            raise ApplicationError(
                f"request cancelled: {self._cancel_reason}",
                type="RequestCancelled",
                non_retryable=True,
            )

    @workflow.run
    async def run(self, req: ImageRequest) -> ImageResult:
        wid = workflow.info().workflow_id
        self._stop_if_cancelled()
        self._progress = Progress(stage="moderating")
        verdict = await paved.execute_activity(
            moderate_prompt, req.prompt, start_to_close_timeout=QUICK_STEP
        )
        self._stop_if_cancelled()
        if not verdict.allowed:
            self._progress = Progress(stage="rejected", detail=verdict.reason)
            return ImageResult(status="rejected", workflow_id=wid, reason=verdict.reason)

        self._progress = Progress(stage="rendering", detail="waiting for a GPU")
        image = await paved.execute_activity(
            render_image,
            RenderInput(request_id=wid, prompt=req.prompt, size=req.size, seed=req.seed),
            start_to_close_timeout=RENDER_TIMEOUT,
            heartbeat_timeout=RENDER_HEARTBEAT,
            retry_policy=RENDER_RETRY,
        )

        self._stop_if_cancelled()
        self._progress = Progress(stage="storing", render_attempts=image.attempt)
        stored = await paved.execute_activity(
            store_image,
            StoreInput(key=wid, image=image, user=req.user),
            start_to_close_timeout=QUICK_STEP,
        )
        self._progress = Progress(
            stage="done", detail=f"stored as {stored.key}", render_attempts=image.attempt
        )
        return ImageResult(
            status="done",
            workflow_id=wid,
            blob_key=stored.key,
            sha256=stored.sha256,
            bytes=stored.bytes,
            width=image.width,
            height=image.height,
        )

    @workflow.signal
    def cancel_request(self, reason: str) -> None:
        """Stop at the next step (an image already stored stays stored)."""
        self._cancel_reason = reason
        self._progress = Progress(stage="cancelled", detail=reason)

    @workflow.query
    def progress(self) -> Progress:
        """Where this request is: queued, moderating, rendering, storing, done or rejected."""
        return self._progress
