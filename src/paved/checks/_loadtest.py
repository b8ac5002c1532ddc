"""The stepped load test of ``paved readiness``: real workflows through the proxy, measured.

Each step starts ``count`` workflows of one type at ``rate`` starts per second
with at most ``concurrency`` of them in flight, and is bounded by
``step_timeout_seconds``: what has not finished by then is counted unfinished
(and terminated). Starts go through the Paved proxy of a running platform
(``paved dev``, or any proxy with an API key), with the client's own retries
off, so every ``RESOURCE_EXHAUSTED`` the namespace's rate limit answers is
counted (and the start retried with backoff until the step's bound).

While a step runs, the task queues of the workflow's namespace are described
every second (``DescribeTaskQueue`` with stats) for the backlog. After it, the
histories of the step's workflows are read for what Temporal recorded:

* actions per workflow, counted as Temporal Cloud bills them as far as a
  history shows them (:func:`history_actions`), and the part of them that
  clients send through the proxy (starts, signals, updates, cancels,
  terminations: what the proxy's ``actions_per_second`` bucket counts; the
  activities and timers a workflow schedules reach Temporal inside its workers'
  workflow-task completions, which the proxy never refuses);
* schedule-to-start of workflow tasks and of first activity attempts (a retried
  attempt's wait includes its backoff, so it is left out);
* per activity type: attempts per workflow and time per attempt; per workflow
  type: workflow tasks per workflow and time per task (for worker capacity).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RetryConfig, RPCError, RPCStatusCode

from paved import specs

_E = EventType

# One action each, as Temporal Cloud counts them (docs.temporal.io/cloud/actions),
# where a history records them. Activity attempts are counted separately (each
# attempt is an action); heartbeats and queries leave no event and are not counted.
_ACTION_EVENTS = {
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    _E.EVENT_TYPE_TIMER_STARTED,
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    _E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    _E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    _E.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    _E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    _E.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    _E.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED,
}

# Client calls the proxy counts as actions (besides a client's start, above).
_CLIENT_EVENTS = {
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
}


def _ts(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


@dataclass
class ActivityStats:
    """One activity type as seen in the histories of one workflow type."""

    task_queue: str = ""
    scheduled: int = 0
    attempts: int = 0
    attempt_seconds: float = 0.0  # start -> close of the recorded (last) attempts
    timed: int = 0

    @property
    def mean_seconds(self) -> float:
        return self.attempt_seconds / self.timed if self.timed else 0.0


@dataclass
class TypeStats:
    """One workflow type: what its histories recorded."""

    workflows: int = 0
    actions: int = 0
    client_actions: int = 0
    workflow_tasks: int = 0
    workflow_task_seconds: float = 0.0
    activities: dict[str, ActivityStats] = field(default_factory=dict)

    @property
    def actions_per_workflow(self) -> float:
        return self.actions / self.workflows if self.workflows else 0.0

    @property
    def client_actions_per_workflow(self) -> float:
        return self.client_actions / self.workflows if self.workflows else 0.0

    @property
    def workflow_tasks_per_workflow(self) -> float:
        return self.workflow_tasks / self.workflows if self.workflows else 0.0

    @property
    def mean_workflow_task_seconds(self) -> float:
        return self.workflow_task_seconds / self.workflow_tasks if self.workflow_tasks else 0.0

    def attempts_per_workflow(self, activity: str) -> float:
        a = self.activities.get(activity)
        return a.attempts / self.workflows if a and self.workflows else 0.0


@dataclass
class HistoryFigures:
    """What one history says (:func:`read_history`)."""

    workflow_type: str
    actions: int
    client_actions: int
    workflow_tasks: int
    workflow_task_seconds: float
    workflow_task_waits: list[float]
    activity_waits: list[float]
    activities: dict[str, ActivityStats]


def history_actions(events: list[HistoryEvent]) -> int:
    """Billable actions a history shows: starts, timers, signals, children, upserts,
    updates, Nexus operations, local activities, and one per activity attempt."""
    return read_history(events).actions


def read_history(events: list[HistoryEvent]) -> HistoryFigures:
    wf_type = ""
    actions = wft = client = 0
    wft_seconds = 0.0
    wft_waits: list[float] = []
    act_waits: list[float] = []
    acts: dict[str, ActivityStats] = {}
    by_id = {e.event_id: e for e in events}
    for e in events:
        t = e.event_type
        if t in _ACTION_EVENTS:
            actions += 1
        if t in _CLIENT_EVENTS:
            client += 1
        if t == _E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            a0 = e.workflow_execution_started_event_attributes
            wf_type = a0.workflow_type.name
            # Started by a client, not by a parent workflow or a continue-as-new.
            if not a0.parent_workflow_execution.workflow_id and not a0.continued_execution_run_id:
                client += 1
        elif t == _E.EVENT_TYPE_MARKER_RECORDED:
            if e.marker_recorded_event_attributes.marker_name == "core_local_activity":
                actions += 1
        elif t == _E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            sched = by_id.get(e.workflow_task_started_event_attributes.scheduled_event_id)
            if sched is not None:
                wft_waits.append(max(0.0, _ts(e) - _ts(sched)))
        elif t == _E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            wft += 1
            started = by_id.get(e.workflow_task_completed_event_attributes.started_event_id)
            if started is not None:
                wft_seconds += max(0.0, _ts(e) - _ts(started))
        elif t == _E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = e.activity_task_scheduled_event_attributes
            st = acts.setdefault(a.activity_type.name, ActivityStats(a.task_queue.name))
            st.scheduled += 1
        elif t == _E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a2 = e.activity_task_started_event_attributes
            sched = by_id.get(a2.scheduled_event_id)
            if sched is None:
                continue
            name = sched.activity_task_scheduled_event_attributes.activity_type.name
            attempt = max(1, a2.attempt)
            acts[name].attempts += attempt
            actions += attempt
            if attempt == 1:
                act_waits.append(max(0.0, _ts(e) - _ts(sched)))
        elif t in (
            _E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            _E.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            _E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        ):
            attrs: Any = {
                _E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: e.activity_task_completed_event_attributes,
                _E.EVENT_TYPE_ACTIVITY_TASK_FAILED: e.activity_task_failed_event_attributes,
                _E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: e.activity_task_timed_out_event_attributes,
            }[t]
            started = by_id.get(attrs.started_event_id)
            sched = by_id.get(attrs.scheduled_event_id)
            if started is not None and sched is not None:
                name = sched.activity_task_scheduled_event_attributes.activity_type.name
                acts[name].attempt_seconds += max(0.0, _ts(e) - _ts(started))
                acts[name].timed += 1
    # An activity scheduled but never started still cost its first attempt.
    for st in acts.values():
        if st.attempts < st.scheduled:
            actions += st.scheduled - st.attempts
            st.attempts = st.scheduled
    return HistoryFigures(wf_type, actions, client, wft, wft_seconds, wft_waits, act_waits, acts)


def p99(values: list[float]) -> float | None:
    """The 99th percentile (nearest rank), None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass
class StepResult:
    count: int
    rate: float
    concurrency: int
    seconds: float = 0.0
    started: int = 0
    completed: int = 0
    failed: int = 0
    unfinished: int = 0
    resource_exhausted: int = 0  # answers this client saw
    proxy_refused: int | None = None  # the proxy's count for the namespace, when known
    actions: int = 0
    histories: int = 0
    backlog_max: int = 0
    backlog_age_max_seconds: float = 0.0
    backlog_by_queue: dict[str, int] = field(default_factory=dict)
    p99_workflow_task_schedule_to_start: float | None = None
    p99_activity_schedule_to_start: float | None = None
    failures: list[str] = field(default_factory=list)
    backlog_error: str = ""
    start_window_seconds: float = 0.0  # first start -> last start

    @property
    def refused(self) -> int:
        """RESOURCE_EXHAUSTED answers: the proxy's count when known, else the client's."""
        return max(self.resource_exhausted, self.proxy_refused or 0)

    @property
    def starts_per_second(self) -> float:
        """Starts per second achieved over the step's start window."""
        if self.started > 1 and self.start_window_seconds > 0:
            return (self.started - 1) / self.start_window_seconds
        return self.started / self.seconds if self.seconds else 0.0

    @property
    def actions_per_second(self) -> float:
        """Actions per second the step achieved (its histories' actions over its duration,
        scaled up when only a sample of histories was read)."""
        if not self.seconds or not self.histories:
            return 0.0
        done = self.completed + self.failed
        return self.actions * (done / self.histories) / self.seconds


@dataclass
class LoadReport:
    """The load test's figures (JSON-serialisable; ``--load-report`` reads it back)."""

    workflow: str
    namespace: str
    address: str
    steps: list[StepResult] = field(default_factory=list)
    types: dict[str, TypeStats] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for s, d in zip(self.steps, out["steps"], strict=True):
            d["starts_per_second"] = round(s.starts_per_second, 3)
            d["actions_per_second"] = round(s.actions_per_second, 3)
            d["refused"] = s.refused
        for name, t in self.types.items():
            out["types"][name]["actions_per_workflow"] = round(t.actions_per_workflow, 3)
            out["types"][name]["client_actions_per_workflow"] = round(
                t.client_actions_per_workflow, 3
            )
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoadReport:
        keep = {f for f in StepResult.__dataclass_fields__}
        steps = [StepResult(**{k: v for k, v in s.items() if k in keep}) for s in d["steps"]]
        types = {}
        for name, t in d.get("types", {}).items():
            acts = {a: ActivityStats(**v) for a, v in t.get("activities", {}).items()}
            types[name] = TypeStats(
                workflows=t["workflows"],
                actions=t["actions"],
                client_actions=t.get("client_actions", 0),
                workflow_tasks=t["workflow_tasks"],
                workflow_task_seconds=t["workflow_task_seconds"],
                activities=acts,
            )
        return cls(d["workflow"], d["namespace"], d.get("address", ""), steps, types)

    @property
    def peak_starts_per_second(self) -> float:
        return max((s.starts_per_second for s in self.steps), default=0.0)


def _merge(into: TypeStats, h: HistoryFigures) -> None:
    into.workflows += 1
    into.actions += h.actions
    into.client_actions += h.client_actions
    into.workflow_tasks += h.workflow_tasks
    into.workflow_task_seconds += h.workflow_task_seconds
    for name, a in h.activities.items():
        st = into.activities.setdefault(name, ActivityStats(a.task_queue))
        st.scheduled += a.scheduled
        st.attempts += a.attempts
        st.attempt_seconds += a.attempt_seconds
        st.timed += a.timed


MAX_HISTORIES_PER_STEP = 100


class LoadTest:
    """Drives the steps of ``config`` against ``address`` (a Paved proxy) as ``api_key``."""

    def __init__(
        self,
        project: specs.Project,
        config: specs.LoadTestConfig,
        *,
        address: str,
        api_key: str | None,
        tls: bool = False,
        proxy_metrics_url: str | None = None,
        progress: Any = None,
    ) -> None:
        loaded = project.specs()
        wf = next((w for w in loaded.workflows.workflows if w.name == config.workflow), None)
        if wf is None:
            from paved._errors import ProjectError

            have = ", ".join(w.name for w in loaded.workflows.workflows) or "none"
            raise ProjectError(
                f"readiness.load.workflow {config.workflow!r} is not a workflow type of the "
                f"specs (they have: {have})",
                code="PAVED-READINESS-CONFIG",
                fix="name a @paved.workflow type in readiness.load.workflow of paved.yaml "
                "(or pass --workflow), and run `paved gen` if it is new",
            )
        self.project, self.config, self.spec = project, config, wf
        self.address, self.api_key, self.tls = address, api_key, tls
        self.proxy_metrics_url = proxy_metrics_url
        self.physical = {
            p.name
            for ns in loaded.namespaces.namespaces
            if ns.name == wf.namespace
            for p in ns.physical
        }
        self.queues = sorted(
            {
                (q.name, q.kind)
                for w in loaded.workers.workers
                if w.namespace == wf.namespace
                for q in w.queues
            }
        )
        self.progress = progress or (lambda _line: None)
        self.run_id = uuid.uuid4().hex[:8]

    async def run(self) -> LoadReport:
        client = await Client.connect(
            self.address,
            namespace=self.spec.namespace,
            api_key=self.api_key,
            tls=self.tls,
            # Next to off (Core treats max_retries=0 as its default): a RESOURCE_EXHAUSTED
            # reaches this code within 50 ms and is counted, then retried here.
            retry_config=RetryConfig(
                max_retries=1, initial_interval_millis=10, max_elapsed_time_millis=50
            ),
        )
        report = LoadReport(self.config.workflow, self.spec.namespace, self.address)
        for i, step in enumerate(self.config.steps):
            result = await self._step(client, i, step, report)
            report.steps.append(result)
            self.progress(
                f"  step {i + 1}: {result.started}/{step.count} started at "
                f"{result.starts_per_second:.1f}/s, {result.completed} completed, "
                f"{result.failed} failed, {result.unfinished} unfinished, "
                f"{result.refused} RESOURCE_EXHAUSTED, {result.seconds:.1f}s"
            )
        return report

    async def _start(
        self, client: Client, wid: str, deadline: float, result: StepResult
    ) -> WorkflowHandle[Any, Any] | None:
        delay = 0.1
        while True:
            try:
                return await client.start_workflow(
                    self.config.workflow,
                    self.config.input,
                    id=wid,
                    task_queue=self.spec.task_queue,
                )
            except RPCError as e:
                if e.status == RPCStatusCode.RESOURCE_EXHAUSTED:
                    result.resource_exhausted += 1
                elif e.status not in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
                    result.failures.append(f"{wid}: start refused: {e.status.name}: {e.message}")
                    return None
            if time.monotonic() + delay > deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(2.0, delay * 2)

    async def _step(
        self, client: Client, index: int, step: specs.LoadStep, report: LoadReport
    ) -> StepResult:
        result = StepResult(step.count, step.rate, step.concurrency)
        t0 = time.monotonic()
        deadline = t0 + self.config.step_timeout_seconds
        slots = asyncio.Semaphore(step.concurrency)
        handles: list[WorkflowHandle[Any, Any]] = []
        done: list[str] = []
        stop_sampling = asyncio.Event()
        start_times: list[float] = []
        sampler = asyncio.create_task(self._sample_backlog(client, result, stop_sampling))
        refused_before = await asyncio.to_thread(self._proxy_refusals)

        async def one(i: int) -> None:
            handle = await self._start(
                client, f"readiness-{self.run_id}-{index + 1}-{i}", deadline, result
            )
            if handle is None:
                slots.release()
                return
            result.started += 1
            start_times.append(time.monotonic())
            handles.append(handle)
            try:
                await asyncio.wait_for(handle.result(), max(0.1, deadline - time.monotonic()))
                result.completed += 1
                done.append(handle.id)
            except WorkflowFailureError as e:
                result.failed += 1
                done.append(handle.id)
                if len(result.failures) < 5:
                    result.failures.append(f"{handle.id}: {e.cause or e}")
            except (TimeoutError, RPCError):
                pass
            finally:
                slots.release()

        tasks: list[asyncio.Task[None]] = []
        for i in range(step.count):
            wait = t0 + i / step.rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(slots.acquire(), remaining)
            except TimeoutError:
                break
            tasks.append(asyncio.create_task(one(i)))
        if tasks:
            await asyncio.wait(tasks)
        result.seconds = time.monotonic() - t0
        if len(start_times) > 1:
            result.start_window_seconds = max(start_times) - min(start_times)
        result.unfinished = step.count - result.completed - result.failed
        stop_sampling.set()
        with contextlib.suppress(Exception):
            await sampler
        refused_after = await asyncio.to_thread(self._proxy_refusals)
        if refused_before is not None and refused_after is not None:
            result.proxy_refused = int(refused_after - refused_before)
        # Nothing of the load test outlives its step.
        for h in handles:
            if h.id not in done:
                with contextlib.suppress(RPCError):
                    await h.terminate(reason="paved readiness: step bound reached")
        await self._read_histories(client, [h for h in handles if h.id in done], result, report)
        return result

    def _proxy_refusals(self) -> float | None:
        """``paved_proxy_rate_limited_total`` of the namespace at the proxy, None if unknown."""
        if not self.proxy_metrics_url:
            return None
        from prometheus_client.parser import text_string_to_metric_families

        try:
            with urllib.request.urlopen(self.proxy_metrics_url, timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return None
        return sum(
            sample.value
            for fam in text_string_to_metric_families(text)
            if fam.name == "paved_proxy_rate_limited"
            for sample in fam.samples
            if sample.name == "paved_proxy_rate_limited_total"
            and sample.labels.get("namespace") in self.physical
        )

    async def _sample_backlog(
        self, client: Client, result: StepResult, stop: asyncio.Event
    ) -> None:
        kinds = {
            "workflow": [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW],
            "activity": [TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
            "shared": [
                TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            ],
        }
        while not stop.is_set():
            for name, kind in self.queues:
                for tq_type in kinds[kind]:
                    try:
                        resp = await client.workflow_service.describe_task_queue(
                            DescribeTaskQueueRequest(
                                namespace=self.spec.namespace,
                                task_queue=TaskQueue(name=name),
                                task_queue_type=tq_type,
                                report_stats=True,
                            ),
                            timeout=timedelta(seconds=5),
                        )
                    except RPCError as e:
                        result.backlog_error = (
                            f"DescribeTaskQueue {name}: {e.status.name}: {e.message}"
                        )
                        continue
                    count = int(resp.stats.approximate_backlog_count)
                    age = resp.stats.approximate_backlog_age
                    result.backlog_by_queue[name] = max(result.backlog_by_queue.get(name, 0), count)
                    result.backlog_max = max(result.backlog_max, count)
                    result.backlog_age_max_seconds = max(
                        result.backlog_age_max_seconds, age.seconds + age.nanos / 1e9
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def _read_histories(
        self,
        client: Client,
        handles: list[WorkflowHandle[Any, Any]],
        result: StepResult,
        report: LoadReport,
    ) -> None:
        if not handles:
            return
        stride = max(1, math.ceil(len(handles) / MAX_HISTORIES_PER_STEP))
        wft_waits: list[float] = []
        act_waits: list[float] = []
        for h in handles[::stride]:
            history = None
            for _ in range(5):
                try:
                    history = await h.fetch_history()
                    break
                except RPCError as e:
                    if e.status != RPCStatusCode.RESOURCE_EXHAUSTED:
                        raise
                    result.resource_exhausted += 1
                    await asyncio.sleep(0.5)
            if history is None:
                continue
            figures = read_history(list(history.events))
            result.histories += 1
            result.actions += figures.actions
            wft_waits += figures.workflow_task_waits
            act_waits += figures.activity_waits
            _merge(report.types.setdefault(figures.workflow_type, TypeStats()), figures)
        result.p99_workflow_task_schedule_to_start = p99(wft_waits)
        result.p99_activity_schedule_to_start = p99(act_waits)
