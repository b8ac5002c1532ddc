"""Pipeline with its first two activities swapped: not replay-compatible."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tests.checks.pipeline import STEP, charge_card, fetch_order, ship


@workflow.defn(name="Pipeline")
class Pipeline:
    @workflow.run
    async def run(self, order_id: str) -> str:
        # diverges: the next statement
        paid = await workflow.execute_activity(charge_card, order_id, start_to_close_timeout=STEP)
        order = await workflow.execute_activity(fetch_order, paid, start_to_close_timeout=STEP)
        return await workflow.execute_activity(ship, order, start_to_close_timeout=STEP)
