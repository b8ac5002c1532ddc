"""Every manifest Paved renders is valid for a pinned Kubernetes version (and KEDA's schema).

Built-in kinds: ``kubernetes-validate --strict`` (the official OpenAPI schemas, with
unknown fields refused) for Kubernetes ``K8S_VERSION``. KEDA's ScaledObject and
TriggerAuthentication are CRDs kubernetes-validate does not know: they are checked
against KEDA's API schema as compiled by the npm package ``@kubernetes-models/keda``
(pinned in ``tests/operator/keda/package.json``; generated from KEDA's Go API types).
That schema does not refuse unknown fields, and a trigger's ``metadata`` is a string
map, so the Temporal scaler's keys are checked here against KEDA's documented names.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from paved import operator, specs
from paved.operator import Inputs, _manifests
from paved.operator._k8s import desired_objects
from paved.operator._k8s_fields import unflatten
from tests.operator.test_k8s_emulator import _worker, inputs

K8S_VERSION = "1.33.0"
KEDA_DIR = Path(__file__).parent / "keda"
# The Temporal scaler's trigger metadata keys (KEDA docs, scalers/temporal).
TEMPORAL_SCALER_KEYS = {
    "endpoint",
    "endpointFromEnv",
    "namespace",
    "taskQueue",
    "targetQueueSize",
    "activationTargetQueueSize",
    "queueTypes",
    "workerDeploymentName",
    "workerDeploymentBuildId",
    "minConnectTimeout",
    "unsafeSsl",
    "tlsServerName",
    "enableTLS",
}


def _all_rendered() -> list[dict[str, Any]]:
    """The operator's objects for every autoscaler kind, and the scaffold's manifests."""
    objs: list[dict[str, Any]] = []
    for kind in ("none", "hpa", "keda"):
        inp = inputs([_worker("render"), _worker("thumbs", replicas=0)], {"render": kind})
        for d in desired_objects(inp, "eu"):
            if d.kind != "SecretRef":
                objs.append(unflatten({k: v for k, v in d.spec.items() if not k.startswith("~")}))
    for text in operator.render_k8s(_worker("render"), project="gallery").values():
        objs.append(yaml.safe_load(text))
    # A worker with a declared capacity: its Deployments carry the shared store's URL.
    for d in desired_objects(_gated_inputs("keda"), "eu"):
        if d.kind == "Deployment":
            objs.append(unflatten({k: v for k, v in d.spec.items() if not k.startswith("~")}))
    gpu = _worker("gpu").model_copy(update={"capacity": 8})
    objs.append(yaml.safe_load(operator.render_k8s(gpu, project="gallery")["deployment.yaml"]))
    return objs


REDIS = "redis://paved-redis.paved.svc:6379/0"


def _gated_inputs(autoscaler: str) -> Inputs:
    """A gated worker (capacity 8) and a plain one in a cluster whose pods share a Redis."""
    gpu = _worker("gpu").model_copy(update={"capacity": 8})
    base = inputs([gpu, _worker("thumbs")], {"gpu": autoscaler})
    data = base.config.model_dump()
    data["clusters"]["eu"]["kubernetes"]["capacity_redis_url"] = REDIS
    return dataclasses.replace(base, config=specs.ProjectConfig.model_validate(data))


def _container_env(dep: dict[str, Any]) -> dict[str, Any]:
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in env}


def test_a_gated_workers_pods_get_the_capacity_store() -> None:
    """clusters.<name>.kubernetes.capacity_redis_url reaches the pods of a worker with a
    declared capacity (its replicas share the permits there), and only those."""
    deps = {
        d.name: unflatten({k: v for k, v in d.spec.items() if not k.startswith("~")})
        for d in desired_objects(_gated_inputs("keda"), "eu")
        if d.kind == "Deployment"
    }
    assert _container_env(deps["art/gpu"])[specs.CAPACITY_REDIS_ENV] == REDIS
    assert specs.CAPACITY_REDIS_ENV not in _container_env(deps["art/thumbs"])
    # Without the setting: nothing rendered (the worker warns PAVED-CAPACITY-UNSHARED).
    plain = inputs([_worker("gpu").model_copy(update={"capacity": 8})], {"gpu": "keda"})
    dep = next(d for d in desired_objects(plain, "eu") if d.kind == "Deployment")
    env = _container_env(unflatten({k: v for k, v in dep.spec.items() if not k.startswith("~")}))
    assert specs.CAPACITY_REDIS_ENV not in env
    # The scaffold's Deployment reads it from the cluster's ConfigMap, optionally.
    gpu = _worker("gpu").model_copy(update={"capacity": 8})
    scaffold = yaml.safe_load(operator.render_k8s(gpu, project="gallery")["deployment.yaml"])
    ref = _container_env(scaffold)[specs.CAPACITY_REDIS_ENV]["configMapKeyRef"]
    assert ref == {"name": "paved-cluster", "key": "capacity-redis-url", "optional": True}
    with pytest.raises(ValueError, match="capacity_redis_url"):
        specs.KubernetesEndpoint(capacity_redis_url="paved-redis:6379")


def _builtin(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objs if not o["apiVersion"].startswith("keda.sh/")]


def _keda(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objs if o["apiVersion"].startswith("keda.sh/")]


def test_every_builtin_manifest_is_valid_for_the_pinned_kubernetes() -> None:
    objs = _builtin(_all_rendered())
    kinds = {o["kind"] for o in objs}
    assert kinds == {"ServiceAccount", "ConfigMap", "Deployment", "HorizontalPodAutoscaler"}
    for o in objs:
        kubernetes_validate.validate(o, K8S_VERSION, strict=True)


def test_the_validator_refuses_what_kubernetes_would() -> None:
    dep = next(o for o in _builtin(_all_rendered()) if o["kind"] == "Deployment")
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


def _keda_validator() -> Path:
    """KEDA's schema package, installed from the npm registry on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed to check KEDA objects (Debian: nodejs npm)")
    if not (KEDA_DIR / "node_modules" / "@kubernetes-models" / "keda").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=KEDA_DIR,
            check=True,
            timeout=180,
        )
    return KEDA_DIR / "validate.mjs"


def _validate_keda(objs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    script = _keda_validator()
    return subprocess.run(
        ["node", str(script)],
        input=json.dumps(objs),
        capture_output=True,
        text=True,
        cwd=KEDA_DIR,
        timeout=60,
    )


def test_keda_objects_match_kedas_schema_and_the_temporal_scaler() -> None:
    objs = _keda(_all_rendered())
    assert {o["kind"] for o in objs} == {"ScaledObject", "TriggerAuthentication"}
    out = _validate_keda(objs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("ok ") == len(objs)
    so = next(o for o in objs if o["kind"] == "ScaledObject")
    for trigger in so["spec"]["triggers"]:
        assert trigger["type"] == "temporal"
        assert set(trigger["metadata"]) <= TEMPORAL_SCALER_KEYS
        assert {"endpoint", "namespace", "taskQueue", "targetQueueSize"} <= set(trigger["metadata"])
        assert all(isinstance(v, str) for v in trigger["metadata"].values())
    # and the check can fail
    so["spec"]["minReplicaCount"] = "zero"
    bad = _validate_keda([so])
    assert bad.returncode == 1 and "minReplicaCount must be integer" in bad.stdout


def test_autoscaler_settings_reach_the_objects() -> None:
    cfg = specs.AutoscalerConfig(
        kind="hpa", min_replicas=2, max_replicas=12, target_slot_utilization=0.6
    )
    objs = _manifests.worker_objects(
        _worker("render"),
        project="gallery",
        name="render",
        k8s_namespace="art",
        region="eu",
        environment="prod",
        proxy_address="p:7233",
        autoscaler=cfg,
        spec_files={"workers.yaml": "x: 1\n"},
    )
    hpa = objs[-1]
    assert hpa["kind"] == "HorizontalPodAutoscaler"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 12)
    pods = next(m for m in hpa["spec"]["metrics"] if m["type"] == "Pods")["pods"]
    assert pods["target"]["averageValue"] == "600m"
    dep = next(o for o in objs if o["kind"] == "Deployment")
    assert "replicas" not in dep["spec"]


@pytest.mark.parametrize("kind", ["hpa", "keda"])
def test_kubernetes_scales_like_the_local_autoscaler(kind: str) -> None:
    """One policy: the HPA's (or KEDA's) behaviour is what paved.autoscale.decide does."""
    from paved import autoscale

    cfg = specs.AutoscalerConfig(
        kind=kind,  # type: ignore[arg-type]
        min_replicas=1,
        max_replicas=4,
        target_slot_utilization=0.75,
        scale_down_after_seconds=120,
        max_scale_up_factor=2.0,
        interval_seconds=10,
    )
    worker = _worker("render")
    objs = _manifests.worker_objects(
        worker, project="gallery", name="render", k8s_namespace="art", region="eu",
        environment="prod", proxy_address="p:7233", autoscaler=cfg,
        spec_files={"workers.yaml": "x: 1\n"},
    )  # fmt: skip
    policy = autoscale.Policy.of(cfg)
    if kind == "hpa":
        spec = objs[-1]["spec"]
        behavior = spec["behavior"]
        assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 4)
    else:
        so = objs[-1]["spec"]
        behavior = so["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert so["cooldownPeriod"] == 120 and so["pollingInterval"] == 10
        slots = {
            "workflow": worker.tuning.max_concurrent_workflow_tasks,
            "activity": worker.tuning.max_concurrent_activities,
        }
        for trigger, q in zip(so["triggers"], worker.queues, strict=True):
            want = max(1, round(slots.get(q.kind, slots["activity"]) * 0.75))
            assert trigger["metadata"]["targetQueueSize"] == str(want)
        assert _validate_keda(objs[-1:]).returncode == 0
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == policy.scale_down_after_seconds
    up = behavior["scaleUp"]
    assert up["stabilizationWindowSeconds"] == 0
    assert up["policies"][0] == {"type": "Percent", "value": 100, "periodSeconds": 10}
    assert policy.max_scale_up_factor == 1 + up["policies"][0]["value"] / 100
