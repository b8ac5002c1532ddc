"""The plain side: the same one-activity workflow with temporalio's own decorators."""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench-echo")
async def echo(x: int, ms: int) -> int:
    if ms:
        await asyncio.sleep(ms / 1000)
    return x + 1


@workflow.defn(name="bench-one-activity")
class OneActivity:
    @workflow.run
    async def run(self, x: int, ms: int) -> int:
        return await workflow.execute_activity(
            echo, args=[x, ms], start_to_close_timeout=timedelta(minutes=10)
        )
