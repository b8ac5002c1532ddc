"""The Temporal namespace target against the real dev server: create, update, search
attributes, ownership, a no-op pass with zero writes, and the deletion guard."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from paved.dev import DevServer
from paved.operator import Op, Operator, OperatorSettings, TemporalNamespaces
from paved.specs import Project

from .helpers import custom_attributes, describe, namespace_names, project_name, write_project

KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
INT = IndexedValueType.INDEXED_VALUE_TYPE_INT


def make_operator(root: Path, server: DevServer, **kw: object) -> Operator:
    return Operator(Project.load(root), OperatorSettings(temporal_address=server.address, **kw))  # type: ignore[arg-type]


def temporal_writes(op: Operator) -> int:
    return sum(sum(t.writes.values()) for t in op.targets if isinstance(t, TemporalNamespaces))


async def test_create_update_search_attributes_and_noop_pass(
    tmp_path: Path, dev_server: DevServer, client: Client
) -> None:
    proj = project_name()
    ns = {
        "orders": {
            "owner": "team-orders",
            "retention_days": 3,
            "description": "Order workflows",
            "search_attributes": {"OrderId": "Keyword", "Amount": "Int"},
        },
        "mail": {"owner": "team-mail", "retention_days": 1, "regions": ["eu", "us"]},
    }
    root = write_project(tmp_path / "p", proj, ns)
    op = make_operator(root, dev_server)
    result = await op.apply_once(timeout=60)
    assert result.converged, [o for t in result.targets for o in t.objects if o.state != "in-sync"]

    names = await namespace_names(client)
    assert {"orders-dev-local", "mail-dev-eu", "mail-dev-us"} <= names
    retention, description, data = await describe(client, "orders-dev-local")
    assert retention == 3 and description == "Order workflows"
    assert data["paved.io/managed-by"] == f"paved-operator/{proj}"
    assert data["paved.io/owner"] == "team-orders" and data["paved.io/logical"] == "orders"
    assert data["paved.io/search-attributes"] == "Amount,OrderId"
    assert (await custom_attributes(client, "orders-dev-local")) == {
        "OrderId": KEYWORD,
        "Amount": INT,
    }

    # A second operator process (fresh state) over unchanged specs: zero writes.
    again = make_operator(root, dev_server)
    second = await again.apply_once(timeout=30)
    assert second.converged and second.writes == 0 and temporal_writes(again) == 0
    plan = await again.plan()
    assert plan.drift == []

    # Specs change: retention, owner, one attribute added and one removed; plus an
    # attribute someone else added by hand, which the operator must leave alone.
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace="orders-dev-local", search_attributes={"ByHand": KEYWORD}
        )
    )
    ns["orders"] |= {
        "retention_days": 10,
        "owner": "team-shop",
        "search_attributes": {"OrderId": "Keyword", "Region": "Keyword"},
    }
    write_project(tmp_path / "p", proj, ns)
    planned = await make_operator(root, dev_server).plan()
    verdicts = {(c.kind, c.name): c.op for c in planned.drift}
    assert verdicts == {
        ("namespace", "orders-dev-local"): Op.UPDATE,
        ("search-attribute", "orders-dev-local/Region"): Op.CREATE,
        ("search-attribute", "orders-dev-local/Amount"): Op.DELETE,
    }
    third = await make_operator(root, dev_server).apply_once(timeout=60)
    assert third.converged
    retention, _, data = await describe(client, "orders-dev-local")
    assert retention == 10 and data["paved.io/owner"] == "team-shop"
    assert data["paved.io/search-attributes"] == "OrderId,Region"
    assert (await custom_attributes(client, "orders-dev-local")) == {
        "OrderId": KEYWORD,
        "Region": KEYWORD,
        "ByHand": KEYWORD,
    }


async def test_never_touches_a_namespace_it_did_not_create(
    tmp_path: Path, dev_server: DevServer, client: Client
) -> None:
    proj = project_name()
    foreign = f"theirs-{uuid.uuid4().hex[:6]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=f"{foreign}-dev-local",
            workflow_execution_retention_period=Duration(seconds=86400),
            description="hand-made",
        )
    )
    root = write_project(
        tmp_path / "p", proj, {foreign: {"retention_days": 9, "search_attributes": {"X": "Int"}}}
    )
    op = make_operator(root, dev_server)
    result = await op.apply_once(timeout=30)
    verdicts = {c.name: (c.op, c.reason) for c in result.targets[0].changes}
    assert verdicts[f"{foreign}-dev-local"][0] == Op.HOLD
    assert "not created by this operator" in verdicts[f"{foreign}-dev-local"][1]
    assert verdicts[f"{foreign}-dev-local/X"][0] == Op.HOLD
    assert temporal_writes(op) == 0
    retention, description, data = await describe(client, f"{foreign}-dev-local")
    assert (retention, description) == (1, "hand-made") and "paved.io/managed-by" not in data
    # Removed from the specs: still never deprecated nor deleted.
    write_project(tmp_path / "p", proj, {})
    op2 = make_operator(root, dev_server, grace_seconds=0)
    await op2.apply_once(timeout=30)
    assert temporal_writes(op2) == 0
    assert f"{foreign}-dev-local" in await namespace_names(client)


async def test_deletion_guard_grace_open_workflows_and_undeprecate(
    tmp_path: Path, dev_server: DevServer, client: Client
) -> None:
    proj = project_name()
    root = write_project(tmp_path / "p", proj, {"keep": {}, "gone": {}, "back": {}})
    assert (await make_operator(root, dev_server).apply_once(timeout=60)).converged
    # An open workflow in "gone" (no worker needed: it just stays Running).
    gone_client = await Client.connect(dev_server.address, namespace="gone-dev-local")
    handle = await gone_client.start_workflow("NoWorker", id="open-1", task_queue="nobody")

    write_project(tmp_path / "p", proj, {"keep": {}})
    # Pass 1 with a 1 h grace: both removed namespaces are marked deprecated, not deleted.
    op = make_operator(root, dev_server, grace_seconds=3600)
    planned = await op.plan()
    ops = {c.name: c.op for c in planned.drift}
    assert ops == {"gone-dev-local": Op.DEPRECATE, "back-dev-local": Op.DEPRECATE}
    await op.apply_once(timeout=30)
    assert op.targets[0].writes == {"UpdateNamespace": 2}  # type: ignore[attr-defined]
    _, _, data = await describe(client, "gone-dev-local")
    assert data["paved.io/deprecated-at"]
    held = await make_operator(root, dev_server, grace_seconds=3600).plan()
    reasons = {c.name: c.reason for c in held.targets[0].changes}
    assert "grace period" in reasons["gone-dev-local"] and not held.drift

    # "back" returns to the specs during its grace period: the mark is cleared.
    write_project(tmp_path / "p", proj, {"keep": {}, "back": {}})
    assert (
        await make_operator(root, dev_server, grace_seconds=3600).apply_once(timeout=30)
    ).converged
    _, _, data = await describe(client, "back-dev-local")
    assert data["paved.io/deprecated-at"] == ""

    # Grace over (clock moved 2 h): the open workflow still holds the deletion...
    late = make_operator(root, dev_server, grace_seconds=3600)
    late.reconciler.clock = lambda: time.time() + 7200
    result = await late.apply_once(timeout=30)
    change = next(c for c in result.targets[0].changes if c.name == "gone-dev-local")
    assert change.op == Op.HOLD and "1 open workflow" in change.reason
    assert "gone-dev-local" in await namespace_names(client)
    # ... until it ends; then the namespace is deleted.
    await handle.terminate("test")
    late2 = make_operator(root, dev_server, grace_seconds=3600)
    late2.reconciler.clock = lambda: time.time() + 7200
    await late2.apply_once(timeout=30)
    assert late2.targets[0].writes["DeleteNamespace"] == 1  # type: ignore[attr-defined]
    names = await namespace_names(client)
    assert "gone-dev-local" not in names and {"keep-dev-local", "back-dev-local"} <= names


async def test_unreachable_temporal_reports_per_object_and_deletes_nothing(tmp_path: Path) -> None:
    from paved.dev import free_port

    root = write_project(
        tmp_path / "p", project_name(), {"a": {}, "b": {"search_attributes": {"K": "Int"}}}
    )
    op = Operator(
        Project.load(root),
        OperatorSettings(temporal_address=f"127.0.0.1:{free_port()}"),
    )
    t0 = time.monotonic()
    result = await op.plan()
    assert time.monotonic() - t0 < 30
    (t,) = result.targets
    assert t.read_error.startswith("read failed")
    assert {o.name: o.state for o in t.objects} == {
        "a-dev-local": "error",
        "b-dev-local": "error",
        "b-dev-local/K": "error",
    }
    assert not result.drift  # nothing created, nothing deleted


async def test_adopt_marks_an_unmarked_desired_namespace_only(
    tmp_path: Path, dev_server: DevServer, client: Client
) -> None:
    """paved dev's private dev server: namespaces an older paved dev made without marks are
    adopted; one marked by another project is still left alone."""
    proj = project_name()
    bare, foreign = f"bare-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    for name, data in ((bare, {}), (foreign, {"paved.io/managed-by": "paved-operator/else"})):
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=f"{name}-dev-local",
                workflow_execution_retention_period=Duration(seconds=86400),
                data=data,
            )
        )
    fresh = f"fresh-{uuid.uuid4().hex[:6]}"
    root = write_project(
        tmp_path / "p", proj, {bare: {"retention_days": 4}, foreign: {}, fresh: {}}
    )
    target = TemporalNamespaces.at(proj, dev_server.address, adopt=True, wait_usable=True)
    op = Operator(Project.load(root), targets=[target])
    await op.apply_once(timeout=30)
    # wait_usable: served as soon as the pass returns (paved dev starts workers next).
    fresh_client = await Client.connect(dev_server.address, namespace=f"{fresh}-dev-local")
    assert (await fresh_client.count_workflows()).count == 0
    retention, _, data = await describe(client, f"{bare}-dev-local")
    assert retention == 4 and data["paved.io/managed-by"] == f"paved-operator/{proj}"
    _, _, data = await describe(client, f"{foreign}-dev-local")
    assert data["paved.io/managed-by"] == "paved-operator/else"


async def test_a_repeated_read_reuses_unchanged_namespaces_and_still_sees_drift(
    tmp_path: Path, dev_server: DevServer, client: Client
) -> None:
    from temporalio.api.namespace.v1 import UpdateNamespaceInfo
    from temporalio.api.workflowservice.v1 import UpdateNamespaceRequest

    from paved.operator import load_inputs

    proj = project_name()
    root = write_project(
        tmp_path / "p", proj, {"cache": {"owner": "team-c", "description": "as specified"}}
    )
    op = make_operator(root, dev_server)
    assert (await op.apply_once(timeout=60)).converged
    (target,) = [t for t in op.targets if isinstance(t, TemporalNamespaces)]
    desired = target.desired(load_inputs(op.project))
    first = await target.observe(desired)
    assert await target.observe(desired) is first  # nothing differed: the same snapshot
    quiet = await op.plan()
    assert quiet.drift == [] and await op.plan() is not quiet

    # someone edits the namespace by hand: the next read sees it, the diff repairs it
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace="cache-dev-local", update_info=UpdateNamespaceInfo(description="by hand")
        )
    )
    assert await target.observe(desired) is not first
    drift = (await op.plan()).drift
    assert [(c.name, c.op, [f.field for f in c.fields]) for c in drift] == [
        ("cache-dev-local", Op.UPDATE, ["description"])
    ]
    assert (await op.apply_once(timeout=60)).converged
    assert (await describe(client, "cache-dev-local"))[1] == "as specified"
