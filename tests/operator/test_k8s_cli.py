"""`paved operator apply --once --clusters` and `plan --clusters` end to end, as a user runs them.

The project declares one cluster: its Temporal is the session's real dev server,
its Kubernetes is the kmock emulator behind a kubeconfig file. The commands run as
subprocesses; the emulator and the dev server are checked afterwards.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import kmock
import yaml
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from paved import specs
from paved.dev import DevServer
from paved.sdk import physical_namespace
from tests.operator.k8s_emulator import ApplyEmulator, kubeconfig, stored
from tests.operator.test_k8s_emulator import _worker


def _project(root: Path, logical: str, dev: DevServer, kubeconfig_file: Path) -> None:
    (root / "specs").mkdir(parents=True)
    (root / "paved.yaml").write_text(
        yaml.safe_dump(
            {
                "project": "gallery",
                "packages": ["gallery"],
                "regions": ["eu"],
                "environments": ["prod"],
                "namespaces": {logical: {"owner": "team-art"}},
                "workers": {"render": {"autoscaler": {"kind": "hpa", "max_replicas": 6}}},
                "clusters": {
                    "eu": {
                        "region": "eu",
                        "temporal": {"address": dev.address},
                        "kubernetes": {"kubeconfig": str(kubeconfig_file), "context": "eu"},
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    worker = _worker("render").model_copy(update={"namespace": logical})
    ns = specs.NamespaceSpec(
        name=logical,
        owner="team-art",
        tier=2,
        retention_days=7,
        regions=["eu"],
        environments=["prod"],
        rate_limit=specs.RateLimit(),
        physical=[
            specs.PhysicalNamespace(
                name=physical_namespace(logical, "eu", "prod"), region="eu", environment="prod"
            )
        ],
    )
    files = {
        "namespaces.yaml": specs.NamespacesFile(namespaces=[ns]),
        "workflows.yaml": specs.WorkflowsFile(workflows=[], activities=[]),
        "workers.yaml": specs.WorkersFile(workers=[worker]),
    }
    for name, model in files.items():
        (root / "specs" / name).write_text(specs.dump(model.model_dump(mode="json")))


async def _paved(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "paved.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_apply_and_plan_reconcile_the_declared_cluster(
    tmp_path: Path, dev_server: DevServer, client: Client
) -> None:
    logical = f"art-{uuid.uuid4().hex[:6]}"
    async with ApplyEmulator() as emu, kmock.Server(emu) as srv:
        kc = tmp_path / "kubeconfig.yaml"
        kc.write_text(yaml.safe_dump(kubeconfig(str(srv.url), "eu")), encoding="utf-8")
        root = tmp_path / "proj"
        _project(root, logical, dev_server, kc)
        emu.objects["v1/secrets", logical, "render-paved"] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "render-paved", "namespace": logical},
        }

        plan = await _paved("operator", "plan", "--clusters", "--project", str(root))
        assert plan.returncode == 1, plan.stdout + plan.stderr  # drift: everything to create
        assert "k8s:eu" in plan.stdout and "temporal:eu" in plan.stdout
        assert f"+ Deployment {logical}/render" in plan.stdout

        out = await _paved("operator", "apply", "--once", "--clusters", "--project", str(root))
        assert out.returncode == 0, out.stdout + out.stderr
        dep = stored(emu, "deployments", logical, "render")
        assert dep is not None and "replicas" not in dep["spec"]
        hpa = stored(emu, "horizontalpodautoscalers", logical, "render")
        assert hpa is not None and hpa["spec"]["maxReplicas"] == 6
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=physical_namespace(logical, "eu", "prod"))
        )

        again = await _paved("operator", "plan", "--clusters", "--project", str(root))
        assert again.returncode == 0, again.stdout + again.stderr
