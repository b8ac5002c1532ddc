"""Workflows for the observability tests: healthy ones and each kind of stuck."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import paved

FAST_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=100), maximum_interval=timedelta(milliseconds=500)
)


@paved.activity(namespace="obs", worker="obs-worker")
async def obs_greet(name: str) -> str:
    activity.logger.info("greeting %s", name)
    return f"hello {name}"


@paved.activity(namespace="obs", worker="obs-worker")
async def always_fails(name: str) -> str:
    raise ApplicationError(f"the flaky service refused {name}", type="FlakyServiceError")


@paved.workflow(namespace="obs", worker="obs-worker")
class Greet:
    @workflow.run
    async def run(self, name: str) -> str:
        workflow.logger.info("greeting workflow for %s", name)
        return await paved.execute_activity(
            obs_greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


@paved.workflow(namespace="obs", worker="obs-worker")
class BadTask:
    """A bug in workflow code: the workflow task fails on every attempt."""

    @workflow.run
    async def run(self, name: str) -> str:
        raise RuntimeError(f"bug in workflow code for {name}")


@paved.workflow(namespace="obs", worker="obs-worker")
class RetryForever:
    """An activity that fails forever under an unlimited retry policy."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await paved.execute_activity(
            always_fails, name, start_to_close_timeout=timedelta(seconds=5), retry_policy=FAST_RETRY
        )


@paved.workflow(namespace="obs", worker="obs-worker")
class Rejects:
    """Fails the workflow itself (a business failure, not stuck)."""

    @workflow.run
    async def run(self, name: str) -> str:
        raise ApplicationError(f"rejected {name}", type="Rejected", non_retryable=True)


@paved.workflow(namespace="obs", worker="obs-slow")
class Sleepy:
    """Usually done in a blink; a run asked to sleep long is overdue for its type."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "awake"


@paved.activity(namespace="obs", worker="obs-worker")
async def heartbeat_then_silent(seconds: float) -> str:
    """Heartbeats once, then hangs without heartbeating (a stuck call to a dependency)."""
    activity.heartbeat("started")
    await asyncio.sleep(seconds)
    return "done"


@paved.workflow(namespace="obs", worker="obs-worker")
class SilentHeartbeat:
    """Its activity's last heartbeat goes stale long before its heartbeat timeout."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        return await paved.execute_activity(
            heartbeat_then_silent,
            seconds,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(minutes=5),
        )


@paved.workflow(namespace="obs", worker="obs-worker")
class WrongActivityQueue:
    """Sends its activity to a typo'd task queue that no worker polls."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            "obs_greet",
            name,
            task_queue="obs-worker-activity",  # the real one is obs-worker-activities
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
