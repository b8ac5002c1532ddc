"""Generated rules, routes and dashboards, checked by the real tools: promtool, amtool, a PromQL parser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml

from paved import observe, specs
from tests.conftest import unique_pkg

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "imagegen"

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool missing: apt-get install -y prometheus"
)
needs_amtool = pytest.mark.skipif(
    shutil.which("amtool") is None,
    reason="amtool missing: apt-get install -y prometheus-alertmanager",
)


def write_generated(project: specs.Project, dest: Path) -> dict[str, str]:
    files = observe.generate(project)
    for rel, text in files.items():
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return files


def test_example_files_are_committed_and_current() -> None:
    project = specs.Project.load(EXAMPLE)
    assert observe.stale(project, observe.generate(project)) == []


def test_every_query_parses_and_names_its_owner(tmp_path: Path) -> None:
    files = write_generated(specs.Project.load(EXAMPLE), tmp_path)
    queries = observe.panel_queries(files)
    assert len(queries) >= 20
    for path, title, expr in queries:
        promql_parser.parse(expr)  # raises on a syntax error, naming the position
        assert "imagegen" in expr, (path, title)
    rules = yaml.safe_load(files["observability/prometheus-rules.yml"])
    for group in rules["groups"]:
        for rule in group["rules"]:
            promql_parser.parse(rule["expr"])
            assert rule["labels"]["owner"] == "team-images"
    dash = json.loads(files["observability/dashboards/imagegen--GenerateImage.json"])
    assert dash["title"] == "Paved / imagegen / GenerateImage"
    assert "owner:team-images" in dash["tags"]


def test_a_broken_query_is_refused_by_the_parser() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse("sum by (x (rate(temporal_workflow_completed[5m]))")


@needs_promtool
def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    write_generated(specs.Project.load(EXAMPLE), tmp_path)
    r = subprocess.run(
        ["promtool", "check", "rules", str(tmp_path / "observability/prometheus-rules.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


ALERT_TESTS = """\
rule_files: [prometheus-rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # A deploy broke replay: the worker reports NonDeterminismError.
      - series: 'temporal_workflow_task_execution_failed{namespace="imagegen-dev-local",task_queue="imagegen-worker-workflows",workflow_type="GenerateImage",failure_reason="NonDeterminismError"}'
        values: '0+1x10'
      # The stuck detector's exporter found 3 runs retrying an activity forever.
      - series: 'paved_stuck_workflows{namespace="imagegen",workflow_type="GenerateImage",owner="team-images",reason="activity_retrying"}'
        values: '3x10'
      - series: 'paved_stuck_workflows{namespace="imagegen",workflow_type="GenerateImage",owner="team-images",reason="no_poller"}'
        values: '0x10'
      # Backlog on the GPU queue and nobody polls it; the workflow queue is polled.
      - series: 'paved_task_queue_backlog{namespace="imagegen",task_queue="imagegen-gpu-activities",owner="team-images"}'
        values: '12x10'
      - series: 'paved_task_queue_pollers{namespace="imagegen",task_queue="imagegen-gpu-activities",owner="team-images"}'
        values: '0x10'
      - series: 'paved_task_queue_backlog{namespace="imagegen",task_queue="imagegen-worker-workflows",owner="team-images"}'
        values: '4x10'
      - series: 'paved_task_queue_pollers{namespace="imagegen",task_queue="imagegen-worker-workflows",owner="team-images"}'
        values: '2x10'
    alert_rule_test:
      - eval_time: 5m
        alertname: PavedNonDeterminism
        exp_alerts:
          - exp_labels: {namespace: imagegen-dev-local, workflow_type: GenerateImage, owner: team-images, paved_namespace: imagegen, severity: page}
            exp_annotations: {summary: "GenerateImage fails replay (non-determinism) in imagegen-dev-local", runbook: "@PavedNonDeterminism"}
      - eval_time: 5m
        alertname: PavedStuckWorkflows
        exp_alerts:
          - exp_labels: {namespace: imagegen, workflow_type: GenerateImage, reason: activity_retrying, owner: team-images, paved_namespace: imagegen, severity: page}
            exp_annotations: {summary: "3 GenerateImage workflows stuck (activity_retrying)", runbook: "@PavedStuckWorkflows"}
      - eval_time: 5m
        alertname: PavedTaskQueueBacklogNoPollers
        exp_alerts:
          - exp_labels: {namespace: imagegen, task_queue: imagegen-gpu-activities, owner: team-images, paved_namespace: imagegen, severity: page}
            exp_annotations: {summary: "Task queue imagegen-gpu-activities of imagegen has a backlog and no worker polls it", runbook: "@PavedTaskQueueBacklogNoPollers"}
      # (the polled workflow queue is not in the list: promtool compares the whole list)
"""


def alert_tests(files: dict[str, str]) -> str:
    """ALERT_TESTS with each ``@Alert`` runbook replaced by the rule's (templates rendered)."""
    text = ALERT_TESTS
    for g in yaml.safe_load(files["observability/prometheus-rules.yml"])["groups"]:
        for rule in g["rules"]:
            marker = '"@' + str(rule.get("alert")) + '"'
            if marker in text:
                runbook = rule["annotations"]["runbook"].replace(
                    "{{ $labels.namespace }}", "imagegen"
                )
                text = text.replace(marker, json.dumps(runbook))
    return text


@needs_promtool
def test_promtool_fires_the_alerts_on_written_series(tmp_path: Path) -> None:
    files = write_generated(specs.Project.load(EXAMPLE), tmp_path)
    (tmp_path / "observability/alerts_test.yml").write_text(alert_tests(files))
    r = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"],
        cwd=tmp_path / "observability",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@needs_promtool
def test_promtool_test_fails_when_an_owner_is_wrong(tmp_path: Path) -> None:
    """The alert test above can fail: expecting another owner is caught."""
    files = write_generated(specs.Project.load(EXAMPLE), tmp_path)
    (tmp_path / "observability/alerts_test.yml").write_text(
        alert_tests(files).replace(
            "reason: activity_retrying, owner: team-images",
            "reason: activity_retrying, owner: team-other",
        )
    )
    r = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"],
        cwd=tmp_path / "observability",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0


def two_team_project(root: Path) -> specs.Project:
    pkg = unique_pkg("obs")
    files = {
        "paved.yaml": f"""\
project: twoteams
packages: [{pkg}]
namespaces:
  orders: {{owner: team-orders}}
  search: {{owner: team-search}}
workers:
  ranker: {{owner: team-ranking}}
observability:
  owners:
    team-orders: {{webhook_url: "http://127.0.0.1:9/orders"}}
""",
        f"{pkg}/__init__.py": "",
        f"{pkg}/flows.py": """\
import paved
from temporalio import workflow

@paved.workflow(namespace="orders", worker="orders-worker")
class PlaceOrder:
    @workflow.run
    async def run(self) -> None: ...

@paved.workflow(namespace="search", worker="ranker")
class Rank:
    @workflow.run
    async def run(self) -> None: ...
""",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    project = specs.Project.load(root)
    project.write_specs(project.generate())
    return project


@needs_amtool
def test_amtool_routes_each_owners_alerts_to_that_owner(tmp_path: Path) -> None:
    project = two_team_project(tmp_path / "proj")
    files = write_generated(project, tmp_path)
    config = tmp_path / "observability/alertmanager.yml"
    r = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    rules = yaml.safe_load(files["observability/prometheus-rules.yml"])
    owners = {
        rule["labels"]["paved_namespace"] + "/" + rule["labels"].get("workflow_type", ""): rule[
            "labels"
        ]["owner"]
        for g in rules["groups"]
        for rule in g["rules"]
        if "alert" in rule
    }
    # The worker's owner overrides the namespace's for its workflow types.
    assert owners == {
        "orders/": "team-orders",
        "orders/PlaceOrder": "team-orders",
        "search/": "team-search",
        "search/Rank": "team-ranking",
    }
    for owner in ("team-orders", "team-search", "team-ranking"):
        for severity in ("page", "warning"):
            r = subprocess.run(
                ["amtool", "config", "routes", "test", f"--config.file={config}",
                 f"owner={owner}", f"severity={severity}", "alertname=PavedStuckWorkflows"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert r.stdout.strip() == owner, (owner, r.stdout, r.stderr)
    r = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={config}", "owner=nobody"],
        capture_output=True,
        text=True,
    )
    assert r.stdout.strip() == "paved-unrouted"
    am = yaml.safe_load(config.read_text())
    orders = next(x for x in am["receivers"] if x["name"] == "team-orders")
    assert orders["webhook_configs"][0]["url"] == "http://127.0.0.1:9/orders"


def test_paved_gen_keeps_observability_current_once_created(tmp_path: Path) -> None:
    """In a fresh interpreter, as users run it (the decorators' registry is process-global)."""
    import sys

    root = tmp_path / "obsproj"
    shutil.copytree(
        ROOT / "tests/observe/obsproj", root, ignore=shutil.ignore_patterns("__pycache__", ".paved")
    )

    def paved_gen(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "paved.cli", "gen", *args, "--project", str(root)],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    first = paved_gen("--check")
    assert first.returncode == 0, first.stdout + first.stderr
    rules = root / "observability" / "prometheus-rules.yml"
    rules.write_text(rules.read_text().replace("team-obs", "team-gone"))
    r = paved_gen("--check")
    assert r.returncode == 1 and "stale: observability/prometheus-rules.yml" in r.stdout
    r = paved_gen()
    assert r.returncode == 0 and "wrote observability/prometheus-rules.yml" in r.stdout
    assert "team-gone" not in rules.read_text()
