"""More than one cluster: two real dev servers stand for two regions (eu, us).

The operator creates each physical namespace on its region's server; the proxy
sends each call to the cluster of the physical namespace it routes to (one
channel pool per cluster). Checked on each server: an eu principal's workflow
exists on the eu server only, a us principal's on the us server only; a
cross-region call is refused unless the policy allows it; with the eu server
killed, us traffic goes on.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, ListNamespacesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from paved import ProjectError, codec, specs
from paved.auth import Policy, new_api_key
from paved.dev import DevServer
from paved.operator import Inputs, Reconciler, cluster_targets
from paved.proxy import REGION_HEADER, ProxyServer, Upstream
from paved.proxy._config import build_proxy
from paved.sdk import physical_namespace
from paved.specs import Routes

REGIONS = ("eu", "us")


@dataclass
class TwoRegions:
    servers: dict[str, DevServer]
    proxy: ProxyServer
    logical: str
    keys: dict[str, str]
    direct: dict[str, Client]

    def physical(self, region: str) -> str:
        return physical_namespace(self.logical, region, "prod")

    async def client(self, who: str, region: str | None = None) -> Client:
        return await Client.connect(
            self.proxy.address,
            namespace=self.logical,
            api_key=self.keys[who],
            tls=False,
            rpc_metadata={REGION_HEADER: region} if region else {},
        )


def _config(logical: str, servers: dict[str, DevServer]) -> specs.ProjectConfig:
    return specs.ProjectConfig.model_validate(
        {
            "project": "shop",
            "packages": ["shop"],
            "regions": list(REGIONS),
            "environments": ["prod"],
            "namespaces": {logical: {"owner": "team-shop"}},
            "clusters": {
                r: {"region": r, "temporal": {"address": servers[r].address}} for r in REGIONS
            },
        }
    )


def _specs(logical: str) -> specs.Specs:
    ns = specs.NamespaceSpec(
        name=logical,
        owner="team-shop",
        tier=2,
        retention_days=3,
        regions=list(REGIONS),
        environments=["prod"],
        rate_limit=specs.RateLimit(actions_per_second=10_000, requests_per_second=10_000),
        physical=[
            specs.PhysicalNamespace(
                name=physical_namespace(logical, r, "prod"), region=r, environment="prod"
            )
            for r in REGIONS
        ],
    )
    return specs.Specs(
        namespaces=specs.NamespacesFile(namespaces=[ns]),
        workflows=specs.WorkflowsFile(workflows=[], activities=[]),
        workers=specs.WorkersFile(workers=[]),
    )


def _policy(logical: str) -> tuple[dict[str, Any], dict[str, str]]:
    keys, principals = {}, []
    for name, region, extra in (
        ("eu-app", "eu", {}),
        ("us-app", "us", {}),
        ("traveller", "eu", {"regions": ["us"]}),
    ):
        key, entry = new_api_key(f"{name}-key")
        keys[name] = key
        principals.append(
            {
                "name": name,
                "team": "shop",
                "region": region,
                "environment": "prod",
                "api_keys": [entry],
                **extra,
            }
        )
    data = {
        "teams": {"shop": {"namespaces": {logical: ["read", "write"]}}},
        "principals": principals,
    }
    return data, keys


@pytest.fixture(scope="module")
async def two(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TwoRegions]:
    servers: dict[str, DevServer] = {}
    for r in REGIONS:
        d: Path = tmp_path_factory.mktemp(f"temporal-{r}")
        servers[r] = DevServer(db_file=d / "temporal.db")
        servers[r].start()
    logical = f"shop-{uuid.uuid4().hex[:6]}"
    config = _config(logical, servers)
    try:
        # The operator creates each physical namespace on its region's cluster.
        targets = cluster_targets("shop", config, kubernetes=False)
        assert [t.name for t in targets] == ["temporal:eu", "temporal:us"]
        inputs = Inputs(project="shop", root=Path("."), config=config, specs=_specs(logical))
        result = await Reconciler(targets).reconcile(inputs)
        assert result.errors == 0, [o for t in result.targets for o in t.objects]
        data, keys = _policy(logical)
        proxy = ProxyServer(
            policy=Policy.from_dict(data),
            routes=Routes.from_specs(inputs.specs.namespaces.namespaces),
            upstream=Upstream(address=servers["eu"].address),
            clusters=config.clusters,
            keyring=codec.KeyRing.in_memory(),
        )
        await proxy.start()
        direct = {r: await Client.connect(servers[r].address) for r in REGIONS}
        try:
            yield TwoRegions(servers, proxy, logical, keys, direct)
        finally:
            await proxy.stop()
    finally:
        for s in servers.values():
            s.stop()


async def _exists(c: Client, namespace: str) -> bool:
    try:
        await c.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), retry=False
        )
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _start(c: Client, wid: str) -> None:
    await c.start_workflow("NoSuchWorkflowType", id=wid, task_queue="nobody-polls")


async def _on(two: TwoRegions, region: str, wid: str) -> bool:
    """Whether workflow ``wid`` exists on ``region``'s server (checked there, not via the proxy)."""
    c = two.direct[region]
    try:
        await c.workflow_service.describe_workflow_execution(
            _describe_req(two.physical(region), wid), retry=False
        )
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def _describe_req(namespace: str, wid: str) -> Any:
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

    return DescribeWorkflowExecutionRequest(
        namespace=namespace, execution=WorkflowExecution(workflow_id=wid)
    )


async def test_the_operator_put_each_namespace_on_its_regions_server(two: TwoRegions) -> None:
    for region in REGIONS:
        other = "us" if region == "eu" else "eu"
        assert await _exists(two.direct[region], two.physical(region))
        assert not await _exists(two.direct[region], two.physical(other))


async def test_each_principals_calls_land_on_its_regions_server(two: TwoRegions) -> None:
    for who, region in (("eu-app", "eu"), ("us-app", "us")):
        wid = f"{who}-{uuid.uuid4().hex[:6]}"
        await _start(await two.client(who), wid)
        other = "us" if region == "eu" else "eu"
        assert await _on(two, region, wid), f"{who}'s workflow is not on the {region} server"
        assert not await _on(two, other, wid), f"{who}'s workflow leaked to the {other} server"


async def test_a_cross_region_call_is_refused_unless_the_policy_allows_it(two: TwoRegions) -> None:
    with pytest.raises(RPCError) as e:
        await _start(await two.client("eu-app", region="us"), f"x-{uuid.uuid4().hex[:6]}")
    assert e.value.status == RPCStatusCode.PERMISSION_DENIED
    wid = f"traveller-{uuid.uuid4().hex[:6]}"
    await _start(await two.client("traveller", region="us"), wid)
    assert await _on(two, "us", wid) and not await _on(two, "eu", wid)


async def _listed(two: TwoRegions, who: str | Client) -> dict[str, str]:
    """ListNamespaces through the proxy as ``who``: {name as listed: namespace id}."""
    c = await two.client(who) if isinstance(who, str) else who
    resp = await c.workflow_service.list_namespaces(ListNamespacesRequest(page_size=1))
    names = [d.namespace_info.name for d in resp.namespaces]
    assert len(names) == len(set(names)), names
    return {d.namespace_info.name: d.namespace_info.id for d in resp.namespaces}


async def _id_on(two: TwoRegions, region: str) -> str:
    resp = await two.direct[region].workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=two.physical(region))
    )
    return str(resp.namespace_info.id)


async def test_list_namespaces_fans_out_to_every_cluster(two: TwoRegions) -> None:
    # each home region's namespace under its logical name, from its own server
    assert await _listed(two, "eu-app") == {two.logical: await _id_on(two, "eu")}
    assert await _listed(two, "us-app") == {two.logical: await _id_on(two, "us")}
    # the traveller (home eu, may reach us) also gets the us namespace, from the us
    # server, under the physical name that routes there (its logical name means eu)
    assert await _listed(two, "traveller") == {
        two.logical: await _id_on(two, "eu"),
        two.physical("us"): await _id_on(two, "us"),
    }


async def test_killing_the_eu_server_leaves_us_traffic_untouched(two: TwoRegions) -> None:
    us = await two.client("us-app")
    eu = await two.client("eu-app")
    traveller = await two.client("traveller")  # connected while its home cluster is up
    two.servers["eu"].stop()
    for i in range(3):
        wid = f"us-after-{i}-{uuid.uuid4().hex[:6]}"
        await _start(us, wid)
        assert await _on(two, "us", wid)
    with pytest.raises(RPCError) as e:
        await eu.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=two.logical), retry=False
        )
    assert e.value.status == RPCStatusCode.UNAVAILABLE
    # ListNamespaces goes on without the eu cluster: the traveller still gets us
    assert set(await _listed(two, traveller)) == {two.physical("us")}
    assert set(await _listed(two, us)) == {two.logical}
    with pytest.raises(RPCError) as e:  # eu-app reaches only eu: nothing it may see answered
        await _listed(two, eu)
    assert e.value.status == RPCStatusCode.UNAVAILABLE


def test_proxy_config_takes_the_projects_clusters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logical = "shop"
    servers = {
        r: DevServer(db_file=tmp_path / f"{r}.db", port=7000 + i) for i, r in enumerate(REGIONS)
    }
    config = _config(logical, servers).model_dump(mode="json", exclude_defaults=True)
    config["clusters"]["us"]["temporal"]["api_key_env"] = "PAVED_TEST_US_UPSTREAM_KEY"
    root = tmp_path / "proj"
    (root / "specs").mkdir(parents=True)
    (root / "paved.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    s = _specs(logical)
    for name, model in (
        ("namespaces.yaml", s.namespaces),
        ("workflows.yaml", s.workflows),
        ("workers.yaml", s.workers),
    ):
        (root / "specs" / name).write_text(specs.dump(model.model_dump(mode="json")))
    data, _ = _policy(logical)
    (root / "policy.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    (root / "proxy.yaml").write_text(
        "project: .\npolicy: policy.yaml\nencryption: {enabled: false}\n", encoding="utf-8"
    )
    monkeypatch.delenv("PAVED_TEST_US_UPSTREAM_KEY", raising=False)
    with pytest.raises(ProjectError) as e:  # the key's source is named, the key never written
        build_proxy(root / "proxy.yaml")
    assert e.value.code == "PAVED-CLUSTER-API-KEY" and "PAVED_TEST_US_UPSTREAM_KEY" in str(e.value)
    monkeypatch.setenv("PAVED_TEST_US_UPSTREAM_KEY", "k-us")
    proxy = build_proxy(root / "proxy.yaml")
    ups = proxy.upstreams
    assert ups.cluster_of("eu", "prod") == "eu" and ups.cluster_of("us", "prod") == "us"
    assert ups.describe() == "eu=127.0.0.1:7000, us=127.0.0.1:7001"
