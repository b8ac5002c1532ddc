"""Pipeline whose first activity became a timer: not replay-compatible."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tests.checks.pipeline import STEP, charge_card, ship


@workflow.defn(name="Pipeline")
class Pipeline:
    @workflow.run
    async def run(self, order_id: str) -> str:
        # diverges: the next statement
        await workflow.sleep(timedelta(seconds=1))
        paid = await workflow.execute_activity(charge_card, order_id, start_to_close_timeout=STEP)
        return await workflow.execute_activity(ship, paid, start_to_close_timeout=STEP)
