"""Workflows and activities for the codec tests: one of each payload kind.

Kept out of the test modules so the workflow sandbox re-imports only this.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError


@activity.defn
async def echo_activity(text: str) -> str:
    """Input and result both carry the caller's text."""
    return f"activity saw {text}"


@activity.defn
async def size_activity(blob: str) -> int:
    return len(blob)


@workflow.defn
class EveryKindWorkflow:
    """Input, activity input/result, signal, query, update, result, failure."""

    def __init__(self) -> None:
        self.signals: list[str] = []
        self.released = False

    @workflow.run
    async def run(self, text: str) -> str:
        got = await workflow.execute_activity(
            echo_activity, text, start_to_close_timeout=timedelta(seconds=30)
        )
        await workflow.wait_condition(lambda: self.released)
        if text.startswith("fail:"):
            raise ApplicationError(f"workflow failed on {text}", non_retryable=True)
        return f"{got} | signals={self.signals}"

    @workflow.signal
    def note(self, value: str) -> None:
        self.signals.append(value)

    @workflow.query
    def seen(self, prefix: str) -> str:
        return f"{prefix} {self.signals}"

    @workflow.update
    async def release(self, value: str) -> str:
        self.released = True
        return f"released with {value}"


@workflow.defn
class SizeWorkflow:
    """Passes a (possibly large) input to an activity; returns its length."""

    @workflow.run
    async def run(self, blob: str) -> int:
        return await workflow.execute_activity(
            size_activity, blob, start_to_close_timeout=timedelta(seconds=60)
        )


@workflow.defn
class WaitWorkflow:
    """Starts, waits for a signal, then runs an activity: spans a key rotation."""

    def __init__(self) -> None:
        self.value: str | None = None

    @workflow.run
    async def run(self, text: str) -> str:
        await workflow.wait_condition(lambda: self.value is not None)
        return await workflow.execute_activity(
            echo_activity, f"{text}+{self.value}", start_to_close_timeout=timedelta(seconds=30)
        )

    @workflow.signal
    def go(self, value: str) -> None:
        self.value = value
