"""Long polls whose caller left: the upstream poll ends with it, and a task that came too late is given back.

A worker's poll (``PollWorkflowTaskQueue``, ``PollActivityTaskQueue``, up to
70 s) is one upstream call per caller's call. When the caller goes away (the
SDK cancels its polls at shutdown, the poller autoscaler drops one, the process
is killed and its connection closes), gRPC cancels the proxy's handler, and the
handler's cancellation cancels the upstream call (``Pipeline.forward`` awaits
it), so Temporal stops offering tasks to a poll nobody waits for.

One race stays: Temporal can match a task to the poll in the instant the
caller leaves. Temporal has then recorded the task as started, and without
help it waits for the task's timeout: a workflow task's (10 s by default), an
activity's heartbeat or start-to-close timeout (minutes). When the proxy holds
such an answer (it arrived, but the caller had already gone), it gives the task
back to Temporal at once, as a worker does with a task it cannot run:

- a workflow task: ``RespondWorkflowTaskFailed``. Temporal schedules the next
  attempt at once, on the normal queue (a sticky queue's worker is gone); the
  history gets a ``WorkflowTaskFailed`` event that says why. No workflow code
  ran, so nothing is replayed differently.
- an activity task: ``RespondActivityTaskFailed`` with a retryable
  ``PavedTaskUndelivered`` failure. The activity never ran; the attempt ends
  now instead of at its timeout, and the retry policy decides as it would have
  for the timeout (an activity without attempts left fails, as it would have).
- a legacy query, a Nexus task: left to their timeouts (counted and logged).

Each one is logged (``PAVED-PROXY-UNDELIVERED``, with the workflow and the
attempt, never payloads) and counted in
``paved_proxy_undelivered_tasks_total{method, outcome}``. An answer lost after
the proxy handed it to gRPC (the connection died while it was being written)
cannot be seen here: that one waits for its timeout, as it would without the
proxy.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.workflowservice.v1 import (
    PollActivityTaskQueueResponse,
    PollNexusTaskQueueResponse,
    PollWorkflowTaskQueueResponse,
    RespondActivityTaskFailedRequest,
    RespondWorkflowTaskFailedRequest,
)

from paved.proxy import _methods as methods
from paved.proxy._context import CallContext
from paved.proxy._observe import Metrics
from paved.proxy._upstream import ChannelPool

log = logging.getLogger("paved.proxy")

UNDELIVERED = "PAVED-PROXY-UNDELIVERED"
FAILURE_TYPE = "PavedTaskUndelivered"
IDENTITY = "paved-proxy"

_WF = f"/{methods.WORKFLOW_SERVICE}/"
_POLL_WORKFLOW = _WF + "PollWorkflowTaskQueue"
_POLL_ACTIVITY = _WF + "PollActivityTaskQueue"
_POLL_NEXUS = _WF + "PollNexusTaskQueue"
_MESSAGE = (
    "[PAVED-PROXY-UNDELIVERED] the poll this task was given to had gone (its caller "
    "cancelled it or disconnected) when the task arrived at the paved proxy; the proxy gave "
    "the task back so that another worker takes it now instead of at its timeout"
)


async def give_back(pool: ChannelPool, call: CallContext, raw: bytes, metrics: Metrics) -> None:
    """Hand a poll answer whose caller left back to Temporal (see the module docstring).

    ``raw`` is the upstream answer, as Temporal sent it. Never raises: a give-back
    that fails leaves the task to its timeout, as it would have been without it.
    """
    name = call.method.name
    try:
        request, respond, what = _respond_request(call.method.path, raw, call.physical)
    except Exception:  # an answer we cannot read: nothing to give back
        log.exception("%s: cannot read the answer of %s", UNDELIVERED, name)
        return
    if not what:
        return  # no task in it (an empty poll, an update's outcome): nothing is lost
    if request is None:
        metrics.undelivered.labels(name, "left").inc()
        log.warning(
            "%s: %s arrived after its caller left; it waits for its timeout (namespace %r)",
            UNDELIVERED,
            what,
            call.logical,
        )
        return
    try:
        await pool.callable(respond)(
            request.SerializeToString(),
            timeout=10,
            metadata=call.upstream_metadata + list(pool.auth_metadata),
        )
    except grpc.aio.AioRpcError as e:
        metrics.undelivered.labels(name, "failed").inc()
        log.warning(
            "%s: %s arrived after its caller left and could not be given back (%s); it "
            "waits for its timeout (namespace %r)",
            UNDELIVERED,
            what,
            e.code().name,
            call.logical,
        )
        return
    metrics.undelivered.labels(name, "returned").inc()
    log.warning(
        "%s: %s arrived after its caller left; given back to Temporal for another worker "
        "(namespace %r)",
        UNDELIVERED,
        what,
        call.logical,
    )


def _respond_request(path: str, raw: bytes, namespace: str) -> tuple[Any, str, str]:
    """(the request that gives the task back, its method path, what the task is); the
    request is None for a task left to its timeout, and all are empty without a task."""
    failure = Failure(
        message=_MESSAGE,
        application_failure_info=ApplicationFailureInfo(type=FAILURE_TYPE, non_retryable=False),
    )
    if path == _POLL_WORKFLOW:
        wt = PollWorkflowTaskQueueResponse.FromString(raw)
        if not wt.task_token:
            return None, "", ""
        wf = wt.workflow_execution.workflow_id
        if wt.HasField("query"):  # a legacy query: its caller gets a timeout
            return None, "", f"a query task (workflow {wf!r})"
        return (
            RespondWorkflowTaskFailedRequest(
                namespace=namespace,
                task_token=wt.task_token,
                cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED,
                failure=failure,
                identity=IDENTITY,
            ),
            _WF + "RespondWorkflowTaskFailed",
            f"a workflow task (workflow {wf!r}, attempt {wt.attempt})",
        )
    if path == _POLL_ACTIVITY:
        at = PollActivityTaskQueueResponse.FromString(raw)
        if not at.task_token:
            return None, "", ""
        return (
            RespondActivityTaskFailedRequest(
                namespace=namespace, task_token=at.task_token, failure=failure, identity=IDENTITY
            ),
            _WF + "RespondActivityTaskFailed",
            f"an activity task ({at.activity_type.name!r} of workflow "
            f"{at.workflow_execution.workflow_id!r}, attempt {at.attempt})",
        )
    if path == _POLL_NEXUS:
        if not PollNexusTaskQueueResponse.FromString(raw).task_token:
            return None, "", ""
        return None, "", "a Nexus task"
    return None, "", ""
