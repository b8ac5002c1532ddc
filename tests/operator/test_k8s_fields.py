"""Kubernetes objects as flat field maps: the round trip and the projection the diff relies on."""

from __future__ import annotations

from typing import Any

from paved.operator._k8s_fields import flatten, project, unflatten

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "w", "labels": {"app.kubernetes.io/name": "w", "a~b/c": "x"}},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "worker",
                        "args": ["paved", "worker", "run"],
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": ""}],
                    }
                ],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            }
        },
        "matrix": [[1, 2], [3]],
    },
}


def test_flatten_names_each_leaf_and_round_trips() -> None:
    flat = flatten(DEPLOYMENT)
    assert flat["metadata/labels/app.kubernetes.io~1name"] == "w"
    assert flat["metadata/labels/a~0b~1c"] == "x"
    assert flat["spec/template/spec/containers[0]/env[1]/value"] == ""
    assert flat["spec/template/spec/volumes[0]/emptyDir"] == {}
    assert flat["spec/matrix[0][1]"] == 2
    assert unflatten(flat) == DEPLOYMENT


def test_projection_ignores_what_the_server_adds_and_reports_what_drifted() -> None:
    desired = flatten(DEPLOYMENT)
    live = unflatten(desired)
    live["status"] = {"replicas": 3}
    live["spec"]["replicas"] = 7  # the autoscaler's, not in the desired manifest
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    live["spec"]["template"]["spec"]["volumes"][0]["emptyDir"] = {"medium": ""}
    assert project(live, desired) == desired
    live["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "2"
    del live["metadata"]["labels"]["a~b/c"]
    got = project(live, desired)
    changed = {k for k in desired if got[k] != desired[k]}
    assert changed == {
        "spec/template/spec/containers[0]/env[0]/value",
        "metadata/labels/a~0b~1c",
    }
