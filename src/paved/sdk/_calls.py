"""Calling Paved activities from workflows with the tier's defaults.

``paved.execute_activity(render, req)`` is ``workflow.execute_activity`` with the
task queue taken from the activity's placement and timeouts and a retry policy
taken from its tier (0 = critical ... 3 = best effort); every default can be
overridden per call. Deterministic: it reads only the decorated function's
placement, which recorded its namespace's tier from the project's ``paved.yaml``
when the decorator ran (see :mod:`paved.sdk._tiers`), so the same code issues
the same commands under ``paved worker run``, a plain temporalio Worker and the
Replayer. A namespace without a known tier is an error naming it.

An activity declared ``local=True`` and called from a workflow placed on the
same worker runs as a Temporal local activity in that workflow's worker
(:func:`paved.sdk._placement.runs_local`): the same timeouts and retry policy,
no task queue, no heartbeat timeout (a local activity cannot heartbeat).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import workflow as t_workflow

from paved.sdk import _placement as placements
from paved.sdk import _registry as registry
from paved.sdk import _tiers as tiers

# What a local activity takes of the options an activity call may carry.
_LOCAL_OPTIONS = frozenset(
    {
        "start_to_close_timeout",
        "schedule_to_close_timeout",
        "schedule_to_start_timeout",
        "retry_policy",
        "local_retry_threshold",
        "cancellation_type",
        "activity_id",
        "summary",
    }
)


def tier_of(obj: Any) -> int:
    """The tier whose defaults a Paved workflow or activity gets (see :mod:`paved.sdk._tiers`).

    Raises:
        DefinitionError: ``PAVED-TIER-MISSING``, naming the namespace, when the
            decorator gave no ``tier=`` and no ``paved.yaml`` above the code
            declares the namespace.
    """
    placement = obj if isinstance(obj, placements.Placement) else placements.placement_of(obj)
    return placement.effective_tier


def activity_options(fn: Callable[..., Any], **overrides: Any) -> dict[str, Any]:
    """The keyword arguments ``paved.execute_activity`` passes to temporalio."""
    placement = placements.placement_of(fn)
    d = tiers.tier_defaults(placement.effective_tier)
    opts: dict[str, Any] = {
        "task_queue": placement.task_queue,
        "start_to_close_timeout": d.start_to_close,
        "schedule_to_close_timeout": d.schedule_to_close,
        "heartbeat_timeout": d.heartbeat,
        "retry_policy": d.retry,
    }
    opts.update(overrides)
    return opts


def calling_workflow() -> placements.Placement | None:
    """The placement of the workflow whose code is running (None outside Paved workflows)."""
    entry = registry.definitions("workflow").get(t_workflow.info().workflow_type)
    return entry[0] if entry is not None else None


def runs_local(fn: Callable[..., Any], **overrides: Any) -> bool:
    """Whether ``paved.execute_activity(fn, ...)`` from the current workflow runs it locally.

    Paved's local rule (:func:`paved.sdk._placement.runs_local`), unless the call
    names a ``task_queue`` (then it is an ordinary activity on that queue).
    """
    if "task_queue" in overrides:
        return False
    return placements.runs_local(placements.placement_of(fn), calling_workflow())


async def execute_activity(fn: Callable[..., Any], *args: Any, **overrides: Any) -> Any:
    """Run a Paved activity from a workflow and wait for its result.

    Positional ``args`` are the activity's arguments; keyword ``overrides`` are
    any ``workflow.execute_activity`` option (``start_to_close_timeout=``,
    ``retry_policy=``, ``task_queue=``, ...). An activity declared ``local=True``
    on this workflow's worker runs as a local activity (see :func:`runs_local`).
    """
    opts = activity_options(fn, **overrides)
    if runs_local(fn, **overrides):
        local = {k: v for k, v in opts.items() if k in _LOCAL_OPTIONS}
        if len(args) == 1:
            return await t_workflow.execute_local_activity(fn, args[0], **local)
        return await t_workflow.execute_local_activity(fn, args=list(args), **local)
    if len(args) == 1:
        return await t_workflow.execute_activity(fn, args[0], **opts)
    return await t_workflow.execute_activity(fn, args=list(args), **opts)


def start_activity(fn: Callable[..., Any], *args: Any, **overrides: Any) -> Any:
    """Like :func:`execute_activity` but returns the handle without waiting."""
    opts = activity_options(fn, **overrides)
    if runs_local(fn, **overrides):
        local = {k: v for k, v in opts.items() if k in _LOCAL_OPTIONS}
        if len(args) == 1:
            return t_workflow.start_local_activity(fn, args[0], **local)
        return t_workflow.start_local_activity(fn, args=list(args), **local)
    if len(args) == 1:
        return t_workflow.start_activity(fn, args[0], **opts)
    return t_workflow.start_activity(fn, args=list(args), **opts)
