"""The managed side: the same one-activity workflow, placed with Paved's decorators.

Split queues by default: ``wfbench-worker-workflows`` and ``wfbench-worker-activities``.
``ms`` > 0 makes the activity wait that long (an I/O-bound call, like a model API).
"""

import asyncio

from temporalio import workflow

import paved


@paved.activity(namespace="wfbench", worker="wfbench-worker", name="bench-echo")
async def echo(x: int, ms: int) -> int:
    if ms:
        await asyncio.sleep(ms / 1000)
    return x + 1


@paved.workflow(namespace="wfbench", worker="wfbench-worker", name="bench-one-activity")
class OneActivity:
    @workflow.run
    async def run(self, x: int, ms: int) -> int:
        return await paved.execute_activity(echo, x, ms)
