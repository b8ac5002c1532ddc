"""Pieces of ``paved new worker`` on their own: paved.yaml editing and manifest rendering."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from paved import operator, scaffold, specs
from paved.scaffold import _yaml_edit as yaml_edit

BODY = {"owner": "team-y", "tier": 2, "retention": "7d"}


def _add_all(text: str) -> str:
    text = yaml_edit.add_list_item(text, "packages", "new_pkg")
    text = yaml_edit.add_mapping_entry(text, "namespaces", "newns", BODY)
    return yaml_edit.add_mapping_entry(text, "workers", "new-w", {"owner": "team-y", "replicas": 1})


def _assert_subsequence(old: str, new: str) -> None:
    it = iter(new.splitlines())
    missing = [ln for ln in old.splitlines() if ln not in it]
    assert not missing, f"lost or reordered: {missing}\n{new}"


BLOCK = """\
# top comment
project: demo
packages:
  - a   # first
  - b
# about namespaces
namespaces:
  imagegen:
    owner: team-x   # owner
    tier: 1
    rate_limit:
      actions_per_second: 3
    description: |
      two
      lines
# a comment about workers, after the namespaces
workers:
  w1:
    replicas: 2
# the end
"""


def test_block_sections_get_entries_inserted_and_keep_every_comment() -> None:
    new = _add_all(BLOCK)
    _assert_subsequence(BLOCK, new)
    data = yaml.safe_load(new)
    assert data["packages"] == ["a", "b", "new_pkg"]
    assert data["namespaces"]["newns"] == BODY
    assert data["namespaces"]["imagegen"]["description"] == "two\nlines\n"
    assert data["workers"] == {"w1": {"replicas": 2}, "new-w": {"owner": "team-y", "replicas": 1}}
    # Inserted at the end of its section, before the next section's comment.
    lines = new.splitlines()
    assert lines.index("  newns:") < lines.index("# a comment about workers, after the namespaces")
    assert lines.index("  - new_pkg") == lines.index("  - b") + 1


def test_indentation_of_the_file_is_followed() -> None:
    text = "project: demo\npackages:\n- a\nnamespaces:\n    ns:\n        owner: x\n"
    new = _add_all(text)
    assert "- new_pkg\n" in new.splitlines(keepends=True)
    assert "    newns:\n        owner: team-y\n" in new
    assert yaml.safe_load(new)["namespaces"]["newns"] == BODY


@pytest.mark.parametrize(
    "text",
    [
        "project: demo\npackages: [a, b]\nnamespaces: {}\n",
        "project: demo\npackages:\n- a\nnamespaces:\nworkers: ~\n",
        "project: demo\npackages: ['a']\nworkers: {w: {replicas: 2}}  # inline\n",
        "project: demo\npackages: [a]",  # no final newline, sections missing
    ],
)
def test_inline_empty_and_missing_sections(text: str) -> None:
    new = _add_all(text)
    data = yaml.safe_load(new)
    assert data["packages"][-1] == "new_pkg"
    assert data["namespaces"]["newns"] == BODY
    assert data["workers"]["new-w"] == {"owner": "team-y", "replicas": 1}
    before = yaml.safe_load(text)
    for name, value in (before.get("workers") or {}).items():
        assert data["workers"][name] == value
    assert data["packages"][:-1] == before["packages"]


def _spec(**overrides: object) -> specs.WorkerSpec:
    base: dict[str, object] = {
        "name": "render-me",
        "namespace": "art",
        "owner": "team-art",
        "tier": 0,
        "replicas": 3,
        "image": "registry.local/art/render-me:1.2.3",
        "modules": ["render_me.workflows"],
        "queues": [
            specs.QueueSpec(name="render-me-workflows", kind="workflow", workflows=["Render"])
        ],
        "tuning": specs.WorkerTuning(graceful_shutdown_seconds=120),
    }
    base.update(overrides)
    return specs.WorkerSpec.model_validate(base)


def test_manifests_follow_the_worker_spec() -> None:
    out = operator.render_k8s(_spec(), project="gallery", k8s_namespace="art-prod")
    assert set(out) == {"deployment.yaml", "service-account.yaml", "hpa.yaml"}
    dep, sa, hpa = (
        yaml.safe_load(out[f]) for f in ("deployment.yaml", "service-account.yaml", "hpa.yaml")
    )
    assert dep["spec"]["replicas"] == 3
    assert (
        dep["metadata"]["namespace"]
        == sa["metadata"]["namespace"]
        == hpa["metadata"]["namespace"]
        == "art-prod"
    )
    pod = dep["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.local/art/render-me:1.2.3"
    assert pod["terminationGracePeriodSeconds"] >= 120  # the worker's graceful shutdown fits
    assert dep["metadata"]["annotations"]["paved.dev/queues"] == "render-me-workflows"
    for obj in (dep, sa, hpa):
        assert obj["metadata"]["labels"]["paved.dev/owner"] == "team-art"
        assert obj["metadata"]["labels"]["paved.dev/tier"] == "0"
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "gallery"
    assert hpa["spec"]["minReplicas"] == 3
    assert hpa["spec"]["maxReplicas"] >= 3


def test_zero_replicas_still_gives_a_valid_autoscaler() -> None:
    out = operator.render_k8s(_spec(replicas=0, image=None), project="gallery")
    dep, hpa = yaml.safe_load(out["deployment.yaml"]), yaml.safe_load(out["hpa.yaml"])
    assert dep["spec"]["replicas"] == 0
    assert hpa["spec"]["minReplicas"] == 1  # Kubernetes rejects 0 without a feature gate
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "render-me:latest"
    assert dep["metadata"]["namespace"] == "art"


@pytest.mark.parametrize(
    ("directory", "expected"),
    [("My_Repo", "my-repo"), ("2024-tools", "tools"), ("___", "paved-project")],
)
def test_project_name_from_directory(tmp_path: Path, directory: str, expected: str) -> None:
    assert scaffold.project_name(tmp_path / directory) == expected
