"""The small workflow the replay tests record: fetch, charge, ship (version 1)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

STEP = timedelta(seconds=10)


@activity.defn
async def fetch_order(order_id: str) -> str:
    return f"order:{order_id}"


@activity.defn
async def charge_card(order: str) -> str:
    return f"paid:{order}"


@activity.defn
async def ship(order: str) -> str:
    return f"shipped:{order}"


@activity.defn(name="load_order")
async def load_order(order_id: str) -> str:
    return f"order:{order_id}"


@activity.defn
async def audit(order: str) -> str:
    return f"audited:{order}"


@workflow.defn(name="Notify")
class Notify:
    @workflow.run
    async def run(self, order: str) -> str:
        return f"notified:{order}"


@workflow.defn(name="Pipeline")
class Pipeline:
    @workflow.run
    async def run(self, order_id: str) -> str:
        order = await workflow.execute_activity(fetch_order, order_id, start_to_close_timeout=STEP)
        paid = await workflow.execute_activity(charge_card, order, start_to_close_timeout=STEP)
        return await workflow.execute_activity(ship, paid, start_to_close_timeout=STEP)


ACTIVITIES = [fetch_order, charge_card, ship, load_order, audit]
