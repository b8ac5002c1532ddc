"""Heartbeats for long tools: a dead worker is noticed in seconds, not at the timeout.

A tool that reads a large document or waits on a slow service can take
minutes. With a ``heartbeat_timeout`` on its activity (``agents.tool(fn,
heartbeat_timeout=...)``) Temporal retries it elsewhere as soon as heartbeats
stop; :func:`heartbeating` sends them in the background at a third of the
timeout, so the tool's code need not call ``activity.heartbeat()`` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from temporalio import activity

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def heartbeating(fn: F) -> F:
    """Decorate an ``async def`` activity (under ``@paved.activity``) to heartbeat while it runs."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        timeout = activity.info().heartbeat_timeout
        if not timeout:
            return await fn(*args, **kwargs)
        interval = max(0.05, timeout.total_seconds() / 3)

        async def beat() -> None:
            while True:
                activity.heartbeat()
                await asyncio.sleep(interval)

        task = asyncio.create_task(beat())
        try:
            return await fn(*args, **kwargs)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return cast(F, wrapper)
