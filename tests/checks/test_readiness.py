"""``paved readiness``: each item's judgement on its own (no Temporal), the history reader
on the example's committed corpus, the code-safety analysis on small projects, the
JSON and Markdown reports, and the CLI judging a saved load test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from paved import checks, specs
from paved.checks import LoadReport, StepResult, TypeStats
from paved.checks._loadtest import ActivityStats

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "imagegen"


def example() -> specs.Project:
    return specs.Project.load(EXAMPLE)


def report(
    *,
    apw: float = 4.0,
    render_s: float = 0.2,
    steps: list[StepResult] | None = None,
    workflows: int = 10,
) -> LoadReport:
    """A load test of GenerateImage as the example records it (4 actions per workflow)."""
    t = TypeStats(
        workflows=workflows,
        actions=int(apw * workflows),
        client_actions=workflows,
        workflow_tasks=4 * workflows,
        workflow_task_seconds=0.02 * 4 * workflows,
        activities={
            "moderate_prompt": ActivityStats("imagegen-worker-activities", workflows, workflows, 0.01 * workflows, workflows),
            "render_image": ActivityStats("imagegen-gpu-activities", workflows, workflows, render_s * workflows, workflows),
            "store_image": ActivityStats("imagegen-worker-activities", workflows, workflows, 0.01 * workflows, workflows),
        },
    )  # fmt: skip
    steps = steps or [
        StepResult(10, 5, 5, seconds=2.0, started=10, completed=10, histories=10, actions=40)
    ]
    return LoadReport("GenerateImage", "imagegen", "127.0.0.1:7233", steps, {"GenerateImage": t})


# ----- load --------------------------------------------------------------------------------


def test_load_passes_a_clean_run_and_reports_its_figures() -> None:
    step = StepResult(20, 10, 10, seconds=3.0, started=20, completed=20, histories=20, actions=80,
                      start_window_seconds=1.9, p99_workflow_task_schedule_to_start=0.15,
                      p99_activity_schedule_to_start=0.3, backlog_max=3)  # fmt: skip
    item = checks.judge_load(report(steps=[step]), 2.0)
    assert item.status == "ok", item.details
    assert "10.0 starts/s" in item.summary and "26.7 actions/s" in item.summary
    assert "GenerateImage 4.0" in item.summary and "max backlog 3" in item.summary
    assert item.data["actions_per_workflow"] == {"GenerateImage": 4.0}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"completed": 7, "unfinished": 3}, "3 of 20 workflows did not finish"),
        ({"completed": 18, "failed": 2, "failures": ["img-1: boom"]}, "2 workflows failed: img-1: boom"),
        ({"resource_exhausted": 12}, "12 RESOURCE_EXHAUSTED answers"),
        ({"resource_exhausted": 3, "proxy_refused": 40}, "40 RESOURCE_EXHAUSTED answers"),
        ({"p99_workflow_task_schedule_to_start": 3.5}, "p99 workflow-task schedule-to-start 3500 ms > 2000 ms"),
    ],
)  # fmt: skip
def test_load_fails_with_the_reason(change: dict[str, object], words: str) -> None:
    fields = dict(count=20, rate=10, concurrency=10, seconds=3.0, started=20, completed=20)
    fields.update(change)
    item = checks.judge_load(report(steps=[StepResult(**fields)]), 2.0)  # type: ignore[arg-type]
    assert item.status == "failed"
    assert words in item.details[0] and item.details[0].startswith("step 1 (20 at 10/s")


def test_load_skipped_says_why() -> None:
    item = checks.judge_load(None, 2.0, why_none="--no-load given")
    assert (item.status, item.summary) == ("skipped", "--no-load given")


# ----- headroom ----------------------------------------------------------------------------


def test_headroom_passes_within_the_limit_with_margin() -> None:
    loaded = example().specs()
    item = checks.judge_headroom(
        loaded.namespaces.namespaces,
        loaded.workflows.workflows,
        report(),
        {"GenerateImage": 20},
        0.5,
    )
    # Through the proxy: 20 starts/s x 1 client action x 1.5 = 30 <= the example's 200.
    # In all (as Cloud counts): 20 x 4 x 1.5 = 120, shown against Cloud's 500 as a reference.
    assert item.status == "ok", item.details
    assert item.summary == (
        "imagegen: 30 of 200 client actions/s (15%), 120 of Cloud reference 500 APS"
    )
    ns = item.data["namespaces"]["imagegen"]
    assert ns["cloud_default_aps"] == checks.CLOUD_DEFAULT_APS == 500
    assert ns["on_temporal_cloud"] is False


def test_headroom_fails_when_the_limit_is_too_low() -> None:
    loaded = example().specs()
    item = checks.judge_headroom(
        loaded.namespaces.namespaces, loaded.workflows.workflows, report(), {"GenerateImage": 40}, 0.5,
        {"imagegen": 50},
    )  # fmt: skip
    # 40 starts/s at peak, 60 with margin > 50.
    assert item.status == "failed"
    assert item.summary == (
        "namespace imagegen: needs 60.0 actions/s through the proxy (40.0 at the expected peak "
        "+ 50% margin) but its limit is 50 actions/s: raise "
        "namespaces.imagegen.rate_limit.actions_per_second in paved.yaml to >= 60 and run "
        "`paved gen`, or lower the peak"
    )
    assert item.data["namespaces"]["imagegen"]["limit_source"] == "--limit"


def test_headroom_on_temporal_cloud_judges_every_action_against_its_default() -> None:
    loaded = example().specs()
    args = (loaded.namespaces.namespaces, loaded.workflows.workflows, report())
    # 100/s: 150 client actions/s within 200, but 600 actions/s in all > Cloud's 500.
    item = checks.judge_headroom(*args, {"GenerateImage": 100}, 0.5, cloud=frozenset({"imagegen"}))
    assert item.status == "failed"
    assert item.summary.startswith(
        "namespace imagegen (Temporal Cloud): needs 600.0 actions/s (400.0 at the expected peak "
        "+ 50% margin), above Cloud's default 500 APS: request Provisioned Capacity (TRUs)"
    )
    # The same load on a self-hosted cluster: Cloud's figure is a reference only.
    assert checks.judge_headroom(*args, {"GenerateImage": 100}, 0.5).status == "ok"


def test_headroom_without_a_peak_uses_the_load_test_and_says_so() -> None:
    loaded = example().specs()
    step = StepResult(10, 5, 5, seconds=2.0, started=10, completed=10, start_window_seconds=1.8)
    item = checks.judge_headroom(
        loaded.namespaces.namespaces, loaded.workflows.workflows, report(steps=[step]), {}, 0.5
    )
    assert item.status == "ok" and item.summary.endswith("(peak from the load test)")
    assert any("no expected peak given" in d for d in item.details)


def test_headroom_names_an_unknown_or_unmeasured_type() -> None:
    loaded = example().specs()
    item = checks.judge_headroom(
        loaded.namespaces.namespaces, loaded.workflows.workflows, report(), {"Nope": 1}, 0.5
    )
    assert item.status == "failed" and "'Nope', which is not a workflow type" in item.summary


# ----- capacity ----------------------------------------------------------------------------


def test_capacity_by_littles_law() -> None:
    project = example()
    loaded = project.specs()
    # 10/s x 1 render x 0.2 s = 2 GPU slots busy, 3 with margin, of 1 x 8.
    item = checks.judge_capacity(
        project.config,
        loaded.workers.workers,
        loaded.workflows,
        report(),
        {"GenerateImage": 10},
        0.5,
    )
    assert item.status == "ok", item.details
    gpu = item.data["workers"]["imagegen-gpu"]
    assert gpu["activity"] == {"slots_at_peak": 2.0, "with_margin": 3.0, "capacity": 8}
    assert gpu["max_replicas"] == 1 and gpu["source"] == "replicas (no autoscaler)"


def test_capacity_fails_when_slots_run_out() -> None:
    project = example()
    loaded = project.specs()
    # Renders of 1 s at 10/s: 10 busy, 15 with margin > 8 slots.
    item = checks.judge_capacity(
        project.config, loaded.workers.workers, loaded.workflows, report(render_s=1.0),
        {"GenerateImage": 10}, 0.5,
    )  # fmt: skip
    assert item.status == "failed"
    # The GPU worker declares capacity: 8 (the inference service's): the bound, whatever
    # its slots and replicas.
    assert item.summary == (
        "worker imagegen-gpu: needs 15.0 activity slots (10.0 busy at the expected peak + 50% "
        "margin) but has declared capacity 8 = 8: the dependency behind it takes 8 at once "
        "(workers.imagegen-gpu.capacity): more replicas will not help; raise the dependency's "
        "capacity (and then `capacity`), or make its calls shorter"
    )


def _gpu_autoscaled(capacity: int | None) -> tuple[specs.ProjectConfig, list[specs.WorkerSpec]]:
    project = example()
    raw = project.config.model_dump()
    raw["workers"]["imagegen-gpu"]["autoscaler"] = {
        "kind": "keda",
        "min_replicas": 0,
        "max_replicas": 4,
    }
    workers = [
        w.model_copy(update={"capacity": capacity}) if w.name == "imagegen-gpu" else w
        for w in project.specs().workers.workers
    ]
    return specs.ProjectConfig.model_validate(raw), workers


def test_capacity_counts_the_autoscalers_max_replicas() -> None:
    loaded = example().specs()
    config, workers = _gpu_autoscaled(capacity=None)
    item = checks.judge_capacity(
        config, workers, loaded.workflows, report(render_s=1.0), {"GenerateImage": 10}, 0.5
    )
    assert item.status == "ok", item.details
    slots = next(w for w in workers if w.name == "imagegen-gpu").tuning.max_concurrent_activities
    assert item.data["workers"]["imagegen-gpu"]["activity"]["capacity"] == 4 * slots
    assert item.data["workers"]["imagegen-gpu"]["source"] == "autoscaler keda max_replicas"
    # With the dependency's capacity declared, four replicas still run 8 renders at once.
    config, workers = _gpu_autoscaled(capacity=8)
    gated = checks.judge_capacity(
        config, workers, loaded.workflows, report(render_s=1.0), {"GenerateImage": 10}, 0.5
    )
    assert gated.status == "failed" and "more replicas will not help" in gated.summary


# ----- spread ------------------------------------------------------------------------------


def _specs_with(
    regions: list[str], clusters: dict[str, object] | None = None
) -> tuple[specs.ProjectConfig, specs.Specs]:
    project = example()
    loaded = project.specs()
    raw = project.config.model_dump()
    raw["environments"] = ["dev", "prod"]
    raw["regions"] = regions
    raw["clusters"] = clusters or {}
    config = specs.ProjectConfig.model_validate(raw)
    ns = loaded.namespaces.namespaces[0]
    physical = [specs.PhysicalNamespace(name=f"imagegen-{e}-{r}", region=r, environment=e)
                for r in regions for e in ("dev", "prod")]  # fmt: skip
    ns = ns.model_copy(
        update={"regions": regions, "environments": ["dev", "prod"], "physical": physical}
    )
    namespaces = specs.NamespacesFile(namespaces=[ns])
    return config, specs.Specs(namespaces, loaded.workflows, loaded.workers)


def test_spread_passes_over_two_regions() -> None:
    config, loaded = _specs_with(["eu", "us"])
    item = checks.judge_spread(config, loaded, ["prod"])
    assert item.status == "ok", item.details
    assert "namespace imagegen: 2 regions (eu, us)" in item.details
    assert "worker imagegen-gpu: 2 regions (eu, us)" in item.details


def test_spread_fails_in_one_region_naming_the_fix() -> None:
    config, loaded = _specs_with(["eu"])
    item = checks.judge_spread(config, loaded, ["prod"])
    assert item.status == "failed"
    assert item.summary.startswith(
        "namespace imagegen: 1 regions (eu): one region is a single point"
    )
    assert "add a second region to namespaces.imagegen.regions" in item.summary
    assert any(d.startswith("worker imagegen-worker: 1 regions (eu)") for d in item.details)


def test_spread_counts_clusters_when_declared() -> None:
    temporal = {"address": "t:7233"}
    two = {"a": {"region": "eu", "temporal": temporal}, "b": {"region": "us", "temporal": temporal}}
    config, loaded = _specs_with(["eu", "us"], two)
    assert checks.judge_spread(config, loaded, ["prod"]).status == "ok"
    item = checks.judge_spread(config, loaded, ["staging"])
    assert item.status == "skipped" and "no production environment" in item.summary


def test_spread_skips_a_project_without_production() -> None:
    project = example()
    item = checks.judge_spread(project.config, project.specs(), ["prod", "production"])
    assert item.status == "skipped"
    assert item.summary.startswith("no production environment in the specs (environments: dev;")


# ----- code safety -------------------------------------------------------------------------


def test_code_safety_of_the_example() -> None:
    found = checks.analyse_safety(example(), [])
    assert found.lint == [] and found.no_backoff == [] and found.calls == 3
    assert set(found.rate_limited) == {"render_image"}
    assert "aiohttp" in found.rate_limited["render_image"]
    item = checks.judge_code(found)
    assert item.status == "ok"
    assert item.summary == (
        "3 activity calls with timeouts and bounded retries; rate-limited (render_image): "
        "1 calls with backoff"
    )


FLOWS = """
from datetime import timedelta
import httpx
from temporalio import activity, workflow
from temporalio.common import RetryPolicy

FLAT = RetryPolicy(backoff_coefficient=1.0, maximum_attempts=10)

@activity.defn
async def call_gpu(x: str) -> str:
    async with httpx.AsyncClient() as c:
        return (await c.post("http://gpu/x", json=x)).text

@activity.defn
async def local_step(x: str) -> str:
    return x

@activity.defn
async def billing(x: str) -> str:
    return x

@workflow.defn
class Flow:
    @workflow.run
    async def run(self, x: str) -> str:
        await workflow.execute_activity(call_gpu, x, start_to_close_timeout=timedelta(seconds=5), retry_policy=FLAT)
        await workflow.execute_activity(billing, x, start_to_close_timeout=timedelta(seconds=5), retry_policy=RetryPolicy(maximum_attempts=1))
        return await workflow.execute_activity(local_step, x)
"""


def test_code_safety_finds_missing_timeouts_and_flat_retries(tmp_path: Path) -> None:
    (tmp_path / "paved.yaml").write_text("project: cs\npackages: [csflows]\n")
    (tmp_path / "csflows").mkdir()
    (tmp_path / "csflows" / "__init__.py").write_text("")
    (tmp_path / "csflows" / "flows.py").write_text(FLOWS)
    found = checks.analyse_safety(specs.Project.load(tmp_path), ["billing"])
    assert found.rate_limited["billing"] == "listed in readiness.rate_limited_activities"
    assert found.lint == [
        "csflows/flows.py:28:22: PVL101 activity-timeout: execute_activity() sets neither "
        "start_to_close_timeout nor schedule_to_close_timeout fix: pass start_to_close_timeout=..., "
        "or use paved.execute_activity (tier defaults)",
        "csflows/flows.py:28:22: PVL103 activity-unlimited-retry: execute_activity() sets no "
        "retry_policy: the activity retries without limit fix: bound it: "
        "RetryPolicy(maximum_attempts=...) or schedule_to_close_timeout=..., or "
        "paved.execute_activity (tier defaults)",
    ]
    assert sorted(found.no_backoff) == [
        "csflows/flows.py:26: call_gpu (calls the network: httpx.AsyncClient() at flows.py:11): "
        "backoff_coefficient=1.0: retries at a constant interval",
        "csflows/flows.py:27: billing (listed in readiness.rate_limited_activities): "
        "maximum_attempts=1: no retry at all, a 429 fails the activity",
    ]
    item = checks.judge_code(found)
    assert item.status == "failed"
    assert "calls of rate-limited activities without backoff" in item.summary


# ----- reports -----------------------------------------------------------------------------


def test_history_reader_on_the_committed_corpus() -> None:
    got, clients = {}, {}
    for p in sorted((EXAMPLE / "replay" / "GenerateImage").glob("*.json")):
        e = checks.load_entry(p)
        f = checks.read_history(list(e.history.events))
        got[e.status, f.actions] = sorted(f.activities)
        clients[e.status, f.actions] = f.client_actions
    # Moderation and storage are local activities (a marker each, an action each).
    # Done: start + moderate + render + store; rejected: start + moderate;
    # cancelled by signal during the render: start + moderate + render + the signal.
    assert got == {
        ("COMPLETED", 4): ["render_image"],
        ("COMPLETED", 2): [],
        ("FAILED", 4): ["render_image"],
    }
    # Through the proxy: the start, and the cancel signal.
    assert clients == {("COMPLETED", 4): 1, ("COMPLETED", 2): 1, ("FAILED", 4): 2}


def test_json_and_markdown_reports_and_the_saved_load_test_round_trip() -> None:
    run = checks.Readiness("imagegen", [checks.Item("load", "ok", "fine"),
                                        checks.Item("headroom", "failed", "too | low", ["x"])],
                           load=report())  # fmt: skip
    doc = json.loads(run.to_json())
    assert doc["ok"] is False and [i["status"] for i in doc["items"]] == ["ok", "failed"]
    back = LoadReport.from_dict(doc["load_test"])
    assert back.types["GenerateImage"].actions_per_workflow == 4.0
    assert back.steps[0].completed == 10
    md = run.to_markdown()
    assert "**NOT READY** (1 passed, 1 failed, 0 skipped" in md
    assert "| headroom | FAIL | too / low |" in md
    assert "| GenerateImage | 10 | 4.00 |" in md


def test_cli_judges_a_saved_load_test_and_fails_on_a_low_limit(tmp_path: Path) -> None:
    saved = tmp_path / "load.json"
    saved.write_text(json.dumps({"load_test": report().to_dict()}))
    paved = [sys.executable, "-m", "paved.cli", "readiness", "--project", str(EXAMPLE),
             "--load-report", str(saved)]  # fmt: skip
    ok = subprocess.run(paved, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (
        "  pass  headroom  imagegen: 15 of 200 client actions/s (8%), 60 of Cloud reference 500 APS"
        in ok.stdout
    )
    low = subprocess.run(
        [*paved, "--limit", "imagegen=10"], capture_output=True, text=True, timeout=120
    )
    assert low.returncode == 1, low.stdout + low.stderr
    assert (
        "  FAIL  headroom  namespace imagegen: needs 15.0 actions/s through the proxy (10.0 at the "
        "expected peak + 50% margin) but its limit is 10 actions/s" in low.stdout
    )
    bad = subprocess.run(
        [*paved, "--peak", "GenerateImage"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "[PAVED-READINESS-CONFIG] --peak 'GenerateImage'" in bad.stderr
