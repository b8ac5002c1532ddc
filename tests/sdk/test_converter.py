"""Safe inputs and outputs: Pydantic validation on decode, payload size guard."""

from __future__ import annotations

import uuid

import pytest
from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

import paved
from paved.sdk import SizeLimitCodec, data_converter


class Order(BaseModel):
    item: str
    quantity: int = Field(gt=0)


@paved.workflow(namespace="tests", worker="conv-worker")
class OrderWorkflow:
    @workflow.run
    async def run(self, order: Order) -> Order:
        return Order(item=order.item.upper(), quantity=order.quantity)


async def test_payload_over_limit_is_rejected_before_temporal() -> None:
    conv = data_converter(max_payload_bytes=1024)
    with pytest.raises(paved.PayloadTooLargeError) as e:
        await conv.encode(["x" * 5000])
    msg = str(e.value)
    assert "5,0" in msg and "1,024" in msg and "fix:" in msg
    # Under the limit passes untouched.
    assert len(await conv.encode(["x" * 100])) == 1


def test_size_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SizeLimitCodec(0)


async def test_pydantic_round_trip_and_validation_on_decode(client: Client, namespace: str) -> None:
    c = await Client.connect(
        client.service_client.config.target_host,
        namespace=namespace,
        data_converter=data_converter(),
    )
    async with Worker(c, task_queue="conv-worker-workflows", workflows=[OrderWorkflow]):
        out = await c.execute_workflow(
            OrderWorkflow.run,
            Order(item="tea", quantity=2),
            id=f"o-{uuid.uuid4()}",
            task_queue="conv-worker-workflows",
        )
        assert out == Order(item="TEA", quantity=2)
        # A raw dict that violates the model is rejected by validation on decode:
        # the workflow fails instead of running with bad data.
        with pytest.raises(WorkflowFailureError) as e:
            await c.execute_workflow(
                "OrderWorkflow",
                {"item": "tea", "quantity": -1},
                id=f"o-{uuid.uuid4()}",
                task_queue="conv-worker-workflows",
                result_type=Order,
            )
        cause = e.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "PayloadValidationError" and cause.non_retryable
        assert "quantity" in cause.message and "greater than 0" in cause.message
