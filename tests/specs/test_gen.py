"""``paved gen`` and ``paved gen --check``: deterministic specs from code, errors with places."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.conftest import unique_pkg

PAVED = [sys.executable, "-m", "paved.cli"]


def project_files(pkg: str, extra: str = "") -> dict[str, str]:
    return {
        "paved.yaml": f"""\
project: shop
packages: [{pkg}]
regions: [us, eu]
environments: [dev, prod]
namespaces:
  orders:
    owner: team-orders
    tier: 1
    retention: 3d
workers:
  orders-worker:
    replicas: 3
    tuning:
      max_concurrent_activities: 16
""",
        f"{pkg}/__init__.py": "",
        f"{pkg}/flows.py": f"""\
import paved
from temporalio import workflow

@paved.activity(namespace="orders", worker="orders-worker")
async def charge(amount: int) -> str:
    return "ok"

@paved.activity(namespace="orders", worker="orders-gpu")
async def render(x: int) -> int:
    return x

@paved.workflow(namespace="orders", worker="orders-worker")
class Checkout:
    @workflow.run
    async def run(self, amount: int) -> str:
        return await paved.execute_activity(charge, amount)
{extra}
""",
    }


def paved(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A subprocess per call: the decorator registry is process-global.
    return subprocess.run(
        [*PAVED, *args, "--project", str(root)], capture_output=True, text=True, timeout=120
    )


def test_gen_writes_three_deterministic_specs(make_project) -> None:  # type: ignore[no-untyped-def]
    pkg = unique_pkg("shop")
    root = make_project(project_files(pkg))
    r = paved(root, "gen")
    assert r.returncode == 0, r.stderr
    files = {
        n: (root / "specs" / n).read_text()
        for n in ("namespaces.yaml", "workflows.yaml", "workers.yaml")
    }
    # Running again changes nothing, byte for byte.
    r2 = paved(root, "gen")
    assert "specs unchanged" in r2.stdout
    assert files == {n: (root / "specs" / n).read_text() for n in files}

    ns = yaml.safe_load(files["namespaces.yaml"])["namespaces"][0]
    assert ns["name"] == "orders" and ns["retention_days"] == 3 and ns["tier"] == 1
    assert sorted(p["name"] for p in ns["physical"]) == [
        "orders-dev-eu",
        "orders-dev-us",
        "orders-prod-eu",
        "orders-prod-us",
    ]
    wfs = yaml.safe_load(files["workflows.yaml"])
    assert wfs["workflows"] == [
        {
            "name": "Checkout",
            "namespace": "orders",
            "task_queue": "orders-worker-workflows",
            "worker": "orders-worker",
            "module": f"{pkg}.flows",
            "qualname": "Checkout",
            "tier": None,
        }
    ]
    workers = {w["name"]: w for w in yaml.safe_load(files["workers.yaml"])["workers"]}
    assert set(workers) == {"orders-gpu", "orders-worker"}
    w = workers["orders-worker"]
    assert w["replicas"] == 3 and w["owner"] == "team-orders"
    assert w["tuning"]["max_concurrent_activities"] == 16
    assert {q["name"]: q["kind"] for q in w["queues"]} == {
        "orders-worker-activities": "activity",
        "orders-worker-workflows": "workflow",
    }
    assert workers["orders-gpu"]["queues"] == [
        {
            "name": "orders-gpu-activities",
            "kind": "activity",
            "workflows": [],
            "activities": ["render"],
        }
    ]


def test_check_fails_with_a_diff_when_code_changes(make_project) -> None:  # type: ignore[no-untyped-def]
    pkg = unique_pkg("shop")
    root = make_project(project_files(pkg))
    assert paved(root, "gen").returncode == 0
    ok = paved(root, "gen", "--check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    flows = root / pkg / "flows.py"
    flows.write_text(flows.read_text().replace("class Checkout", "class Checkout2"))
    stale = paved(root, "gen", "--check")
    assert stale.returncode == 1
    assert "-  qualname: Checkout" in stale.stdout or "-- name: Checkout" in stale.stdout
    assert "+- name: Checkout2" in stale.stdout
    assert "specs are stale" in stale.stderr
    # --check wrote nothing.
    assert "Checkout2" not in (root / "specs" / "workflows.yaml").read_text()


def test_unknown_namespace_is_reported_with_file_line_and_fix(make_project) -> None:  # type: ignore[no-untyped-def]
    pkg = unique_pkg("shop")
    extra = """
@paved.activity(namespace="billing", worker="billing-worker")
async def refund(x: int) -> int:
    return x
"""
    root = make_project(project_files(pkg, extra))
    r = paved(root, "gen")
    assert r.returncode == 2
    assert "PAVED-DEF-UNKNOWN-NAMESPACE" in r.stderr
    text = (root / pkg / "flows.py").read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if 'namespace="billing"' in t)
    assert f"{pkg}/flows.py:{line}: activity 'refund'" in r.stderr  # the decorator's line
    assert "namespaces:" in r.stderr and "Traceback" not in r.stderr


def test_hand_edited_spec_error_names_file_key_and_line(make_project) -> None:  # type: ignore[no-untyped-def]
    from paved import ProjectError, specs

    pkg = unique_pkg("shop")
    root = make_project(project_files(pkg))
    assert paved(root, "gen").returncode == 0
    path = root / "specs" / "workers.yaml"
    text = path.read_text().replace("replicas: 3", "replicas: three")
    path.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "replicas: three" in t)
    with pytest.raises(ProjectError) as e:
        specs.Project.load(root).specs()
    msg = str(e.value)
    assert f"workers.yaml:{line}" in msg
    assert "workers[1].replicas" in msg and "'three'" in msg


def test_project_file_typo_is_an_error_not_a_default(make_project) -> None:  # type: ignore[no-untyped-def]
    pkg = unique_pkg("shop")
    files = project_files(pkg)
    files["paved.yaml"] = files["paved.yaml"].replace("    tier: 1", "    teir: 1")
    root = make_project(files)
    r = paved(root, "gen")
    assert r.returncode == 2
    assert (
        "paved.yaml:8: namespaces.orders.teir: Extra inputs are not permitted" in r.stderr
        and "namespaces.orders.teir" in r.stderr
    )


def test_worker_serving_two_namespaces_is_refused(make_project) -> None:  # type: ignore[no-untyped-def]
    pkg = unique_pkg("shop")
    files = project_files(
        pkg,
        """
@paved.activity(namespace="audit", worker="orders-worker", task_queue="audit-q")
async def log_it(x: int) -> int:
    return x
""",
    )
    files["paved.yaml"] = files["paved.yaml"].replace(
        "workers:\n", "  audit:\n    owner: team-audit\nworkers:\n"
    )
    root = make_project(files)
    r = paved(root, "gen")
    assert r.returncode == 2 and "PAVED-DEF-WORKER-NAMESPACES" in r.stderr


def test_search_attributes_flow_from_paved_yaml_to_the_dev_server(make_project) -> None:  # type: ignore[no-untyped-def]
    from paved import specs
    from paved.dev import search_attributes

    pkg = unique_pkg("shop")
    files = project_files(pkg)
    files["paved.yaml"] = files["paved.yaml"].replace(
        "    retention: 3d\n",
        "    retention: 3d\n    search_attributes:\n      OrderUser: Keyword\n",
    )
    root = make_project(files)
    assert paved(root, "gen").returncode == 0
    ns = yaml.safe_load((root / "specs" / "namespaces.yaml").read_text())["namespaces"][0]
    assert ns["search_attributes"] == {"OrderUser": "Keyword"}
    assert search_attributes(specs.Project.load(root).specs()) == {"OrderUser": "Keyword"}

    bad = files["paved.yaml"].replace("OrderUser: Keyword", "Order-User: Keyword")
    (root / "paved.yaml").write_text(bad)
    r = paved(root, "gen")
    assert r.returncode == 2 and "Order-User" in r.stderr and "search_attributes" in r.stderr
