"""Pipeline that now notifies through a child workflow: not replay-compatible."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tests.checks.pipeline import STEP, Notify, charge_card, fetch_order, ship


@workflow.defn(name="Pipeline")
class Pipeline:
    @workflow.run
    async def run(self, order_id: str) -> str:
        order = await workflow.execute_activity(fetch_order, order_id, start_to_close_timeout=STEP)
        # diverges: the next statement
        await workflow.execute_child_workflow(Notify.run, order, id=f"{order_id}-notify")
        paid = await workflow.execute_activity(charge_card, order, start_to_close_timeout=STEP)
        return await workflow.execute_activity(ship, paid, start_to_close_timeout=STEP)
