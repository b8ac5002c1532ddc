"""Calling Paved activities from workflows with the tier's defaults.

``paved.execute_activity(render, req)`` is ``workflow.execute_activity`` with the
task queue taken from the activity's placement and timeouts and a retry policy
taken from its tier (0 = critical ... 3 = best effort); every default can be
overridden per call. Deterministic: it reads only the decorated function and a
module-level table, so it is safe inside the workflow sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow as t_workflow
from temporalio.common import RetryPolicy

from paved.sdk import _decorators as decorators


@dataclass(frozen=True)
class TierDefaults:
    """Default activity options for a tier."""

    start_to_close: timedelta
    schedule_to_close: timedelta | None
    heartbeat: timedelta | None
    retry: RetryPolicy


TIER_DEFAULTS: dict[int, TierDefaults] = {
    # Tier 0: user-facing and critical. Retry for a long time, quickly at first.
    0: TierDefaults(
        start_to_close=timedelta(minutes=5),
        schedule_to_close=timedelta(hours=24),
        heartbeat=None,
        retry=RetryPolicy(
            initial_interval=timedelta(milliseconds=200),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=30),
        ),
    ),
    1: TierDefaults(
        start_to_close=timedelta(minutes=5),
        schedule_to_close=timedelta(hours=6),
        heartbeat=None,
        retry=RetryPolicy(
            initial_interval=timedelta(milliseconds=500),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=1),
        ),
    ),
    2: TierDefaults(
        start_to_close=timedelta(minutes=10),
        schedule_to_close=timedelta(hours=2),
        heartbeat=None,
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=2),
            maximum_attempts=50,
        ),
    ),
    # Tier 3: best effort; give up after a handful of attempts.
    3: TierDefaults(
        start_to_close=timedelta(minutes=10),
        schedule_to_close=timedelta(minutes=30),
        heartbeat=None,
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=2),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=5),
            maximum_attempts=5,
        ),
    ),
}
DEFAULT_TIER = 2

# Filled by the managed worker from the specs (logical namespace -> tier). The
# worker passes ``paved`` through the sandbox, so workflows see this table.
NAMESPACE_TIERS: dict[str, int] = {}


def tier_for(placement: decorators.Placement) -> int:
    if placement.tier is not None:
        return placement.tier
    return NAMESPACE_TIERS.get(placement.namespace, DEFAULT_TIER)


def activity_options(fn: Callable[..., Any], **overrides: Any) -> dict[str, Any]:
    """The keyword arguments ``paved.execute_activity`` passes to temporalio."""
    placement = decorators.placement_of(fn)
    d = TIER_DEFAULTS[tier_for(placement)]
    opts: dict[str, Any] = {
        "task_queue": placement.task_queue,
        "start_to_close_timeout": d.start_to_close,
        "schedule_to_close_timeout": d.schedule_to_close,
        "heartbeat_timeout": d.heartbeat,
        "retry_policy": d.retry,
    }
    opts.update(overrides)
    return opts


async def execute_activity(fn: Callable[..., Any], *args: Any, **overrides: Any) -> Any:
    """Run a Paved activity from a workflow and wait for its result.

    Positional ``args`` are the activity's arguments; keyword ``overrides`` are
    any ``workflow.execute_activity`` option (``start_to_close_timeout=``,
    ``retry_policy=``, ``task_queue=``, ...).
    """
    opts = activity_options(fn, **overrides)
    if len(args) == 1:
        return await t_workflow.execute_activity(fn, args[0], **opts)
    return await t_workflow.execute_activity(fn, args=list(args), **opts)


def start_activity(fn: Callable[..., Any], *args: Any, **overrides: Any) -> Any:
    """Like :func:`execute_activity` but returns the handle without waiting."""
    opts = activity_options(fn, **overrides)
    if len(args) == 1:
        return t_workflow.start_activity(fn, args[0], **opts)
    return t_workflow.start_activity(fn, args=list(args), **opts)
