"""Workflows and activities the proxy tests run (only temporalio imports: the sandbox re-imports this module)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError


@activity.defn
async def shout(text: str) -> str:
    return text.upper() + "!"


@activity.defn
async def fail_with(message: str) -> str:
    raise ApplicationError(message, non_retryable=True)


@workflow.defn
class Echo:
    """One activity; returns its result. Waits for a signal when asked to."""

    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.run
    async def run(self, text: str, wait_signal: bool = False) -> str:
        if wait_signal:
            await workflow.wait_condition(lambda: bool(self.signals))
            text = text + "|" + self.signals[0]
        return await workflow.execute_activity(
            shout, text, start_to_close_timeout=timedelta(seconds=30)
        )

    @workflow.signal
    def note(self, value: str) -> None:
        self.signals.append(value)

    @workflow.query
    def seen(self) -> list[str]:
        return list(self.signals)

    @workflow.update
    def add(self, value: str) -> str:
        self.signals.append(value)
        return "added:" + value


@workflow.defn
class Failing:
    """Fails with the message given (through an activity failure)."""

    @workflow.run
    async def run(self, message: str) -> str:
        return await workflow.execute_activity(
            fail_with,
            message,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@workflow.defn
class Parent:
    """Starts a child workflow in the same namespace (namespace names in commands and events)."""

    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_child_workflow(
            Echo.run, args=[text, False], id=workflow.info().workflow_id + "-child"
        )


ALL_WORKFLOWS = [Echo, Failing, Parent]
ALL_ACTIVITIES = [shout, fail_with]
