"""``paved new worker`` end to end: files, specs, manifests, and the stubs' own tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from scaffold_helpers import (
    dockerfile_instruction,
    paved_cli_in_project,
    run_cli,
    run_in_project,
    snapshot,
)

import paved
from paved import scaffold, specs


def _env_names(container: dict[str, object]) -> set[str]:
    return {e["name"] for e in container["env"]}  # type: ignore[index, union-attr]


def test_flags_scaffold_a_ready_worker(tmp_path: Path) -> None:
    root = tmp_path / "Image_Service"
    root.mkdir()
    r = run_cli(
        "new",
        "worker",
        "--name",
        "image-gen",
        "--owner",
        "team-images",
        "--namespace",
        "imagegen",
        "--tier",
        "1",
        "--retention",
        "14d",
        "--project",
        str(root),
        "--yes",
    )
    assert r.exit_code == 0, r.output
    assert "paved worker run image-gen" in r.output

    # paved.yaml: a new project, named after the directory, with namespace and worker.
    config = specs.Project.load(root).config
    assert config.project == "image-service"
    assert config.packages == ["image_gen"]
    ns = config.namespaces["imagegen"]
    assert (ns.owner, ns.tier, specs.retention_days(ns.retention)) == ("team-images", 1, 14)
    assert config.workers["image-gen"].owner == "team-images"

    # specs/: gen ran, and the worker polls split queues.
    s = specs.Project.load(root).specs()
    w = s.worker("image-gen")
    assert (w.namespace, w.owner, w.tier, w.replicas) == ("imagegen", "team-images", 1, 1)
    assert {(q.name, q.kind) for q in w.queues} == {
        ("image-gen-workflows", "workflow"),
        ("image-gen-activities", "activity"),
    }
    assert w.modules == ["image_gen.activities", "image_gen.workflows"]
    assert [t.name for t in s.workflows.workflows] == ["ImageGenWorkflow"]
    assert [(t.name, t.task_queue) for t in s.workflows.activities] == [
        ("image_gen_step", "image-gen-activities")
    ]
    assert s.namespace("imagegen").retention_days == 14

    # Dockerfile: golden image, non-root, health check, runs the managed worker.
    docker = (root / "deploy/image-gen/Dockerfile").read_text()
    assert "FROM python:3.11-slim" in docker.splitlines()
    assert "RUN pip install /app" in docker
    assert dockerfile_instruction(docker, "CMD")[:4] == ["paved", "worker", "run", "image-gen"]
    user = next(ln for ln in docker.splitlines() if ln.startswith("USER "))
    assert user.split()[1] not in ("root", "0")
    assert "/healthz" in next(ln for ln in docker.splitlines() if 'CMD ["python"' in ln)

    # Kubernetes manifests, rendered from the worker's spec.
    k8s = root / "deploy/image-gen/k8s"
    dep = yaml.safe_load((k8s / "deployment.yaml").read_text())
    assert dep["kind"] == "Deployment"
    assert dep["spec"]["replicas"] == w.replicas
    pod = dep["spec"]["template"]
    assert pod["metadata"]["labels"]["paved.dev/owner"] == "team-images"
    assert pod["metadata"]["labels"]["paved.dev/tier"] == "1"
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    (container,) = pod["spec"]["containers"]
    assert container["args"][:4] == ["paved", "worker", "run", "image-gen"]
    assert {
        "PAVED_ADDRESS",
        "PAVED_REGION",
        "PAVED_ENV",
        "PAVED_API_KEY",
        "PAVED_VIA_PROXY",
        "PAVED_HTTP_HOST",
    } <= _env_names(container)
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    port = container["ports"][0]["containerPort"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert container["args"][-1] == str(port)
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["serviceAccountName"] == "image-gen"

    sa = yaml.safe_load((k8s / "service-account.yaml").read_text())
    assert (sa["kind"], sa["metadata"]["name"]) == ("ServiceAccount", "image-gen")
    assert sa["metadata"]["labels"]["paved.dev/owner"] == "team-images"

    hpa = yaml.safe_load((k8s / "hpa.yaml").read_text())
    assert hpa["kind"] == "HorizontalPodAutoscaler"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "image-gen"
    assert hpa["spec"]["minReplicas"] == w.replicas
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Pods"]["pods"]["metric"]["name"] == "paved_worker_slot_utilization"

    assert ".paved/" in (root / ".gitignore").read_text().splitlines()
    assert (root / "pyproject.toml").exists()

    # The generated code is lint-clean (as a team's CI would check it).
    lint = subprocess.run(
        [
            str(Path(sys.executable).parent / "ruff"),
            "check",
            "--isolated",
            "--no-cache",
            "--select",
            "E,F,I,UP,B,SIM,RUF",
            "--line-length",
            "100",
            "image_gen",
            "tests",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr

    # A fresh process agrees that the committed specs are current.
    check = paved_cli_in_project(root, "gen", "--check", "--project", str(root))
    assert check.returncode == 0, check.stdout + check.stderr

    # "Stubs that pass their own tests": run the generated test file for real
    # (activity directly, workflow on a real dev server), in its own process.
    tests = run_in_project(
        root, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_image_gen.py"
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout


def test_second_run_with_the_same_name_refuses_and_changes_nothing(tmp_path: Path) -> None:
    args = [
        "new",
        "worker",
        "--name",
        "dup-worker",
        "--owner",
        "team-a",
        "--namespace",
        "dup",
        "--project",
        str(tmp_path),
        "--yes",
    ]
    assert run_cli(*args).exit_code == 0
    before = snapshot(tmp_path)

    again = run_cli(*args)
    assert again.exit_code == 2
    assert "PAVED-NEW-EXISTS" in again.output
    assert "dup-worker" in again.output and "already exists" in again.output
    # Another namespace and owner do not make the same name acceptable.
    other = run_cli(
        "new",
        "worker",
        "--name",
        "dup-worker",
        "--owner",
        "team-b",
        "--namespace",
        "other",
        "--project",
        str(tmp_path),
        "--yes",
    )
    assert other.exit_code == 2
    assert snapshot(tmp_path) == before


def test_existing_package_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "mine.py").write_text("X = 1\n")
    before = snapshot(tmp_path)
    r = run_cli(
        "new",
        "worker",
        "--name",
        "billing",
        "--owner",
        "team-a",
        "--namespace",
        "billing",
        "--project",
        str(tmp_path),
        "--yes",
    )
    assert r.exit_code == 2
    assert "billing" in r.output and "refusing to overwrite" in r.output
    assert snapshot(tmp_path) == before


def test_interactive_prompts_ask_again_on_bad_answers(tmp_path: Path) -> None:
    answers = "Bad_Name\nchat-agent\nteam chat\nteam-chat\nchat\n7\n1\nforever\n30d\n"
    r = run_cli("new", "worker", "--interactive", "--project", str(tmp_path), input=answers)
    assert r.exit_code == 0, r.output
    assert "Worker name:" in r.output and "Owner:" in r.output and "Retention" in r.output
    assert r.output.count("Error:") == 4  # the name, owner, tier and retention asked again
    config = specs.Project.load(tmp_path).config
    assert config.workers["chat-agent"].owner == "team-chat"
    ns = config.namespaces["chat"]
    assert (ns.owner, ns.tier, ns.retention) == ("team-chat", 1, "30d")
    assert (tmp_path / "chat_agent" / "workflows.py").exists()


def test_without_a_terminal_a_missing_flag_is_a_clear_error(tmp_path: Path) -> None:
    # CliRunner's stdin is not a terminal: no prompts, even without --yes.
    r = run_cli("new", "worker", "--name", "lonely", "--project", str(tmp_path))
    assert r.exit_code == 2
    assert "owner is required: pass --owner" in r.output
    assert list(tmp_path.iterdir()) == []
    r = run_cli(
        "new",
        "worker",
        "--name",
        "lonely",
        "--owner",
        "team-a",
        "--project",
        str(tmp_path),
        "--yes",
    )
    assert r.exit_code == 2
    assert "pass --namespace" in r.output


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Image_Gen", "worker name 'Image_Gen' is not valid"),
        ("9lives", "is not valid"),
        ("trailing-", "ends with '-'"),
        ("json", "shadows a module"),
        ("paved", "shadows a module"),
    ],
)
def test_bad_worker_names_are_refused_clearly(tmp_path: Path, name: str, message: str) -> None:
    r = run_cli(
        "new",
        "worker",
        "--name",
        name,
        "--owner",
        "team-a",
        "--namespace",
        "ns",
        "--project",
        str(tmp_path),
        "--yes",
    )
    assert r.exit_code == 2
    assert "PAVED-NEW-NAME" in r.output and message in r.output
    assert "fix:" in r.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "name", ["a", "image-gen", "x9", "a" * 63, "A", "1a", "a_b", "a" * 64, "-a", "a.b", ""]
)
def test_names_follow_the_decorators_rule(name: str) -> None:
    def probe() -> None: ...

    try:
        paved.activity(namespace=name, worker="probe-worker", name=f"probe-{name}")(probe)
        decorator_ok = True
    except paved.DefinitionError:
        decorator_ok = False
    try:
        scaffold.check_name("namespace", name)
        scaffold_ok = True
    except paved.ProjectError:
        scaffold_ok = False
    assert scaffold_ok == decorator_ok


def test_existing_project_keeps_its_text_and_reuses_the_namespace(tmp_path: Path) -> None:
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "__init__.py").write_text(
        "import paved\n\n\n"
        "@paved.activity(namespace='shop', worker='legacy-worker')\n"
        "async def ship(order: str) -> str:\n    return order\n"
    )
    original = (
        "# Our project. Keep this comment.\n"
        "project: shop\n"
        "packages:\n"
        "  - legacy  # the old code\n"
        "namespaces:\n"
        "  shop:\n"
        "    owner: team-shop\n"
        "    tier: 0\n"
        "    retention: 3d\n"
        "# tuning below was agreed with SRE\n"
        "workers:\n"
        "  legacy-worker:\n"
        "    replicas: 4\n"
    )
    (tmp_path / "paved.yaml").write_text(original)
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    r = run_cli(
        "new",
        "worker",
        "--name",
        "cart",
        "--owner",
        "team-cart",
        "--namespace",
        "shop",
        "--tier",
        "3",
        "--project",
        str(tmp_path),
        "--yes",
    )
    assert r.exit_code == 0, r.output
    assert "namespace 'shop' exists with tier 0" in r.output

    text = (tmp_path / "paved.yaml").read_text()
    lines = text.splitlines()
    it = iter(lines)
    assert all(old in it for old in original.splitlines()), text  # every old line, in order
    assert len(lines) == len(original.splitlines()) + 4  # package + worker entry (3 lines)
    config = specs.Project.load(tmp_path).config
    assert config.packages == ["legacy", "cart"]
    assert config.namespaces["shop"].tier == 0  # the existing namespace is not changed
    assert config.workers["legacy-worker"].replicas == 4

    s = specs.Project.load(tmp_path).specs()
    assert [w.name for w in s.workers.workers] == ["cart", "legacy-worker"]
    assert s.worker("cart").tier == 0
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n.paved/\n"
    dep = yaml.safe_load((tmp_path / "deploy/cart/k8s/deployment.yaml").read_text())
    assert dep["metadata"]["labels"]["app.kubernetes.io/part-of"] == "shop"
    assert dep["metadata"]["labels"]["paved.dev/tier"] == "0"


def test_gen_failure_undoes_every_change(tmp_path: Path) -> None:
    original = "project: broken\npackages: [missing_pkg]\nnamespaces: {}\n"
    (tmp_path / "paved.yaml").write_text(original)
    before = snapshot(tmp_path)
    r = run_cli(
        "new",
        "worker",
        "--name",
        "fresh",
        "--owner",
        "team-a",
        "--namespace",
        "fresh",
        "--project",
        str(tmp_path),
        "--yes",
    )
    assert r.exit_code == 2
    assert "PAVED-NEW-GEN" in r.output and "undone" in r.output and "missing_pkg" in r.output
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["paved.yaml"]
