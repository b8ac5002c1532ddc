"""``paved readiness``: the launch-readiness review, one pass/fail line per item.

Items, in order (each is judged even when an earlier one failed):

1. load      a stepped load test through the proxy of a running platform
             (:mod:`paved.checks._loadtest`): every workflow finished within the
             step's bound, none failed, no ``RESOURCE_EXHAUSTED``, p99
             workflow-task schedule-to-start within the bound;
2. headroom  per namespace: actions per workflow (measured) x expected peak
             starts per second, times (1 + margin): the client actions (what
             the proxy counts) within the namespace's
             ``rate_limit.actions_per_second``; all actions (what Temporal Cloud
             counts) within Cloud's default 500 APS for a namespace on a
             ``cloud: true`` cluster, shown as the reference otherwise;
3. capacity  per worker: the slots the peak needs by Little's law (task rate
             x time per task, from the load test's histories), times
             (1 + margin), within max replicas x slots (for activities, at most
             the worker's declared dependency ``capacity``, which replicas share);
4. spread    every production namespace and its workers in >= 2 regions or
             clusters (from the specs and ``clusters:``);
5. code      every activity call with timeouts and a bounded retry policy (tier
             defaults count), backoff on calls of rate-limited dependencies
             (:mod:`paved.checks._safety`).

Each judgement is a pure function of its inputs (unit-tested on their own);
:func:`run_readiness` gathers the inputs and runs them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paved import specs
from paved._errors import PavedError, RuntimeSetupError
from paved.checks import _safety
from paved.checks._loadtest import LoadReport, LoadTest

# Temporal Cloud's per-namespace defaults (docs.temporal.io/cloud/limits, 2026):
# the floor of On-Demand capacity; more by Provisioned Capacity (TRUs) or support.
CLOUD_DEFAULT_APS = 500.0
CLOUD_DEFAULT_RPS = 2000.0


@dataclass
class Item:
    name: str
    status: str = "ok"  # ok | failed | error | skipped
    summary: str = ""
    details: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class Readiness:
    project: str
    items: list[Item] = field(default_factory=list)
    load: LoadReport | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(i.status in ("ok", "skipped") for i in self.items)

    def to_json(self) -> str:
        return json.dumps(
            {
                "project": self.project,
                "ok": self.ok,
                "seconds": round(self.seconds, 2),
                "items": [
                    {
                        "name": i.name,
                        "status": i.status,
                        "summary": i.summary,
                        "details": i.details,
                        "data": i.data,
                    }
                    for i in self.items
                ],
                "load_test": self.load.to_dict() if self.load is not None else None,
            },
            indent=2,
        )

    def to_markdown(self) -> str:
        mark = {"ok": "PASS", "skipped": "SKIP", "failed": "FAIL", "error": "ERROR"}
        out = [
            f"# Launch readiness: {self.project}",
            "",
            f"**{'READY' if self.ok else 'NOT READY'}** "
            f"({sum(i.status == 'ok' for i in self.items)} passed, "
            f"{sum(i.status in ('failed', 'error') for i in self.items)} failed, "
            f"{sum(i.status == 'skipped' for i in self.items)} skipped; "
            f"{self.seconds:.1f}s)",
            "",
            "| item | result | summary |",
            "|---|---|---|",
        ]
        out += [
            f"| {i.name} | {mark[i.status]} | {i.summary.replace('|', '/')} |" for i in self.items
        ]
        if self.load is not None and self.load.steps:
            out += [
                "",
                f"## Load test: {self.load.workflow} in {self.load.namespace}",
                "",
                "| step | count | rate/s | concurrency | started/s | actions/s | completed "
                "| failed | unfinished | RESOURCE_EXHAUSTED | max backlog | p99 wf-task s2s "
                "| p99 activity s2s | seconds |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            ]
            for n, s in enumerate(self.load.steps, 1):
                out.append(
                    f"| {n} | {s.count} | {s.rate:g} | {s.concurrency} | "
                    f"{s.starts_per_second:.1f} | {s.actions_per_second:.1f} | {s.completed} | "
                    f"{s.failed} | {s.unfinished} | {s.refused} | {s.backlog_max} | "
                    f"{_ms(s.p99_workflow_task_schedule_to_start)} | "
                    f"{_ms(s.p99_activity_schedule_to_start)} | {s.seconds:.1f} |"
                )
            out += ["", "| workflow type | histories | actions per workflow |", "|---|---|---|"]
            out += [
                f"| {t} | {st.workflows} | {st.actions_per_workflow:.2f} |"
                for t, st in sorted(self.load.types.items())
            ]
        for i in self.items:
            if i.details:
                out += ["", f"## {i.name}: {mark[i.status]}", ""]
                out += [f"- {line}" for line in i.details]
        return "\n".join(out) + "\n"


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1000:.0f} ms"


# ----- judgements (pure) ------------------------------------------------------------------


def judge_load(report: LoadReport | None, max_s2s: float, *, why_none: str = "") -> Item:
    item = Item("load")
    if report is None:
        item.status, item.summary = "skipped", why_none or "no load test run"
        return item
    problems: list[str] = []
    for n, s in enumerate(report.steps, 1):
        where = f"step {n} ({s.count} at {s.rate:g}/s, concurrency {s.concurrency})"
        if s.unfinished:
            problems.append(
                f"{where}: {s.unfinished} of {s.count} workflows did not finish within the step's "
                f"bound ({s.seconds:.0f}s): the platform cannot keep up at this rate "
                "(see backlog and capacity), or raise readiness.load.step_timeout_seconds"
            )
        if s.failed:
            problems.append(
                f"{where}: {s.failed} workflows failed: {'; '.join(s.failures[:3]) or 'see the UI'}"
            )
        if s.refused:
            problems.append(
                f"{where}: {s.refused} RESOURCE_EXHAUSTED answers: the namespace's "
                "rate limit refused calls at this rate (see headroom)"
            )
        p = s.p99_workflow_task_schedule_to_start
        if p is not None and p > max_s2s:
            problems.append(
                f"{where}: p99 workflow-task schedule-to-start {p * 1000:.0f} ms > "
                f"{max_s2s * 1000:.0f} ms: workflow workers are short of slots or pollers "
                "(readiness.max_schedule_to_start_seconds sets the bound)"
            )
    last = report.steps[-1] if report.steps else None
    peak_aps = max((s.actions_per_second for s in report.steps), default=0.0)
    item.data = {
        "steps": len(report.steps),
        "peak_actions_per_second": round(peak_aps, 2),
        "peak_starts_per_second": round(report.peak_starts_per_second, 2),
        "actions_per_workflow": {
            t: round(st.actions_per_workflow, 3) for t, st in sorted(report.types.items())
        },
    }
    apw = ", ".join(f"{t} {st.actions_per_workflow:.1f}" for t, st in sorted(report.types.items()))
    item.summary = (
        f"{len(report.steps)} steps of {report.workflow}: up to "
        f"{report.peak_starts_per_second:.1f} starts/s, {peak_aps:.1f} actions/s; "
        f"actions per workflow: {apw or 'n/a'}"
        + (
            f"; last step p99 schedule-to-start {_ms(last.p99_workflow_task_schedule_to_start)} "
            f"(workflow task), {_ms(last.p99_activity_schedule_to_start)} (activity), "
            f"max backlog {last.backlog_max}, "
            f"{sum(s.refused for s in report.steps)} RESOURCE_EXHAUSTED"
            if last
            else ""
        )
    )
    item.details = problems
    if problems:
        item.status = "failed"
    return item


def peaks_for(report: LoadReport | None, peaks: dict[str, float]) -> tuple[dict[str, float], str]:
    """The expected peak per workflow type, and a note when the load test's rate stands in."""
    if peaks:
        return dict(peaks), ""
    if report is not None and report.peak_starts_per_second > 0:
        rate = report.peak_starts_per_second
        return {report.workflow: rate}, (
            f"no expected peak given: the load test's {rate:.1f} starts/s of {report.workflow} "
            "stands in (set readiness.peak in paved.yaml or --peak TYPE=N)"
        )
    return {}, ""


def judge_headroom(
    namespaces: list[specs.NamespaceSpec],
    workflows: list[specs.TypeSpec],
    report: LoadReport | None,
    peaks: dict[str, float],
    margin: float,
    limits: dict[str, float] | None = None,
    cloud: frozenset[str] = frozenset(),
) -> Item:
    """Actions per second each namespace needs at peak (with margin) vs its rate limits.

    Two budgets. The proxy's ``rate_limit.actions_per_second`` counts what clients send
    through it (starts, signals, updates, cancels, terminations): judged always. Temporal
    Cloud's APS counts every action (activities, timers, ... too): judged against its
    default (500) for namespaces served by a ``cloud: true`` cluster, shown as the
    reference for the others.
    """
    item = Item("headroom")
    limits = limits or {}
    if report is None or not report.types:
        item.status, item.summary = "skipped", "needs the load test's actions per workflow"
        return item
    peaks, note = peaks_for(report, peaks)
    if not peaks:
        item.status = "failed"
        item.summary = "no expected peak: set readiness.peak in paved.yaml or pass --peak TYPE=N"
        return item
    ns_of = {w.name: w.namespace for w in workflows}
    proxy_demand: dict[str, float] = {}
    all_demand: dict[str, float] = {}
    lines: list[str] = []
    problems: list[str] = []
    for wf_type, peak in sorted(peaks.items()):
        ns_name = ns_of.get(wf_type)
        if ns_name is None:
            problems.append(
                f"peak given for {wf_type!r}, which is not a workflow type of the specs: fix "
                "readiness.peak in paved.yaml (or --peak)"
            )
            continue
        stats = report.types.get(wf_type)
        if stats is None or not stats.workflows:
            problems.append(
                f"{wf_type}: no measured actions per workflow (the load test drove "
                f"{report.workflow}): load-test it too, or drop its peak"
            )
            continue
        proxy_demand[ns_name] = proxy_demand.get(ns_name, 0.0) + peak * max(
            1.0, stats.client_actions_per_workflow
        )
        all_demand[ns_name] = all_demand.get(ns_name, 0.0) + peak * stats.actions_per_workflow
        lines.append(
            f"{wf_type}: {peak:g} starts/s x {stats.client_actions_per_workflow:.2f} client "
            f"actions (through the proxy) and {stats.actions_per_workflow:.2f} actions in all "
            f"(as Temporal Cloud counts them) per workflow, in {ns_name}"
        )
    data: dict[str, Any] = {"margin": margin, "namespaces": {}}
    for ns in namespaces:
        if ns.name not in proxy_demand:
            continue
        limit = limits.get(ns.name, ns.rate_limit.actions_per_second)
        source = (
            "--limit" if ns.name in limits else "rate_limit in paved.yaml, enforced by the proxy"
        )
        need = proxy_demand[ns.name] * (1 + margin)
        need_all = all_demand[ns.name] * (1 + margin)
        on_cloud = ns.name in cloud
        data["namespaces"][ns.name] = {
            "client_actions_per_second_at_peak": round(proxy_demand[ns.name], 2),
            "with_margin": round(need, 2),
            "limit": limit,
            "limit_source": source,
            "actions_per_second_at_peak": round(all_demand[ns.name], 2),
            "all_actions_with_margin": round(need_all, 2),
            "cloud_default_aps": CLOUD_DEFAULT_APS,
            "on_temporal_cloud": on_cloud,
        }
        if need > limit:
            problems.append(
                f"namespace {ns.name}: needs {need:.1f} actions/s through the proxy "
                f"({proxy_demand[ns.name]:.1f} at the expected peak + {margin:.0%} margin) but "
                f"its limit is {limit:g} actions/s: raise "
                f"namespaces.{ns.name}.rate_limit.actions_per_second in paved.yaml to >= "
                f"{need:.0f} and run `paved gen`, or lower the peak"
            )
        else:
            lines.append(
                f"{ns.name}: {need:.1f} client actions/s at peak with {margin:.0%} margin, "
                f"limit {limit:g} ({source})"
            )
        cloud_line = (
            f"{ns.name}: {need_all:.1f} actions/s in all at peak with margin vs Temporal "
            f"Cloud's default {CLOUD_DEFAULT_APS:g} APS per namespace"
        )
        if on_cloud and need_all > CLOUD_DEFAULT_APS:
            problems.append(
                f"namespace {ns.name} (Temporal Cloud): needs {need_all:.1f} actions/s "
                f"({all_demand[ns.name]:.1f} at the expected peak + {margin:.0%} margin), above "
                f"Cloud's default {CLOUD_DEFAULT_APS:g} APS: request Provisioned Capacity (TRUs) "
                "or ask Temporal support before the launch"
            )
        else:
            lines.append(cloud_line + ("" if on_cloud else " (reference: not a Cloud namespace)"))
    item.data = data
    item.details = problems + lines + ([note] if note else [])
    if problems:
        item.status = "failed"
        item.summary = problems[0]
    else:
        item.summary = "; ".join(
            f"{n}: {d['with_margin']:g} of {d['limit']:g} client actions/s "
            f"({d['with_margin'] / d['limit']:.0%}), {d['all_actions_with_margin']:g} of "
            f"{'Cloud' if d['on_temporal_cloud'] else 'Cloud reference'} {CLOUD_DEFAULT_APS:g} APS"
            for n, d in data["namespaces"].items()
        ) + (" (peak from the load test)" if note else "")
    return item


def cloud_namespaces(config: specs.ProjectConfig, loaded: specs.Specs) -> frozenset[str]:
    """Logical namespaces with a physical namespace on a ``cloud: true`` cluster."""
    out = set()
    for ns in loaded.namespaces.namespaces:
        for p in ns.physical:
            found = specs.cluster_for(config.clusters, p.region, p.environment)
            if found is not None and found[1].temporal.cloud:
                out.add(ns.name)
    return frozenset(out)


def max_replicas(config: specs.ProjectConfig, worker: specs.WorkerSpec) -> tuple[int, str]:
    """A worker's most replicas: its autoscaler's max, else its fixed replicas."""
    auto = config.autoscaler_of(worker.name)
    if auto.kind != "none":
        return auto.max_replicas, f"autoscaler {auto.kind} max_replicas"
    return worker.replicas, "replicas (no autoscaler)"


def judge_capacity(
    config: specs.ProjectConfig,
    workers: list[specs.WorkerSpec],
    workflows: specs.WorkflowsFile,
    report: LoadReport | None,
    peaks: dict[str, float],
    margin: float,
) -> Item:
    """Slots each worker needs at peak (Little's law, with margin) vs max replicas x slots."""
    item = Item("capacity")
    if report is None or not report.types:
        item.status, item.summary = "skipped", "needs the load test's task times"
        return item
    peaks, note = peaks_for(report, peaks)
    wf_worker = {w.name: w.worker for w in workflows.workflows}
    act_worker = {a.name: a.worker for a in workflows.activities}
    # worker -> kind -> slots in use on average at peak
    need: dict[str, dict[str, float]] = {}
    for wf_type, peak in peaks.items():
        stats = report.types.get(wf_type)
        if stats is None:
            continue
        if wf_type in wf_worker:
            d = need.setdefault(wf_worker[wf_type], {})
            d["workflow"] = d.get("workflow", 0.0) + (
                peak * stats.workflow_tasks_per_workflow * stats.mean_workflow_task_seconds
            )
        for act, a in stats.activities.items():
            wname = act_worker.get(act)
            if wname is None:
                continue
            d = need.setdefault(wname, {})
            d["activity"] = d.get("activity", 0.0) + (
                peak * stats.attempts_per_workflow(act) * a.mean_seconds
            )
    problems: list[str] = []
    lines: list[str] = []
    data: dict[str, Any] = {"margin": margin, "workers": {}}
    for w in workers:
        if w.name not in need:
            continue
        replicas, source = max_replicas(config, w)
        slots = {
            "activity": w.tuning.max_concurrent_activities,
            "workflow": w.tuning.max_concurrent_workflow_tasks,
        }
        wdata: dict[str, Any] = {"max_replicas": replicas, "source": source}
        for kind, used in sorted(need[w.name].items()):
            have = replicas * slots[kind]
            how = f"{replicas} x {slots[kind]}"
            gated = kind == "activity" and w.capacity is not None
            if gated:
                # A declared dependency capacity is a total the replicas share: more
                # replicas do not run more activity bodies at once.
                have, how = min(have, w.capacity or 0), f"declared capacity {w.capacity}"
            want = used * (1 + margin)
            wdata[kind] = {
                "slots_at_peak": round(used, 3),
                "with_margin": round(want, 3),
                "capacity": have,
            }
            setting = (
                "max_concurrent_activities"
                if kind == "activity"
                else "max_concurrent_workflow_tasks"
            )
            if want > have:
                fix = (
                    f"the dependency behind it takes {w.capacity} at once "
                    f"(workers.{w.name}.capacity): more replicas will not help; raise the "
                    "dependency's capacity (and then `capacity`), or make its calls shorter"
                    if gated
                    else f"raise workers.{w.name}.tuning.{setting} (if what it calls can take "
                    f"it) or its max replicas ({source}) in paved.yaml"
                )
                problems.append(
                    f"worker {w.name}: needs {want:.1f} {kind} slots ({used:.1f} busy at the "
                    f"expected peak + {margin:.0%} margin) but has {how} = {have}: {fix}"
                )
            else:
                lines.append(
                    f"worker {w.name}: {want:.1f} of {have} {kind} slots at peak with margin "
                    f"({how}, {source})"
                )
        data["workers"][w.name] = wdata
    item.data = data
    item.details = problems + lines + ([note] if note else [])
    if problems:
        item.status, item.summary = "failed", problems[0]
    elif not lines:
        item.status, item.summary = "skipped", "no worker demand measured"
    else:
        item.summary = "; ".join(
            f"{name}: "
            + ", ".join(
                f"{v['with_margin']:.1f}/{v['capacity']} {k}"
                for k, v in d.items()
                if isinstance(v, dict)
            )
            for name, d in data["workers"].items()
        )
    return item


def judge_spread(config: specs.ProjectConfig, loaded: specs.Specs, production: list[str]) -> Item:
    """Every production namespace and worker in >= 2 regions, or >= 2 clusters when declared."""
    item = Item("spread")
    problems: list[str] = []
    lines: list[str] = []

    def places(ns: specs.NamespaceSpec, kubernetes: bool) -> tuple[set[str], str]:
        out: set[str] = set()
        for p in ns.physical:
            if p.environment not in production:
                continue
            found = specs.cluster_for(config.clusters, p.region, p.environment)
            if found is None:
                out.add(p.region)
            elif kubernetes and found[1].kubernetes is not None:
                k = found[1].kubernetes
                out.add(f"{k.context or found[0]}")
            else:
                out.add(found[0])
        return out, ("clusters" if config.clusters else "regions")

    prod_ns = [
        ns
        for ns in loaded.namespaces.namespaces
        if any(p.environment in production for p in ns.physical)
    ]
    if not prod_ns:
        envs = sorted({p.environment for ns in loaded.namespaces.namespaces for p in ns.physical})
        item.status = "skipped"
        item.summary = (
            f"no production environment in the specs (environments: {', '.join(envs) or 'none'}; "
            f"production means {', '.join(production)}): nothing to spread yet"
        )
        return item
    for ns in prod_ns:
        got, unit = places(ns, kubernetes=False)
        line = f"namespace {ns.name}: {len(got)} {unit} ({', '.join(sorted(got))})"
        if len(got) < 2:
            problems.append(
                f"{line}: one {unit[:-1]} is a single point of failure: add a second region to "
                f"namespaces.{ns.name}.regions in paved.yaml (and its cluster under clusters:)"
            )
        else:
            lines.append(line)
    by_name = {ns.name: ns for ns in prod_ns}
    for w in loaded.workers.workers:
        wns = by_name.get(w.namespace)
        if wns is None:
            continue
        got, unit = places(wns, kubernetes=True)
        line = f"worker {w.name}: {len(got)} {unit} ({', '.join(sorted(got))})"
        if len(got) < 2:
            problems.append(
                f"{line}: its workers run only there: spread namespace {wns.name} over a second "
                "region (the operator runs the worker in every region of its namespace)"
            )
        else:
            lines.append(line)
    item.details = problems + lines
    if problems:
        item.status, item.summary = "failed", problems[0]
    else:
        item.summary = f"{len(prod_ns)} production namespaces and their workers in >= 2 places"
    return item


def judge_code(found: _safety.Safety) -> Item:
    item = Item("code")
    problems = [f"{line}" for line in found.lint]
    problems += [
        f"{line}: a rate-limited dependency needs backoff: use a RetryPolicy with "
        "backoff_coefficient > 1 and a maximum_interval (or the tier default)"
        for line in found.no_backoff
    ]
    item.details = (
        problems
        + [f"not checked: {u}" for u in found.unchecked]
        + [f"backoff: {w}" for w in found.with_backoff]
    )
    item.data = {
        "activity_calls": found.calls,
        "rate_limited_activities": found.rate_limited,
        "lint_findings": len(found.lint),
        "without_backoff": len(found.no_backoff),
        "not_checked": len(found.unchecked),
    }
    rl = ", ".join(sorted(found.rate_limited)) or "none"
    if problems:
        item.status = "failed"
        item.summary = (
            f"{len(found.lint)} activity calls without timeouts or a bounded retry, "
            f"{len(found.no_backoff)} calls of rate-limited activities without backoff"
        )
    else:
        item.summary = (
            f"{found.calls} activity calls with timeouts and bounded retries; rate-limited "
            f"({rl}): {len(found.with_backoff)} calls with backoff"
            + (f", {len(found.unchecked)} not checked" if found.unchecked else "")
        )
    return item


# ----- the run ------------------------------------------------------------------------------


def _timed(fn: Callable[[], Item], name: str) -> Item:
    t0 = time.perf_counter()
    try:
        item = fn()
    except PavedError as e:
        lines = str(e).splitlines()
        item = Item(name, "error", lines[0], lines[1:])
    item.seconds = time.perf_counter() - t0
    return item


def run_readiness(
    project: specs.Project,
    *,
    peaks: dict[str, float] | None = None,
    margin: float | None = None,
    limits: dict[str, float] | None = None,
    load: specs.LoadTestConfig | None = None,
    load_report: LoadReport | None = None,
    address: str | None = None,
    api_key: str | None = None,
    proxy_metrics_url: str | None = None,
    skip_load: str = "",
    progress: Callable[[str], None] | None = None,
) -> Readiness:
    """Run the load test (unless ``load_report`` or ``skip_load`` is given), then judge."""
    t0 = time.perf_counter()
    cfg = project.config.readiness
    loaded = project.specs()
    margin = cfg.margin if margin is None else margin
    all_peaks = {**cfg.peak, **(peaks or {})}
    run = Readiness(project.config.project)
    report = load_report
    why_none = skip_load
    load_item: Item | None = None
    if report is None and not skip_load:
        load = load or cfg.load
        if load is None:
            why_none = "no load test configured: add readiness.load to paved.yaml (or --workflow)"
        elif address is None:
            err = RuntimeSetupError(
                "no running platform to load-test (no `paved dev` of this project, no --address)",
                code="PAVED-READINESS-NO-PLATFORM",
                fix="start `paved dev` for this project (or pass --address of a Paved proxy with "
                "PAVED_API_KEY), or judge a saved run with --load-report FILE",
            )
            lines = str(err).splitlines()
            load_item = Item("load", "error", lines[0], [x.strip() for x in lines[1:]])
        else:
            t1 = time.perf_counter()
            try:
                report = asyncio.run(
                    LoadTest(
                        project,
                        load,
                        address=address,
                        api_key=api_key,
                        proxy_metrics_url=proxy_metrics_url,
                        progress=progress,
                    ).run()
                )
            except PavedError as e:
                lines = str(e).splitlines()
                load_item = Item("load", "error", lines[0], lines[1:])
                load_item.seconds = time.perf_counter() - t1
    run.load = report
    if load_item is None:
        t1 = time.perf_counter()
        load_item = judge_load(report, cfg.max_schedule_to_start_seconds, why_none=why_none)
        load_item.seconds = time.perf_counter() - t1
    run.items.append(load_item)
    run.items.append(
        _timed(
            lambda: judge_headroom(
                loaded.namespaces.namespaces,
                loaded.workflows.workflows,
                report,
                all_peaks,
                margin,
                limits,
                cloud_namespaces(project.config, loaded),
            ),
            "headroom",
        )
    )
    run.items.append(
        _timed(
            lambda: judge_capacity(
                project.config, loaded.workers.workers, loaded.workflows, report, all_peaks, margin
            ),
            "capacity",
        )
    )
    run.items.append(
        _timed(lambda: judge_spread(project.config, loaded, cfg.production_environments), "spread")
    )
    run.items.append(
        _timed(lambda: judge_code(_safety.analyse(project, cfg.rate_limited_activities)), "code")
    )
    run.seconds = time.perf_counter() - t0
    return run
