"""Routes follow the specs in a running proxy; Temporal Cloud's ``<name>.<account>`` names.

A proxy built from ``proxy.yaml`` with ``project:`` reloads its routes when
``specs/namespaces.yaml`` changes (what `paved gen` or the operator's ConfigMap
writes): a namespace added to the specs becomes reachable through the running
proxy, one removed is refused, a rate limit changes, and a broken spec file
keeps the last good routes. A cluster with ``account:`` (Temporal Cloud) gets
its calls under ``<physical>.<account>`` (checked on the server) and its
answers mapped back to the logical name.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeWorkflowExecutionRequest,
    ListNamespacesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from paved import ProjectError, specs
from paved.auth import new_api_key
from paved.dev import DevServer, ensure_namespaces
from paved.proxy import build_proxy
from paved.sdk import physical_namespace


def _namespace(logical: str, rps: float = 10_000) -> specs.NamespaceSpec:
    return specs.NamespaceSpec(
        name=logical,
        owner="team-shop",
        tier=2,
        retention_days=3,
        regions=["eu"],
        environments=["prod"],
        rate_limit=specs.RateLimit(actions_per_second=10_000, requests_per_second=rps),
        physical=[
            specs.PhysicalNamespace(
                name=physical_namespace(logical, "eu", "prod"), region="eu", environment="prod"
            )
        ],
    )


def _write_specs(root: Path, namespaces: list[specs.NamespaceSpec]) -> None:
    d = root / "specs"
    d.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {
        "namespaces.yaml": specs.NamespacesFile(namespaces=namespaces),
        "workflows.yaml": specs.WorkflowsFile(workflows=[], activities=[]),
        "workers.yaml": specs.WorkersFile(workers=[]),
    }
    for name, model in files.items():
        tmp = d / f"{name}.tmp"
        tmp.write_text(specs.dump(model.model_dump(mode="json")), encoding="utf-8")
        tmp.replace(d / name)  # as `paved gen` writes: atomically


def _project(
    root: Path,
    server: DevServer,
    logical: list[str],
    *,
    account: str | None = None,
    cloud: bool = False,
) -> str:
    """A project whose one cluster is ``server``; returns the API key of ``app``."""
    temporal: dict[str, Any] = {"address": server.address}
    if account:
        temporal["account"] = account
    if cloud:
        temporal["cloud"] = True
    config = {
        "project": "shop",
        "packages": ["shop"],
        "regions": ["eu"],
        "environments": ["prod"],
        "namespaces": {n: {"owner": "team-shop"} for n in logical},
        "clusters": {"eu": {"region": "eu", "temporal": temporal}},
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "paved.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    key, entry = new_api_key("app-key")
    policy = {
        "teams": {"shop": {"namespaces": {"*": ["read", "write"]}}},
        "principals": [
            {
                "name": "app",
                "team": "shop",
                "region": "eu",
                "environment": "prod",
                "api_keys": [entry],
            }
        ],
    }
    (root / "policy.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
    (root / "proxy.yaml").write_text(
        "listen: 127.0.0.1:0\nproject: .\npolicy: policy.yaml\n"
        "encryption: {enabled: false}\npolicy_reload_seconds: 0.1\n",
        encoding="utf-8",
    )
    return key


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not seen within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.1)


async def _status(c: Client, namespace: str) -> RPCStatusCode | None:
    try:
        await c.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), retry=False
        )
    except RPCError as e:
        return e.status
    return None


async def test_a_running_proxy_follows_route_changes_in_the_specs(
    tmp_path: Path, dev_server: DevServer, client: Client
) -> None:
    sfx = uuid.uuid4().hex[:6]
    first, second = f"first-{sfx}", f"second-{sfx}"
    await ensure_namespaces(client, [physical_namespace(n, "eu", "prod") for n in (first, second)])
    root = tmp_path / "proj"
    key = _project(root, dev_server, [first])
    _write_specs(root, [_namespace(first)])
    proxy = build_proxy(root / "proxy.yaml")
    await proxy.start()
    try:
        c = await Client.connect(proxy.address, namespace=first, api_key=key, tls=False)
        assert await _status(c, first) is None
        assert await _status(c, second) == RPCStatusCode.NOT_FOUND  # not in the specs yet

        # `paved gen` adds a namespace: reachable without a restart
        _write_specs(root, [_namespace(first), _namespace(second)])

        async def second_routed() -> bool:
            return await _status(c, second) is None

        await _eventually(second_routed, f"{second} routed after the specs changed")
        listed = await c.workflow_service.list_namespaces(ListNamespacesRequest())
        assert {d.namespace_info.name for d in listed.namespaces} == {first, second}

        # a broken spec file is logged and the last good routes stay
        (root / "specs" / "namespaces.yaml").write_text("namespaces: [{name: 1}]\n")
        await _eventually(lambda: _reload_failed(proxy), "the bad spec file refused", timeout=10)
        assert await _status(c, second) is None

        # the namespace removed and a rate limit of 1 request/s on the first
        _write_specs(root, [_namespace(first, rps=1)])

        async def second_gone() -> bool:
            return await _status(c, second) == RPCStatusCode.NOT_FOUND

        await _eventually(second_gone, f"{second} refused after leaving the specs")
        codes = [await _status(c, first) for _ in range(5)]
        assert RPCStatusCode.RESOURCE_EXHAUSTED in codes, codes
    finally:
        await proxy.stop()


async def _reload_failed(proxy: Any) -> bool:
    return bool(proxy.metrics.routes_reloads.labels("error")._value.get() > 0)


async def test_a_cloud_clusters_namespaces_are_named_with_the_account(
    tmp_path: Path, dev_server: DevServer, client: Client
) -> None:
    logical = f"cloudy-{uuid.uuid4().hex[:6]}"
    physical = physical_namespace(logical, "eu", "prod")
    account = "acct7"
    # the dev server stands for the Cloud endpoint: its namespace is <physical>.<account>
    await ensure_namespaces(client, [f"{physical}.{account}"])
    root = tmp_path / "proj"
    key = _project(root, dev_server, [logical], account=account)
    _write_specs(root, [_namespace(logical)])
    proxy = build_proxy(root / "proxy.yaml")
    await proxy.start()
    try:
        c = await Client.connect(proxy.address, namespace=logical, api_key=key, tls=False)
        wid = f"wf-{uuid.uuid4().hex[:6]}"
        handle = await c.start_workflow("NoSuchWorkflowType", id=wid, task_queue="nobody-polls")
        # on the server under the account-qualified name
        await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=f"{physical}.{account}", execution=WorkflowExecution(workflow_id=wid)
            )
        )
        desc = await handle.describe()  # answers name the namespace as the caller did
        assert desc.id == wid
        ns = await c.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=logical)
        )
        assert ns.namespace_info.name == logical
        listed = await c.workflow_service.list_namespaces(ListNamespacesRequest())
        assert [d.namespace_info.name for d in listed.namespaces] == [logical]
        # the spec's physical name and the qualified one both route there
        for name in (physical, f"{physical}.{account}"):
            assert await _status(c, name) is None
        await handle.terminate()
    finally:
        await proxy.stop()


def test_a_cloud_cluster_without_account_is_refused(tmp_path: Path, dev_server: DevServer) -> None:
    root = tmp_path / "proj"
    _project(root, dev_server, ["shop"], cloud=True)
    _write_specs(root, [_namespace("shop")])
    with pytest.raises(ProjectError) as e:
        build_proxy(root / "proxy.yaml")
    assert e.value.code == "PAVED-CLUSTER-CLOUD-ACCOUNT"
    assert "clusters.eu.temporal.account" in str(e.value)
