"""The Kubernetes target's HTTP contract, against the kmock API emulator (see k8s_emulator.py).

What is exercised: the requests lightkube sends for the operator (server-side
apply with ``fieldManager=paved``/``force``, cluster-wide owned lists, GETs,
background deletes), the operator's decisions from what the emulator returns,
and what the emulator stores. What is not: a real API server's field
ownership, defaulting, validation or garbage collection (see docs/operator.md).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kmock
import pytest

from paved import specs
from paved.operator import Change, Inputs, Op, OperatorError, Rules, TerminalError, diff
from paved.operator._clusters import cluster_targets
from paved.operator._k8s import KubernetesTarget
from paved.operator._k8s_client import Connection, KubeError
from paved.operator._reconcile import Backoff, Reconciler
from paved.sdk import physical_namespace
from tests.operator.k8s_emulator import ApplyEmulator, body, kubeconfig, stored, writes

PROJECT = "gallery"


def _worker(name: str, replicas: int = 2, image: str = "gallery/render:1") -> specs.WorkerSpec:
    return specs.WorkerSpec(
        name=name,
        namespace="art",
        owner="team-art",
        tier=1,
        replicas=replicas,
        image=image,
        modules=[f"gallery.{name}"],
        queues=[
            specs.QueueSpec(name=f"{name}-wf", kind="workflow", workflows=["Render"]),
            specs.QueueSpec(name=f"{name}-act", kind="activity", activities=["paint"]),
        ],
        tuning=specs.WorkerTuning(),
    )


def inputs(
    workers: list[specs.WorkerSpec],
    autoscalers: dict[str, str] | None = None,
    clusters: tuple[str, ...] = ("eu",),
) -> Inputs:
    regions = sorted(clusters)
    config = specs.ProjectConfig.model_validate(
        {
            "project": PROJECT,
            "packages": ["gallery"],
            "regions": regions,
            "environments": ["prod"],
            "namespaces": {"art": {"owner": "team-art", "tier": 1}},
            "workers": {
                w.name: {"autoscaler": {"kind": (autoscalers or {}).get(w.name, "none")}}
                for w in workers
            },
            "clusters": {
                r: {
                    "region": r,
                    "temporal": {"address": f"temporal.{r}:7233"},
                    "kubernetes": {"context": r, "proxy_address": f"paved-proxy.{r}:7233"},
                }
                for r in regions
            },
        }
    )
    ns = specs.NamespaceSpec(
        name="art",
        owner="team-art",
        tier=1,
        retention_days=7,
        regions=regions,
        environments=["prod"],
        rate_limit=specs.RateLimit(),
        physical=[
            specs.PhysicalNamespace(
                name=physical_namespace("art", r, "prod"), region=r, environment="prod"
            )
            for r in regions
        ],
    )
    return Inputs(
        project=PROJECT,
        root=Path("."),
        config=config,
        specs=specs.Specs(
            namespaces=specs.NamespacesFile(namespaces=[ns]),
            workflows=specs.WorkflowsFile(workflows=[], activities=[]),
            workers=specs.WorkersFile(workers=workers),
        ),
    )


@dataclass
class Pass:
    plan: list[Change]
    errors: dict[tuple[str, str], Exception] = field(default_factory=dict)

    def ops(self, op: Op) -> set[tuple[str, str]]:
        return {c.key for c in self.plan if c.op is op}


async def run_pass(target: KubernetesTarget, inp: Inputs) -> Pass:
    """One level-based pass: desired, observe, the pure diff, apply each write (errors kept)."""
    desired = target.desired(inp)
    snapshot = await target.observe(desired)
    plan = diff(desired, snapshot, Rules(now=time.time(), kinds=target.kinds))
    out = Pass(plan)
    for c in plan:
        if c.is_write:
            try:
                await target.apply(c)
            except OperatorError as e:
                out.errors[c.key] = e
    return out


@dataclass
class Cluster:
    emulator: ApplyEmulator
    server: kmock.Server
    connection: Connection

    def secret(self, namespace: str, name: str) -> None:
        self.emulator.objects["v1/secrets", namespace, name] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"api-key": "c2VjcmV0"},
        }


@pytest.fixture
async def eu() -> AsyncIterator[Cluster]:
    async with ApplyEmulator() as emu, kmock.Server(emu) as srv:
        yield Cluster(
            emu, srv, Connection(config_dict=kubeconfig(str(srv.url), "eu"), context="eu")
        )


def _deployment(name: str, labels: dict[str, str], replicas: int = 1) -> dict[str, Any]:
    """A Deployment someone else made (complete enough for a typed client to read)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "art", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "legacy:1"}]},
            },
        },
    }


def _target(inp: Inputs, conns: dict[str, Connection]) -> dict[str, KubernetesTarget]:
    return {
        t.cluster: t
        for t in cluster_targets(inp.project, inp.config, kube=conns)
        if isinstance(t, KubernetesTarget)
    }


async def test_first_pass_creates_by_server_side_apply_and_second_pass_writes_nothing(
    eu: Cluster,
) -> None:
    inp = inputs([_worker("render")])
    target = _target(inp, {"eu": eu.connection})["eu"]
    first = await run_pass(target, inp)
    # The Secret with the API key is referenced, never written: missing, it is an error with the fix.
    err = first.errors[("SecretRef", "art/render-paved")]
    assert isinstance(err, TerminalError) and err.code == "PAVED-K8S-SECRET-MISSING"
    assert "kubectl -n art create secret generic render-paved" in str(err)
    applied = writes(eu.emulator)
    assert [(r.resource.plural, r.name) for r in applied] == [
        ("serviceaccounts", "render"),
        ("configmaps", "render-specs"),
        ("deployments", "render"),
    ]
    for r in applied:
        assert r.method == "PATCH"
        assert r.headers["Content-Type"] == "application/apply-patch+yaml"
        assert r.params["fieldManager"] == "paved" and r.params["force"] == "true"
        assert body(r)["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "paved"
        assert body(r)["metadata"]["labels"]["paved.dev/project"] == PROJECT
    dep = stored(eu.emulator, "deployments", "art", "render")
    assert dep is not None and dep["spec"]["replicas"] == 2  # no autoscaler: the spec's count
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PAVED_REGION"]["value"] == "eu" and env["PAVED_ENV"]["value"] == "prod"
    assert env["PAVED_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "render-paved"
    cm = stored(eu.emulator, "configmaps", "art", "render-specs")
    assert cm is not None and "render-wf" in cm["data"]["workers.yaml"]
    # Owned objects are listed cluster-wide with the ownership selector.
    lists = [r for r in list(eu.emulator) if r.method == "GET" and r.name is None and r.resource]
    assert lists and all(
        r.params["labelSelector"]
        == f"app.kubernetes.io/managed-by=paved,paved.dev/project={PROJECT}"
        for r in lists
    )

    eu.secret("art", "render-paved")
    before = len(writes(eu.emulator))
    second = await run_pass(target, inp)
    assert not second.errors
    assert len(writes(eu.emulator)) == before, "a pass with nothing changed writes nothing"
    assert all(c.op is Op.NONE for c in second.plan)
    await target.api.close()


async def test_replicas_are_never_written_once_an_autoscaler_exists(eu: Cluster) -> None:
    eu.secret("art", "render-paved")
    inp = inputs([_worker("render")], {"render": "hpa"})
    target = _target(inp, {"eu": eu.connection})["eu"]
    await run_pass(target, inp)
    dep_req = next(r for r in writes(eu.emulator) if r.resource.plural == "deployments")
    assert "replicas" not in body(dep_req)["spec"]
    hpa = stored(eu.emulator, "horizontalpodautoscalers", "art", "render")
    assert hpa is not None
    slots = next(m for m in hpa["spec"]["metrics"] if m["type"] == "Pods")
    assert slots["pods"]["metric"]["name"] == "paved_worker_slot_utilization"

    # The HPA scales to 7; then the image changes in the specs: the update leaves replicas alone.
    eu.emulator.objects["apps/v1/deployments", "art", "render"].patch({"spec": {"replicas": 7}})
    assert not [c for c in (await run_pass(target, inp)).plan if c.is_write]  # 7 is not drift
    n = len(writes(eu.emulator))
    inp2 = inputs([_worker("render", image="gallery/render:2")], {"render": "hpa"})
    p = await run_pass(target, inp2)
    assert p.ops(Op.UPDATE) == {("Deployment", "art/render"), ("ConfigMap", "art/render-specs")}
    new = writes(eu.emulator)[n:]
    dep_req = next(r for r in new if r.resource.plural == "deployments")
    assert "replicas" not in body(dep_req)["spec"]
    dep = stored(eu.emulator, "deployments", "art", "render")
    assert dep is not None and dep["spec"]["replicas"] == 7
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "gallery/render:2"

    # Back to fixed replicas: while the HPA still exists, the Deployment is applied without them;
    # the HPA goes; the next pass sets the spec's count.
    inp3 = inputs([_worker("render", image="gallery/render:2")])
    n = len(writes(eu.emulator))
    p = await run_pass(target, inp3)
    new = writes(eu.emulator)[n:]
    assert [(r.method, r.resource.plural) for r in new] == [
        ("PATCH", "deployments"),
        ("DELETE", "horizontalpodautoscalers"),
    ]
    assert "replicas" not in body(new[0])["spec"]
    assert new[1].params.get("propagationPolicy") == "Background"
    await run_pass(target, inp3)
    dep = stored(eu.emulator, "deployments", "art", "render")
    assert dep is not None and dep["spec"]["replicas"] == 2
    await target.api.close()


async def test_gaining_an_autoscaler_hands_replicas_over_first(eu: Cluster) -> None:
    """A Deployment whose replicas the operator owned (managedFields) keeps its count:
    a separate field manager takes `replicas` at the live value before the operator drops it."""
    eu.secret("art", "render-paved")
    target = _target(inputs([_worker("render")]), {"eu": eu.connection})["eu"]
    await run_pass(target, inputs([_worker("render")]))
    eu.emulator.objects["apps/v1/deployments", "art", "render"].patch(
        {
            "spec": {"replicas": 4},
            "metadata": {
                "managedFields": [
                    {
                        "manager": "paved",
                        "operation": "Apply",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}},
                    }
                ]
            },
        }
    )
    n = len(writes(eu.emulator))
    p = await run_pass(target, inputs([_worker("render")], {"render": "keda"}))
    assert not p.errors
    new = writes(eu.emulator)[n:]
    assert [(r.resource.plural, r.params["fieldManager"]) for r in new] == [
        ("triggerauthentications", "paved"),
        ("deployments", "paved-replicas-handover"),
        ("deployments", "paved"),
        ("scaledobjects", "paved"),
    ]
    assert body(new[1])["spec"] == {"replicas": 4}
    assert "replicas" not in body(new[2])["spec"]
    so = stored(eu.emulator, "scaledobjects", "art", "render")
    assert so is not None
    # What a real API server now records (kmock keeps no managedFields): the handover
    # manager owns replicas, the operator's apply no longer does.
    eu.emulator.objects["apps/v1/deployments", "art", "render"].patch(
        {
            "metadata": {
                "managedFields": [
                    {
                        "manager": "paved",
                        "operation": "Apply",
                        "fieldsV1": {"f:spec": {"f:template": {}}},
                    },
                    {
                        "manager": "paved-replicas-handover",
                        "operation": "Apply",
                        "fieldsV1": {"f:spec": {"f:replicas": {}}},
                    },
                ]
            }
        }
    )
    # KEDA then creates its HPA with the ScaledObject's labels copied (and itself as controller):
    # not the operator's to prune.
    eu.emulator.objects["autoscaling/v2/horizontalpodautoscalers", "art", "keda-hpa-render"] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "keda-hpa-render",
            "namespace": "art",
            "labels": so["metadata"]["labels"],
            "ownerReferences": [
                {
                    "apiVersion": "keda.sh/v1alpha1",
                    "kind": "ScaledObject",
                    "name": "render",
                    "uid": "u-1",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "render"},
            "maxReplicas": 10,
        },
    }
    n = len(writes(eu.emulator))
    p = await run_pass(target, inputs([_worker("render")], {"render": "keda"}))
    assert not p.errors and len(writes(eu.emulator)) == n
    assert stored(eu.emulator, "horizontalpodautoscalers", "art", "keda-hpa-render") is not None
    assert {t["metadata"]["taskQueue"] for t in so["spec"]["triggers"]} == {
        "render-wf",
        "render-act",
    }
    assert all(t["authenticationRef"]["name"] == "render-temporal" for t in so["spec"]["triggers"])
    await target.api.close()


async def test_prune_deletes_only_what_this_project_owns(eu: Cluster) -> None:
    eu.secret("art", "render-paved")
    eu.secret("art", "thumbs-paved")
    both = inputs([_worker("render"), _worker("thumbs")], {"thumbs": "hpa"})
    target = _target(both, {"eu": eu.connection})["eu"]
    await run_pass(target, both)
    foreign = {
        "legacy": {},  # no labels: made by hand
        "other": {"app.kubernetes.io/managed-by": "paved", "paved.dev/project": "other"},
        "half": {"paved.dev/project": PROJECT},  # not managed-by paved
    }
    for name, labels in foreign.items():
        eu.emulator.objects["apps/v1/deployments", "art", name] = _deployment(name, labels)
    n = len(writes(eu.emulator))
    p = await run_pass(target, inputs([_worker("render")]))  # thumbs removed from the specs
    assert not p.errors
    new = writes(eu.emulator)[n:]
    deleted = [(r.resource.plural, r.name) for r in new if r.method == "DELETE"]
    # The specs changed, so render's ConfigMap and pods (specs digest) are updated too.
    assert {(r.resource.plural, r.name) for r in new if r.method == "PATCH"} == {
        ("configmaps", "render-specs"),
        ("deployments", "render"),
    }
    # Autoscaler first, then the Deployment, its ConfigMap and ServiceAccount.
    assert deleted == [
        ("horizontalpodautoscalers", "thumbs"),
        ("deployments", "thumbs"),
        ("configmaps", "thumbs-specs"),
        ("serviceaccounts", "thumbs"),
    ]
    # The emulator ignores label selectors and listed the foreign Deployments too: the
    # operator's own ownership check kept them.
    for name in foreign:
        assert stored(eu.emulator, "deployments", "art", name) is not None
    assert stored(eu.emulator, "deployments", "art", "render") is not None
    await target.api.close()


async def test_a_name_taken_by_someone_else_is_left_alone(eu: Cluster) -> None:
    eu.secret("art", "render-paved")
    eu.emulator.objects["apps/v1/deployments", "art", "render"] = _deployment(
        "render", {"team": "legacy"}, replicas=9
    )
    inp = inputs([_worker("render")])
    target = _target(inp, {"eu": eu.connection})["eu"]
    p = await run_pass(target, inp)
    held = next(c for c in p.plan if c.key == ("Deployment", "art/render"))
    assert held.op is Op.HOLD and "not created by this operator" in held.reason
    assert [r.resource.plural for r in writes(eu.emulator)] == ["serviceaccounts", "configmaps"]
    dep = stored(eu.emulator, "deployments", "art", "render")
    assert dep is not None and dep["spec"]["replicas"] == 9 and "paved.dev/project" not in str(dep)
    await target.api.close()


async def test_a_refused_write_is_an_error_for_that_object_only_and_the_next_pass_converges(
    eu: Cluster,
) -> None:
    eu.secret("art", "render-paved")
    eu.secret("art", "thumbs-paved")
    inp = inputs([_worker("render"), _worker("thumbs")])
    target = _target(inp, {"eu": eu.connection})["eu"]
    eu.emulator.refuse("deployments", "render", 409)
    p = await run_pass(target, inp)
    assert set(p.errors) == {("Deployment", "art/render")}
    err = p.errors[("Deployment", "art/render")]
    assert err.code == "PAVED-K8S-CONFLICT" and "apply Deployment art/render" in str(err)
    assert not isinstance(err, TerminalError)  # retried
    assert stored(eu.emulator, "deployments", "art", "render") is None
    assert stored(eu.emulator, "deployments", "art", "thumbs") is not None
    p = await run_pass(target, inp)
    assert not p.errors and p.ops(Op.CREATE) == {("Deployment", "art/render")}
    assert stored(eu.emulator, "deployments", "art", "render") is not None
    await target.api.close()


async def test_an_unreachable_api_server_changes_nothing() -> None:
    async with ApplyEmulator() as emu, kmock.Server(emu) as srv:
        url = str(srv.url)
    inp = inputs([_worker("render")])
    conn = Connection(config_dict=kubeconfig(url, "eu"), context="eu")
    target = _target(inp, {"eu": conn})["eu"]
    with pytest.raises(KubeError) as e:
        await target.observe(target.desired(inp))
    assert e.value.code == "PAVED-K8S-UNREACHABLE" and "list ServiceAccount" in str(e.value)
    await target.api.close()


async def test_each_cluster_gets_the_workers_of_its_region(eu: Cluster) -> None:
    async with ApplyEmulator() as us_emu, kmock.Server(us_emu) as us_srv:
        us = Cluster(
            us_emu, us_srv, Connection(config_dict=kubeconfig(str(us_srv.url), "us"), context="us")
        )
        inp = inputs([_worker("render")], clusters=("eu", "us"))
        targets = _target(inp, {"eu": eu.connection, "us": us.connection})
        assert set(targets) == {"eu", "us"}
        for name, cluster in (("eu", eu), ("us", us)):
            cluster.secret("art", "render-paved")
            p = await run_pass(targets[name], inp)
            assert not p.errors
            dep = stored(cluster.emulator, "deployments", "art", "render")
            assert dep is not None
            env: dict[str, Any] = {
                e["name"]: e.get("value")
                for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]
            }
            assert env["PAVED_REGION"] == name
            assert env["PAVED_ADDRESS"] == f"paved-proxy.{name}:7233"
            await targets[name].api.close()


async def test_the_operators_reconciler_drives_the_target(eu: Cluster) -> None:
    """Plugged into operator-core's Reconciler: per-object errors in the status, then no-op."""
    inp = inputs([_worker("render")], {"render": "keda"})
    target = _target(inp, {"eu": eu.connection})["eu"]
    rec = Reconciler([target], backoff=Backoff(base=0.0, cap=0.0))
    first = await rec.reconcile(inp)
    objs = {(o.kind, o.name): o for o in first.targets[0].objects}
    assert objs[("SecretRef", "art/render-paved")].state == "error"
    assert "PAVED-K8S-SECRET-MISSING" in objs[("SecretRef", "art/render-paved")].last_error
    assert objs[("ScaledObject", "art/render")].state == "applied"
    eu.secret("art", "render-paved")
    second = await rec.reconcile(inp)
    assert second.converged and second.writes == 0
    await target.api.close()
