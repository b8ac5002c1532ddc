"""Where model calls run, and with which timeouts and retries: the ``llm`` worker.

A model call is an activity like any other, but its limits are the provider's,
not the product's: a provider accepts N requests in flight per key and answers
429 with a ``Retry-After`` past that. So model calls get their own worker and
queue (declared here, generated into ``specs/workers.yaml`` by ``paved gen``),
whose activity slots (``max_concurrent_activities`` in ``paved.yaml``) are the
provider's concurrency: the backlog waits in Temporal's task queue instead of
turning into 429s.

Both frameworks' Temporal integrations turn a provider's ``Retry-After`` into the
activity failure's ``next_retry_delay`` (Temporal then waits that long instead of
its backoff); Pydantic AI caps it at the retry policy's ``maximum_interval``, so
the model tiers below keep that interval above a typical rate-limit window.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from paved import sdk
from paved._errors import DefinitionError


@dataclass(frozen=True)
class ModelTier:
    """Default options of a model-call activity for a tier."""

    start_to_close: timedelta
    schedule_to_close: timedelta | None
    heartbeat: timedelta
    retry: RetryPolicy


MODEL_TIERS: dict[int, ModelTier] = {
    # Tier 0/1: user-facing. A minute-long Retry-After is honoured; no attempt limit,
    # the schedule-to-close budget ends it.
    0: ModelTier(
        start_to_close=timedelta(minutes=2),
        schedule_to_close=timedelta(hours=1),
        heartbeat=timedelta(seconds=20),
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=90),
        ),
    ),
    1: ModelTier(
        start_to_close=timedelta(minutes=2),
        schedule_to_close=timedelta(hours=6),
        heartbeat=timedelta(seconds=20),
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=2),
        ),
    ),
    2: ModelTier(
        start_to_close=timedelta(minutes=5),
        schedule_to_close=timedelta(hours=6),
        heartbeat=timedelta(seconds=30),
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=2),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=5),
            maximum_attempts=30,
        ),
    ),
    3: ModelTier(
        start_to_close=timedelta(minutes=5),
        schedule_to_close=timedelta(hours=2),
        heartbeat=timedelta(seconds=30),
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=5),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=5),
            maximum_attempts=5,
        ),
    ),
}


@dataclass(frozen=True)
class LLM:
    """The declared worker and queue that make model calls.

    Attributes:
        namespace: logical namespace (as in ``paved.yaml``).
        worker: the managed worker that polls ``task_queue`` (default ``llm``); give it
            ``tuning: {max_concurrent_activities: N}`` in ``paved.yaml`` with N the
            provider's concurrency.
        task_queue: default ``<worker>-activities``.
        tier: model-call tier (``MODEL_TIERS``); default: the namespace's tier.
        overrides: per-option overrides (``start_to_close_timeout=``, ``heartbeat_timeout=``,
            ``retry_policy=``, ``schedule_to_close_timeout=``).
        source: ``file:line`` of the declaration.
        module: the product module that declared it (the worker imports it).
    """

    namespace: str
    worker: str
    task_queue: str
    tier: int | None
    overrides: tuple[tuple[str, Any], ...]
    source: str
    module: str

    def options(self) -> dict[str, Any]:
        """Activity options of a model call: queue, the tier's timeouts and retries, overrides."""
        d = MODEL_TIERS[sdk.resolve_tier(self.namespace, self.source, self.tier)]
        opts: dict[str, Any] = {
            "task_queue": self.task_queue,
            "start_to_close_timeout": d.start_to_close,
            "schedule_to_close_timeout": d.schedule_to_close,
            "heartbeat_timeout": d.heartbeat,
            "retry_policy": d.retry,
        }
        opts.update(dict(self.overrides))
        return opts

    def placement(self, name: str, qualname: str) -> sdk.Placement:
        """The Paved placement of model-call activity ``name`` on this worker."""
        return sdk.Placement(
            kind="activity",
            name=name,
            namespace=self.namespace,
            worker=self.worker,
            task_queue=self.task_queue,
            shared_queue=False,
            tier=self.tier,
            module=self.module,
            qualname=qualname,
            source=self.source,
            explicit_queue=True,
        )


OPTION_NAMES = frozenset(
    {
        "start_to_close_timeout",
        "schedule_to_close_timeout",
        "schedule_to_start_timeout",
        "heartbeat_timeout",
        "retry_policy",
    }
)


def llm_worker(
    *,
    namespace: str,
    worker: str = "llm",
    task_queue: str | None = None,
    tier: int | None = None,
    **overrides: Any,
) -> LLM:
    """Declare the worker that makes model calls for ``namespace``.

    Pass the result to :class:`paved.agents.OpenAIAgents` or
    :func:`paved.agents.pydantic_durability`; they place the framework's model
    activities on it.
    """
    frame = sys._getframe(1)
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    module = str(frame.f_globals.get("__name__", "__main__"))
    queue = task_queue or sdk.default_activity_queue(worker)
    check_declaration(where, "llm_worker", tier, overrides)
    check_names(where, "llm_worker", namespace, worker, queue)
    return LLM(
        namespace=namespace,
        worker=worker,
        task_queue=queue,
        tier=tier,
        overrides=tuple(sorted(overrides.items())),
        source=where,
        module=module,
    )


def check_declaration(
    where: str, what: str, tier: int | None, overrides: Mapping[str, Any]
) -> None:
    """Raise ``DefinitionError`` for a bad tier or an unknown activity option of ``what``."""
    if tier is not None and tier not in MODEL_TIERS:
        raise DefinitionError(
            f"{where}: {what} tier={tier!r} is not a tier",
            code="PAVED-AGENTS-TIER",
            fix="use 0 (critical), 1, 2 or 3 (best effort), or leave it to the namespace",
        )
    unknown = sorted(set(overrides) - OPTION_NAMES)
    if unknown:
        raise DefinitionError(
            f"{where}: {what} got unknown option(s) {', '.join(unknown)}",
            code="PAVED-AGENTS-OPTION",
            fix=f"use only {', '.join(sorted(OPTION_NAMES))}",
        )


def check_names(where: str, what: str, namespace: str, worker: str, queue: str) -> None:
    """Raise ``DefinitionError`` for an invalid namespace, worker or queue name of ``what``."""
    import re

    name_re = re.compile(sdk.NAME_PATTERN)
    if not name_re.match(namespace):
        raise DefinitionError(
            f"{where}: {what} namespace={namespace!r} is not a valid logical namespace name",
            code="PAVED-DEF-NAMESPACE",
            fix="use lower-case letters, digits and '-', starting with a letter",
        )
    if not name_re.match(worker):
        raise DefinitionError(
            f"{where}: {what} worker={worker!r} is not a valid worker name",
            code="PAVED-DEF-WORKER",
            fix="use lower-case letters, digits and '-', starting with a letter (e.g. 'llm')",
        )
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$", queue):
        raise DefinitionError(
            f"{where}: {what} task_queue={queue!r} is not a valid task queue name",
            code="PAVED-DEF-QUEUE",
            fix="use letters, digits, '.', '_' and '-'",
        )


def register(placement: sdk.Placement, obj: Any) -> None:
    """Record a framework activity under its Paved placement (skipped inside the sandbox)."""
    from temporalio import workflow as t_workflow

    if t_workflow.unsafe.in_sandbox():
        return
    sdk.register(placement, obj)
