"""Counting activity failures that say "the dependency refuses" (HTTP 429 and kin).

The autoscaler holds instead of adding replicas while the dependency behind an
activity refuses work (more workers would hammer a GPU that is already at
capacity). The signal comes from here: an activity interceptor that counts, per
activity type, failures carrying a rate-limit marker, served on ``/metrics`` as
``paved_activity_refusals_total{worker,task_queue,activity_type}``.

The marker: an exception whose ``ApplicationError.type`` or class name names a
refusal (``*Busy``, ``RateLimit*``, ``Throttl*``, ``TooManyRequests``) or whose
message says ``429`` / ``rate limit`` / ``too many requests``. Raise for example
``ApplicationError("gpu busy (HTTP 429)", type="GpuBusy", next_retry_delay=...)``.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

MARKER = re.compile(r"(?i)busy|rate.?limit|throttl|too.?many.?requests|\b429\b")


def is_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` says the dependency refused for capacity (see the module docstring)."""
    kind = exc.type if isinstance(exc, ApplicationError) and exc.type else type(exc).__name__
    return bool(MARKER.search(kind) or MARKER.search(str(exc)))


class RefusalCounter(Interceptor):
    """Counts refusals per (task queue, activity type); one per worker process."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)

    def exposition(self, worker: str) -> str:
        lines = [
            "# HELP paved_activity_refusals_total Activity failures with a rate-limit marker "
            "(the dependency refused: 429, busy, throttled).",
            "# TYPE paved_activity_refusals_total counter",
        ]
        for (queue, kind), n in sorted(self.counts.items()):
            lines.append(
                f'paved_activity_refusals_total{{worker="{worker}",task_queue="{queue}",'
                f'activity_type="{kind}"}} {n}'
            )
        return "\n".join(lines) + "\n"


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, counter: RefusalCounter) -> None:
        super().__init__(next)
        self._counter = counter

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except Exception as e:
            if is_refusal(e):
                info = activity.info()
                self._counter.counts[(info.task_queue, info.activity_type)] += 1
            raise
