"""Create Temporal namespaces idempotently (``paved dev``, tests, benchmarks)."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
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
        except RPCError as e:
            if e.status != RPCStatusCode.ALREADY_EXISTS:
                raise
    return created
