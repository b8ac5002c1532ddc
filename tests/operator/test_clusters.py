"""Clusters in paved.yaml become the operator's targets: each physical namespace in its
region's cluster, self-hosted (the session's real dev server) or Temporal Cloud (the
in-process CloudService of cloud_fake.py; no Cloud is reachable here)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from paved import specs
from paved.dev import DevServer
from paved.operator import Inputs
from paved.operator._clusters import cluster_targets
from paved.operator._reconcile import Reconciler
from paved.sdk import physical_namespace

from .cloud_fake import FakeCloud, serve


def _inputs(logical: str, dev: DevServer) -> Inputs:
    config = specs.ProjectConfig.model_validate(
        {
            "project": "shop",
            "packages": ["shop"],
            "regions": ["eu", "us"],
            "environments": ["prod"],
            "namespaces": {logical: {"owner": "team-shop"}},
            "clusters": {
                "eu": {"region": "eu", "temporal": {"address": dev.address}},
                "us": {
                    "region": "us",
                    "temporal": {
                        "address": "us-east-1.aws.api.temporal.io:7233",
                        "cloud": True,
                        "api_key_env": "PAVED_TEST_US_KEY",
                    },
                },
            },
        }
    )
    ns = specs.NamespaceSpec(
        name=logical,
        owner="team-shop",
        tier=2,
        retention_days=5,
        regions=["eu", "us"],
        environments=["prod"],
        rate_limit=specs.RateLimit(),
        physical=[
            specs.PhysicalNamespace(
                name=physical_namespace(logical, r, "prod"), region=r, environment="prod"
            )
            for r in ("eu", "us")
        ],
    )
    return Inputs(
        project="shop",
        root=Path("."),
        config=config,
        specs=specs.Specs(
            namespaces=specs.NamespacesFile(namespaces=[ns]),
            workflows=specs.WorkflowsFile(workflows=[], activities=[]),
            workers=specs.WorkersFile(workers=[]),
        ),
    )


async def test_each_namespace_is_created_in_its_regions_cluster(
    dev_server: DevServer, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    logical = f"shop-{uuid.uuid4().hex[:6]}"
    inputs = _inputs(logical, dev_server)
    fake = FakeCloud()
    server, address = await serve(fake)
    monkeypatch.setenv("PAVED_CLOUD_API", f"http://{address}")
    monkeypatch.setenv("PAVED_TEST_US_KEY", fake.api_key)
    try:
        targets = cluster_targets("shop", inputs.config)
        assert [t.name for t in targets] == ["temporal:eu", "cloud:us"]
        result = await Reconciler(targets).reconcile(inputs)
        assert result.errors == 0
        # eu: on the self-hosted server, and only eu
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=physical_namespace(logical, "eu", "prod"))
        )
        with pytest.raises(RPCError) as e:
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=physical_namespace(logical, "us", "prod"))
            )
        assert e.value.status == RPCStatusCode.NOT_FOUND
        # us: created through the Cloud Operations API in the cluster's Cloud region, and only us
        creates = [r for m, r in fake.requests if m == "CreateNamespace"]
        assert [(r.spec.name, list(r.spec.regions)) for r in creates] == [
            (physical_namespace(logical, "us", "prod"), ["aws-us-east-1"])
        ]
    finally:
        await server.stop(0)
