"""The identity target: the proxies' policy file from policy.yaml + specs, picked up by a
running proxy without restart; never overwrites a policy file it did not write."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml
from temporalio.client import Client
from temporalio.service import RPCError

from paved.auth import Policy, new_api_key
from paved.dev import DevServer
from paved.operator import Operator, OperatorSettings, PolicyTarget, load_inputs
from paved.proxy import ProxyServer
from paved.specs import Project, Routes

from .helpers import project_name, write_project


def source_policy(
    root: Path, entry: dict[str, object], *, revoked: bool = False, ns: str = "orders"
) -> None:
    (root / "policy.yaml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "teams": {"shop": {"namespaces": {ns: ["read"]}}},
                "principals": [
                    {
                        "name": "alice",
                        "team": "shop",
                        "kind": "human",
                        "region": "local",
                        "environment": "dev",
                        "api_keys": [{**entry, "revoked": revoked}],
                    }
                ],
            }
        )
    )


def test_desired_policy_adds_owner_roles_and_worker_principals(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        project_name(),
        {"orders": {"owner": "team-orders", "regions": ["eu", "us"]}},
        {"orders-worker": "orders"},
    )
    _, entry = new_api_key("k1")
    source_policy(root, entry)
    target = PolicyTarget(tmp_path / "out.yaml")
    desired = {(d.kind, d.name): d.spec for d in target.desired(load_inputs(Project.load(root)))}
    assert desired[("team", "team-orders")] == {
        "namespaces": {"orders": ["decode", "read", "worker", "write"]}
    }
    assert desired[("team", "shop")] == {"namespaces": {"orders": ["read"]}}
    eu = desired[("principal", "orders-worker-eu-dev")]
    assert eu["team"] == "team-orders" and eu["roles"] == ["worker"] and eu["region"] == "eu"
    assert ("principal", "orders-worker-us-dev") in desired
    assert desired[("principal", "alice")]["api_keys"][0]["id"] == "k1"


async def test_running_proxy_picks_up_the_written_policy(
    tmp_path: Path, dev_server: DevServer
) -> None:
    # A namespace name no other test uses: the session's dev server is shared.
    root = write_project(tmp_path / "p", project_name(), {"idorders": {"owner": "team-orders"}})
    key, entry = new_api_key("alice-key")
    source_policy(root, entry, ns="idorders")
    out = root / ".paved" / "effective-policy.yaml"
    settings = OperatorSettings(temporal_address=dev_server.address, policy_out=out)
    op = Operator(Project.load(root), settings)
    assert (await op.apply_once(timeout=60)).converged
    policy = Policy.load(out)  # what a proxy loads: valid, with the source's principal
    assert policy.authenticate_bearer(key).name == "alice"

    routes = Routes.from_specs(Project.load(root).specs().namespaces.namespaces)
    proxy = await ProxyServer(
        policy=out, routes=routes, upstream=dev_server.address, policy_reload_seconds=0.1
    ).start()
    try:
        alice = await Client.connect(proxy.address, namespace="idorders", api_key=key, tls=False)
        await alice.count_workflows()  # read on "orders": allowed

        # Revoke alice's key in policy.yaml; the operator rewrites the file; the running
        # proxy reloads it and refuses her, no restart.
        source_policy(root, entry, revoked=True, ns="idorders")
        op2 = Operator(Project.load(root), settings)
        await op2.apply_once(timeout=60)
        assert [t.writes for t in op2.targets if isinstance(t, PolicyTarget)] == [1]
        deadline = time.monotonic() + 10
        while True:
            try:
                await alice.count_workflows()
            except RPCError as e:
                assert "revoked" in e.message
                break
            assert time.monotonic() < deadline, "the proxy did not reload the policy"
            await asyncio.sleep(0.1)
    finally:
        await proxy.stop()

    # A policy file written by hand is never overwritten.
    out.write_text("version: 1\n")
    op3 = Operator(Project.load(root), settings)
    result = await op3.apply_once(timeout=30)
    assert out.read_text() == "version: 1\n"
    held = [c for t in result.targets if t.name == "policy" for c in t.changes]
    assert held and all(c.op.value == "hold" for c in held)


@pytest.mark.parametrize("bad", ["teams: [", "principals: [{name: x, team: nowhere}]"])
def test_bad_source_policy_is_reported_with_the_file(tmp_path: Path, bad: str) -> None:
    from paved import ProjectError

    root = write_project(tmp_path / "p", project_name(), {"orders": {}})
    (root / "policy.yaml").write_text(f"version: 1\n{bad}\n")
    with pytest.raises(ProjectError) as e:
        load_inputs(Project.load(root))
    assert "policy.yaml" in str(e.value)
