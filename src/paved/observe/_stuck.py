"""The stuck-workflow detector: ``paved stuck`` and the ``paved_stuck_workflows`` metric.

A namespace can look healthy (workers up, no errors on the dashboard) while
workflows in it go nowhere. One pass over each physical namespace finds:

``workflow_task_failing``
    Temporal's own ``TemporalReportedProblems`` search attribute: the workflow
    task failed N times in a row (N is the server's
    ``system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute``, which
    ``paved dev`` sets from ``observability.stuck.workflow_task_problems``). One
    list call per page; the last failure comes from the newest history events.
``activity_retrying`` / ``heartbeat_stale``
    a pending activity past ``max_activity_attempts``, or started and silent for
    ``heartbeat_stale_seconds`` (``DescribeWorkflowExecution`` per running
    workflow, oldest first, at most ``max_describes`` per pass).
``no_poller``
    a task queue with a backlog and no poller seen in the last minute
    (``DescribeTaskQueue`` with stats, once per queue: the specs' queues, the
    running workflows' queues, and any activity queue a scheduled activity waits
    on); every running workflow on such a workflow queue, or waiting on such an
    activity queue, is named.
``running_long``
    running longer than ``long_running_factor`` x the p95 duration of its type's
    recently completed runs (one list call per type that has old runs).

Each finding carries the owner (the worker's, else the namespace's), the reason,
the last failure (decrypted only for a principal that holds ``decode``) and a
link into the Temporal UI. :class:`Scan` counts every Temporal call it made.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.enums.v1 import EventType, PendingActivityState, TaskQueueType
from temporalio.api.failure.v1 import Failure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryReverseRequest,
    ListWorkflowExecutionsRequest,
)
from temporalio.client import Client
from temporalio.converter import decode_search_attributes

from paved import specs

REASONS = (
    "workflow_task_failing",
    "activity_retrying",
    "heartbeat_stale",
    "no_poller",
    "running_long",
)
POLLER_FRESH_SECONDS = 60.0
PAGE = 1000

# Decrypts a failure's ``encoded_attributes`` payload, or None when the caller may not.
FailureDecoder = Callable[[str, Payload], Awaitable[Payload]]


@dataclass(frozen=True)
class Finding:
    """One stuck workflow (or one queue nobody polls)."""

    namespace: str
    physical: str
    workflow_type: str
    workflow_id: str
    run_id: str
    owner: str
    reason: str
    detail: str
    last_failure: str | None
    ui_url: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class QueueState:
    namespace: str
    physical: str
    task_queue: str
    kind: str
    owner: str
    backlog: int
    backlog_age_seconds: float
    pollers: int


@dataclass
class Scan:
    """The result of one pass: findings, queue states, and what it cost."""

    findings: list[Finding] = field(default_factory=list)
    queues: list[QueueState] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    running: int = 0
    described: int = 0
    seconds: float = 0.0

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


@dataclass
class Detector:
    """Finds stuck workflows in the physical namespaces of ``environment``.

    Attributes:
        client: any connected client (requests name the namespace explicitly).
        loaded: the specs (types, queues, owners).
        config: thresholds from ``paved.yaml``.
        ui_url: Temporal UI base URL for links.
        environment: which physical namespaces to scan (None: all).
        can_decode: logical namespace -> may the caller read failure messages.
        decode_failure: decrypts an encoded failure (``paved.codec``); None when
            the client already sees plaintext (through the proxy).
        max_describes: per-pass budget of DescribeWorkflowExecution calls.
        concurrency: describes in flight at once.
    """

    client: Client
    loaded: specs.Specs
    config: specs.StuckConfig = field(default_factory=specs.StuckConfig)
    ui_url: str = "http://127.0.0.1:8233"
    environment: str | None = None
    can_decode: Callable[[str], bool] = lambda _ns: False
    decode_failure: FailureDecoder | None = None
    max_describes: int = 5000
    concurrency: int = 32
    now: Callable[[], float] = time.time

    # ----- owners and names -------------------------------------------------------

    def _owner(self, ns: specs.NamespaceSpec, workflow_type: str) -> str:
        for wf in self.loaded.workflows.workflows:
            if wf.name == workflow_type and wf.namespace == ns.name:
                for w in self.loaded.workers.workers:
                    if w.name == wf.worker:
                        return w.owner
        return ns.owner

    def _link(self, physical: str, wid: str, rid: str) -> str:
        return f"{self.ui_url.rstrip('/')}/namespaces/{physical}/workflows/{wid}/{rid}/history"

    def _queues(self, ns: specs.NamespaceSpec) -> dict[str, tuple[str, str]]:
        """task queue -> (kind, owner) from the specs."""
        out: dict[str, tuple[str, str]] = {}
        for w in self.loaded.workers.workers:
            if w.namespace == ns.name:
                for q in w.queues:
                    out[q.name] = (q.kind, w.owner)
        return out

    # ----- Temporal calls, counted -------------------------------------------------

    async def _call(self, scan: Scan, name: str, fn: Any, req: Any) -> Any:
        scan.calls[name] += 1
        return await fn(req)

    async def _list(
        self, scan: Scan, physical: str, query: str, limit: int | None = None
    ) -> list[WorkflowExecutionInfo]:
        svc = self.client.workflow_service
        out: list[WorkflowExecutionInfo] = []
        token = b""
        while True:
            size = PAGE if limit is None else min(PAGE, limit - len(out))
            resp = await self._call(
                scan,
                "ListWorkflowExecutions",
                svc.list_workflow_executions,
                ListWorkflowExecutionsRequest(
                    namespace=physical, query=query, page_size=size, next_page_token=token
                ),
            )
            out.extend(resp.executions)
            token = resp.next_page_token
            if not token or (limit is not None and len(out) >= limit):
                return out

    async def _failure_text(self, logical: str, f: Failure) -> str | None:
        if not f.message and not f.encoded_attributes.data:
            return None
        if not self.can_decode(logical):
            return f"(hidden: needs the decode role on {logical!r})"
        message = f.message
        if f.encoded_attributes.data and self.decode_failure is not None:
            try:
                plain = await self.decode_failure(logical, f.encoded_attributes)
                attrs = json.loads(plain.data or b"{}")
                message = str(attrs.get("message", message))
            except Exception as e:  # a key we lack: say so, never crash the pass
                message = f"(could not decrypt: {type(e).__name__})"
        kind = f.application_failure_info.type if f.HasField("application_failure_info") else ""
        text = f"{kind}: {message}" if kind else message
        if f.HasField("cause") and f.cause.message:
            text += f" (cause: {f.cause.message})"
        return text[:500]

    # ----- the pass ----------------------------------------------------------------

    async def scan(self) -> Scan:
        t0 = time.perf_counter()
        scan = Scan()
        for ns in self.loaded.namespaces.namespaces:
            for p in ns.physical:
                if self.environment is None or p.environment == self.environment:
                    await self._scan_namespace(scan, ns, p.name)
        scan.seconds = time.perf_counter() - t0
        return scan

    async def _scan_namespace(self, scan: Scan, ns: specs.NamespaceSpec, physical: str) -> None:
        now = self.now()
        cfg = self.config
        flagged: set[tuple[str, str]] = set()

        def add(info: WorkflowExecutionInfo, reason: str, detail: str, failure: str | None) -> None:
            wid, rid, wtype = info.execution.workflow_id, info.execution.run_id, info.type.name
            flagged.add((wid, reason))
            scan.findings.append(
                Finding(ns.name, physical, wtype, wid, rid, self._owner(ns, wtype), reason,
                        detail, failure, self._link(physical, wid, rid))
            )  # fmt: skip

        # 1. Temporal's own signal: the workflow task keeps failing.
        for info in await self._list(
            scan, physical, "ExecutionStatus = 'Running' AND TemporalReportedProblems IS NOT NULL"
        ):
            sa = decode_search_attributes(info.search_attributes)
            problems = ", ".join(str(x) for x in (sa.get("TemporalReportedProblems") or []))
            failure = await self._last_task_failure(scan, ns.name, physical, info.execution)
            add(info, "workflow_task_failing", problems, failure)

        # 2. Every running workflow: queues, age, pending activities.
        running = await self._list(scan, physical, "ExecutionStatus = 'Running'")
        scan.running += len(running)
        queues = self._queues(ns)
        for info in running:
            queues.setdefault(info.task_queue, ("workflow", self._owner(ns, info.type.name)))
        dead_queues = await self._describe_queues(scan, ns, physical, queues)
        for info in running:
            if info.task_queue in dead_queues:
                add(
                    info,
                    "no_poller",
                    f"task queue {info.task_queue!r} has a backlog and no poller",
                    None,
                )

        # 3. Far longer than usual for the type.
        oldest_first = sorted(running, key=lambda i: i.start_time.ToSeconds())
        old_types = {
            i.type.name for i in running if now - i.start_time.ToSeconds() > cfg.min_running_seconds
        }
        usual: dict[str, float] = {}
        for wtype in sorted(old_types):
            closed = await self._list(
                scan, physical, f"ExecutionStatus = 'Completed' AND WorkflowType = '{wtype}'", 200
            )
            durations = sorted(i.close_time.ToSeconds() - i.start_time.ToSeconds() for i in closed)
            if len(durations) >= 5:
                usual[wtype] = durations[int(0.95 * (len(durations) - 1))]
        for info in running:
            age = now - info.start_time.ToSeconds()
            p95 = usual.get(info.type.name)
            if p95 is not None and age > max(
                cfg.min_running_seconds, cfg.long_running_factor * p95
            ):
                add(info, "running_long", f"running {age:.0f}s; usual (p95) {p95:.1f}s", None)

        # 4. Pending activities: describe the oldest runs, within the budget.
        budget = max(0, self.max_describes - scan.described)
        todo = [
            i
            for i in oldest_first
            if (i.execution.workflow_id, "workflow_task_failing") not in flagged
        ][:budget]
        sem = asyncio.Semaphore(self.concurrency)
        # Activity queues the specs do not name (a typo, a hand-set task_queue=): described
        # once, when a pending activity waits on one.
        extra: dict[str, asyncio.Task[set[str]]] = {}

        async def check(info: WorkflowExecutionInfo) -> None:
            async with sem:
                desc = await self._call(
                    scan,
                    "DescribeWorkflowExecution",
                    self.client.workflow_service.describe_workflow_execution,
                    DescribeWorkflowExecutionRequest(namespace=physical, execution=info.execution),
                )
            for pa in desc.pending_activities:
                queue = pa.activity_options.task_queue.name
                if (
                    queue
                    and queue not in queues
                    and pa.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
                ):
                    if queue not in extra:
                        owner = self._owner(ns, info.type.name)
                        extra[queue] = asyncio.create_task(
                            self._describe_queues(scan, ns, physical, {queue: ("activity", owner)})
                        )
                    dead_queues.update(await extra[queue])
                if (
                    queue in dead_queues
                    and (info.execution.workflow_id, "no_poller") not in flagged
                ):
                    add(info, "no_poller",
                        f"activity {pa.activity_type.name} waits on task queue {queue!r}, which has no poller", None)  # fmt: skip
                if pa.attempt > cfg.max_activity_attempts:
                    failure = await self._failure_text(ns.name, pa.last_failure)
                    add(info, "activity_retrying",
                        f"activity {pa.activity_type.name} at attempt {pa.attempt}", failure)  # fmt: skip
                elif (
                    pa.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                    and pa.HasField("last_heartbeat_time")
                    and now - pa.last_heartbeat_time.ToSeconds() > cfg.heartbeat_stale_seconds
                ):
                    silent = now - pa.last_heartbeat_time.ToSeconds()
                    add(info, "heartbeat_stale",
                        f"activity {pa.activity_type.name} silent for {silent:.0f}s", None)  # fmt: skip

        await asyncio.gather(*(check(i) for i in todo))
        scan.described += len(todo)

    async def _describe_queues(
        self, scan: Scan, ns: specs.NamespaceSpec, physical: str, queues: dict[str, tuple[str, str]]
    ) -> set[str]:
        """Record each queue's backlog and pollers; return those with a backlog and no poller."""
        dead: set[str] = set()
        now = self.now()
        for name in sorted(queues):
            kind, owner = queues[name]
            types = {
                "workflow": [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW],
                "activity": [TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
            }.get(
                kind,
                [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
            )
            backlog, age, pollers = 0, 0.0, 0
            for tqt in types:
                resp = await self._call(
                    scan,
                    "DescribeTaskQueue",
                    self.client.workflow_service.describe_task_queue,
                    DescribeTaskQueueRequest(
                        namespace=physical,
                        task_queue=TaskQueue(name=name),
                        task_queue_type=tqt,
                        report_stats=True,
                        report_pollers=True,
                    ),
                )
                backlog += resp.stats.approximate_backlog_count
                age = max(age, resp.stats.approximate_backlog_age.ToTimedelta().total_seconds())
                pollers += sum(
                    1
                    for p in resp.pollers
                    if now - p.last_access_time.ToSeconds() < POLLER_FRESH_SECONDS
                )
            scan.queues.append(
                QueueState(ns.name, physical, name, kind, owner, backlog, age, pollers)
            )
            if backlog > 0 and pollers == 0:
                dead.add(name)
        return dead

    async def _last_task_failure(
        self, scan: Scan, logical: str, physical: str, execution: WorkflowExecution
    ) -> str | None:
        resp = await self._call(
            scan,
            "GetWorkflowExecutionHistoryReverse",
            self.client.workflow_service.get_workflow_execution_history_reverse,
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=physical, execution=execution, maximum_page_size=20
            ),
        )
        for ev in resp.history.events:
            if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                return await self._failure_text(
                    logical, ev.workflow_task_failed_event_attributes.failure
                )
        return None
