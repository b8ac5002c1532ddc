"""Create Temporal namespaces idempotently (tests, benchmarks). ``paved dev`` no longer
uses it: its in-process operator creates, owns and updates the namespaces."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode


async def ensure_namespaces(
    client: Client, names: list[str], retention: timedelta = timedelta(days=1)
) -> list[str]:
    """Register every namespace in ``names`` that does not exist; return those created."""
    created = []
    for name in names:
        try:
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=name)
            )
            continue
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
        try:
            await client.workflow_service.register_namespace(
                RegisterNamespaceRequest(
                    namespace=name,
                    workflow_execution_retention_period=Duration(
                        seconds=int(retention.total_seconds())
                    ),
                )
            )
            created.append(name)
        except RPCError as err:
            if err.status is not RPCStatusCode.ALREADY_EXISTS:
                raise
    for name in created:
        await _wait_usable(client, name)
    return created


async def _wait_usable(client: Client, name: str, timeout: float = 30.0) -> None:
    """A new namespace is served once the frontend's namespace cache refreshes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await client.workflow_service.count_workflow_executions(
                CountWorkflowExecutionsRequest(namespace=name)
            )
            return
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND or asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.2)
