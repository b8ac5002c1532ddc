"""Pipeline with a new audit step guarded by ``workflow.patched``: replay-compatible."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tests.checks.pipeline import STEP, audit, charge_card, fetch_order, ship


@workflow.defn(name="Pipeline")
class Pipeline:
    @workflow.run
    async def run(self, order_id: str) -> str:
        order = await workflow.execute_activity(fetch_order, order_id, start_to_close_timeout=STEP)
        if workflow.patched("pipeline-audit"):
            order = await workflow.execute_activity(audit, order, start_to_close_timeout=STEP)
        paid = await workflow.execute_activity(charge_card, order, start_to_close_timeout=STEP)
        return await workflow.execute_activity(ship, paid, start_to_close_timeout=STEP)
