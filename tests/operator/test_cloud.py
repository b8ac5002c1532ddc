"""The Temporal Cloud target at the request level: the real CloudOperationsClient and protos
against an in-process CloudService (no Cloud is reachable here; see cloud_fake.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from temporalio.api.cloud.namespace.v1 import NamespaceSpec
from temporalio.client import CloudOperationsClient

from paved.operator import (
    CloudNamespaces,
    Op,
    Operator,
    OperatorSettings,
    Reconciler,
    cloud_region_of,
    load_inputs,
)
from paved.specs import Project

from .cloud_fake import FakeCloud, serve
from .helpers import project_name, write_project

KEYWORD = NamespaceSpec.SearchAttributeType.SEARCH_ATTRIBUTE_TYPE_KEYWORD
REGIONS = {"eu": "aws-eu-west-1", "us": "aws-us-east-1"}


@pytest.fixture
async def cloud() -> AsyncIterator[tuple[FakeCloud, str]]:
    fake = FakeCloud()
    server, address = await serve(fake)
    try:
        yield fake, address
    finally:
        await server.stop(0)


def target(
    project: str, address: str, key: str = "cloud-key", open_count: list[int] | None = None
) -> CloudNamespaces:
    async def connect() -> CloudOperationsClient:
        return await CloudOperationsClient.connect(api_key=key, target_host=address, tls=False)

    async def count(_ns: str) -> int:
        return (open_count or [0])[0]

    return CloudNamespaces(project, connect, cloud_region=REGIONS, count_open=count)


WRITES = ("CreateNamespace", "UpdateNamespace", "UpdateNamespaceTags", "DeleteNamespace")


async def test_cloud_create_update_noop_deprecate_delete(
    tmp_path: Path, cloud: tuple[FakeCloud, str]
) -> None:
    fake, address = cloud
    proj = project_name("cloud")
    spec = {
        "orders": {
            "owner": "team-orders",
            "retention_days": 30,
            "regions": ["eu", "us"],
            "environments": ["prod"],
            "search_attributes": {"OrderId": "Keyword"},
        }
    }
    root = write_project(tmp_path / "p", proj, spec, regions=["eu", "us"], environments=["prod"])
    open_count = [0]
    t = target(proj, address, open_count=open_count)
    rec = Reconciler([t], grace_seconds=3600)

    await rec.reconcile(load_inputs(Project.load(root)))
    creates = [r for m, r in fake.requests if m == "CreateNamespace"]
    assert sorted(r.spec.name for r in creates) == ["orders-prod-eu", "orders-prod-us"]
    eu = next(r for r in creates if r.spec.name == "orders-prod-eu")
    assert list(eu.spec.regions) == ["aws-eu-west-1"] and eu.spec.retention_days == 30
    assert eu.spec.api_key_auth.enabled and dict(eu.spec.search_attributes) == {"OrderId": KEYWORD}
    assert (
        eu.tags["paved-managed-by"] == f"paved-operator-{proj}"
        and eu.tags["paved-owner"] == "team-orders"
    )
    assert eu.async_operation_id  # the idempotency key

    # Still activating (async operation): reported per object, no write.
    busy = await rec.reconcile(load_inputs(Project.load(root)))
    assert busy.writes == 0
    assert {o.state for o in busy.targets[0].objects} == {"error"}
    assert "operation in progress (activating)" in busy.targets[0].objects[0].reason

    fake.settle()
    before = len(fake.calls(*WRITES))
    quiet = await rec.reconcile(load_inputs(Project.load(root)))
    assert quiet.writes == 0 and len(fake.calls(*WRITES)) == before and quiet.converged

    # Retention changes: UpdateNamespace with the resource_version just read; tags untouched.
    spec["orders"]["retention_days"] = 14
    write_project(tmp_path / "p", proj, spec, regions=["eu", "us"], environments=["prod"])
    fake.requests.clear()
    await rec.reconcile(load_inputs(Project.load(root)))
    updates = [r for m, r in fake.requests if m == "UpdateNamespace"]
    assert len(updates) == 2 and all(r.spec.retention_days == 14 for r in updates)
    assert fake.calls("UpdateNamespaceTags") == []
    assert all(ns.spec.retention_days == 14 for ns in fake.namespaces.values())
    fake.settle()

    # Removed: tagged deprecated; after the grace period, held while workflows are open
    # (as the count says), deleted with the current resource_version once they are done.
    write_project(tmp_path / "p", proj, {}, regions=["eu", "us"], environments=["prod"])
    await rec.reconcile(load_inputs(Project.load(root)))
    assert all("paved-deprecated-at" in ns.tags for ns in fake.namespaces.values())
    rec.clock = lambda: time.time() + 7200
    open_count[0] = 2
    held = await rec.reconcile(load_inputs(Project.load(root)))
    assert {c.op for c in held.targets[0].changes} == {Op.HOLD} and len(fake.namespaces) == 2
    open_count[0] = 0
    await rec.reconcile(load_inputs(Project.load(root)))
    assert fake.namespaces == {} and len(fake.calls("DeleteNamespace")) == 2


async def test_cloud_never_touches_foreign_namespaces_and_reports_auth_errors(
    tmp_path: Path, cloud: tuple[FakeCloud, str]
) -> None:
    fake, address = cloud
    proj = project_name("cloud")
    root = write_project(tmp_path / "p", proj, {"mail": {"regions": ["eu"]}}, regions=["eu"])
    # Someone else's namespace with the same name.
    other = target("someone-else", address)
    await Reconciler([other]).reconcile(load_inputs(Project.load(root)))
    fake.settle()
    fake.requests.clear()
    mine = target(proj, address)
    result = await Reconciler([mine], grace_seconds=0).reconcile(load_inputs(Project.load(root)))
    (change,) = result.targets[0].changes
    assert change.op == Op.HOLD and "not created by this operator" in change.reason
    assert fake.calls(*WRITES) == []

    bad = await Reconciler([target(proj, address, key="wrong")]).reconcile(
        load_inputs(Project.load(root))
    )
    assert (
        "UNAUTHENTICATED" in bad.targets[0].read_error or "bad API key" in bad.targets[0].read_error
    )
    assert bad.writes == 0


async def test_cloud_create_retried_after_a_crash_runs_once(
    tmp_path: Path, cloud: tuple[FakeCloud, str]
) -> None:
    fake, address = cloud
    proj = project_name("cloud")
    root = write_project(tmp_path / "p", proj, {"jobs": {"regions": ["us"]}}, regions=["us"])
    t = target(proj, address)
    inputs = load_inputs(Project.load(root))
    plan = await Reconciler([t]).reconcile(inputs, dry_run=True)
    (create,) = plan.drift
    await t.apply(create)
    await t.apply(create)  # the same request again, as after a kill before the status was written
    assert len(fake.namespaces) == 1 and len(fake.calls("CreateNamespace")) == 2


def test_cloud_region_of_regional_endpoints() -> None:
    assert cloud_region_of("eu-west-1.aws.api.temporal.io:7233") == "aws-eu-west-1"
    assert cloud_region_of("us-central1.gcp.api.temporal.io:7233") == "gcp-us-central1"
    assert cloud_region_of("my-ns.acct.tmprl.cloud:7233") is None


async def test_paved_yaml_cloud_cluster_plans_and_applies_through_the_api(
    tmp_path: Path, cloud: tuple[FakeCloud, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, address = cloud
    proj = project_name("cloud")
    root = write_project(tmp_path / "p", proj, {"media": {"regions": ["eu"]}}, regions=["eu"])
    config = yaml.safe_load((root / "paved.yaml").read_text())
    config["clusters"] = {
        "eu-cloud": {
            "region": "eu",
            "temporal": {
                "address": "eu-west-1.aws.api.temporal.io:7233",
                "cloud": True,
                "api_key_env": "BENCH_CLOUD_KEY",
            },
        }
    }
    (root / "paved.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("PAVED_CLOUD_API", f"http://{address}")
    monkeypatch.setenv("BENCH_CLOUD_KEY", fake.api_key)
    op = Operator(Project.load(root), OperatorSettings(clusters=True))
    assert [t.name for t in op.targets] == ["cloud:eu-cloud"]
    result = await op.apply_once(timeout=10)
    (create,) = [r for m, r in fake.requests if m == "CreateNamespace"]
    assert create.spec.name == "media-dev-eu" and list(create.spec.regions) == ["aws-eu-west-1"]
    assert result.targets[0].objects[0].reason.startswith("read failed: operation in progress")
