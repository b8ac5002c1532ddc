"""A small project on disk for operator tests: paved.yaml and the three spec files,
written from plain dicts (as `paved gen` would), so a test edits specs and re-runs."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, ListNamespacesRequest
from temporalio.client import Client

from paved import specs
from paved.sdk import physical_namespace


def project_name(prefix: str = "op") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_project(
    root: Path,
    project: str,
    namespaces: dict[str, dict[str, Any]],
    workers: dict[str, str] | None = None,
    *,
    regions: list[str] | None = None,
    environments: list[str] | None = None,
) -> Path:
    """``namespaces``: logical -> {owner, retention_days, search_attributes, regions, environments, description}.
    ``workers``: worker -> logical namespace. Physical names are ``<logical>-<env>-<region>``."""
    regions = regions or ["local"]
    environments = environments or ["dev"]
    root.mkdir(parents=True, exist_ok=True)
    (root / "paved.yaml").write_text(
        yaml.safe_dump(
            {
                "project": project,
                "packages": ["unused"],
                "regions": regions,
                "environments": environments,
            }
        )
    )
    ns_specs = []
    for name, n in sorted(namespaces.items()):
        rs, es = n.get("regions", regions), n.get("environments", environments)
        ns_specs.append(
            specs.NamespaceSpec(
                name=name,
                owner=n.get("owner", "team-a"),
                tier=n.get("tier", 2),
                retention_days=n.get("retention_days", 3),
                regions=rs,
                environments=es,
                rate_limit=specs.RateLimit(),
                search_attributes=n.get("search_attributes", {}),
                description=n.get("description", ""),
                physical=[
                    specs.PhysicalNamespace(
                        name=physical_namespace(name, r, e), region=r, environment=e
                    )
                    for e in es
                    for r in rs
                ],
            )
        )
    worker_specs = [
        specs.WorkerSpec(
            name=w,
            namespace=ns,
            owner=namespaces[ns].get("owner", "team-a"),
            tier=2,
            replicas=1,
            modules=["unused.mod"],
            queues=[specs.QueueSpec(name=f"{w}-q", kind="shared", workflows=["Wf"], activities=[])],
            tuning=specs.WorkerTuning(),
        )
        for w, ns in sorted((workers or {}).items())
    ]
    d = root / "specs"
    d.mkdir(exist_ok=True)
    files = {
        "namespaces.yaml": specs.NamespacesFile(namespaces=ns_specs),
        "workflows.yaml": specs.WorkflowsFile(workflows=[], activities=[]),
        "workers.yaml": specs.WorkersFile(workers=worker_specs),
    }
    for fname, model in files.items():
        (d / fname).write_text(specs.dump(model.model_dump(mode="json")))
    return root


async def namespace_names(client: Client) -> set[str]:
    r = await client.workflow_service.list_namespaces(ListNamespacesRequest(page_size=1000))
    return {n.namespace_info.name for n in r.namespaces if n.namespace_info.state != 3}


async def describe(client: Client, name: str) -> tuple[int, str, dict[str, str]]:
    """(retention days, description, data) of ``name``."""
    d = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=name))
    return (
        d.config.workflow_execution_retention_ttl.seconds // 86400,
        d.namespace_info.description,
        dict(d.namespace_info.data),
    )


async def custom_attributes(client: Client, name: str) -> dict[str, int]:
    r = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=name)
    )
    return dict(r.custom_attributes)
