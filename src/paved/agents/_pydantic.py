"""Pydantic AI on Temporal with Paved placement: :class:`PydanticAgents`.

Pydantic AI's durability capability (``TemporalDurability``) runs the agent
loop in the workflow and moves model requests and tool calls into activities.
Paved gives those activities their place: model requests on the declared
``llm`` worker with the model tier's timeouts and retries, tool calls on the
tools worker with the tools' tier, and records them as Paved activities so
``paved gen`` writes them into the specs and the managed workers register them.

Usage::

    llm = agents.llm_worker(namespace="research", worker="llm-pydantic")
    pyd = agents.PydanticAgents(llm, tools_worker="research-pydantic")
    agent = Agent(model, name="researcher", capabilities=[pyd.durability()])
    pyd.register(agent)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from pydantic_ai.agent.abstract import AbstractAgent
from pydantic_ai.durable_exec.temporal import (
    PydanticAIPayloadConverter,
    PydanticAIPlugin,
    TemporalDurability,
)
from pydantic_ai.durable_exec.temporal._durability import worker_registrations
from temporalio.workflow import ActivityConfig

from paved import sdk
from paved._errors import DefinitionError
from paved.agents import _llm as llm_mod
from paved.agents import _runtimes as runtimes


class PydanticAgents:
    """Declare the Pydantic AI runtime of a namespace (model calls on ``llm``, tools on ``tools_worker``)."""

    framework = "pydantic-ai"

    def __init__(
        self,
        llm: llm_mod.LLM,
        *,
        tools_worker: str,
        workers: Sequence[str] = (),
        tools_tier: int | None = None,
        tool_timeout: timedelta | None = None,
    ) -> None:
        self.llm = llm
        self.namespace = llm.namespace
        self.tools_worker = tools_worker
        self.tools_queue = sdk.default_activity_queue(tools_worker)
        self.tools_tier = tools_tier
        self.tool_timeout = tool_timeout
        self.workers = frozenset([*workers, llm.worker, tools_worker])
        frame = sys._getframe(1)
        self._source = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        self._module = str(frame.f_globals.get("__name__", "__main__"))
        runtimes.RUNTIMES.add(self)

    def _tool_config(self) -> ActivityConfig:
        d = sdk.tier_defaults(sdk.resolve_tier(self.namespace, self._source, self.tools_tier))
        return ActivityConfig(
            task_queue=self.tools_queue,
            start_to_close_timeout=self.tool_timeout or d.start_to_close,
            schedule_to_close_timeout=d.schedule_to_close,
            retry_policy=d.retry,
        )

    def _model_config(self) -> ActivityConfig:
        o = self.llm.options()
        return ActivityConfig(
            task_queue=o["task_queue"],
            start_to_close_timeout=o["start_to_close_timeout"],
            schedule_to_close_timeout=o["schedule_to_close_timeout"],
            heartbeat_timeout=o["heartbeat_timeout"],
            retry_policy=o["retry_policy"],
        )

    def durability(self, **kwargs: Any) -> TemporalDurability[Any]:
        """Pydantic AI's ``TemporalDurability`` with Paved's queues and tier defaults.

        ``kwargs`` go to ``TemporalDurability`` (``continue_as_new=``, ``event_stream_topic=``...).
        """
        return TemporalDurability(
            activity_config=self._tool_config(),
            model_activity_config=self._model_config(),
            **kwargs,
        )

    def register(self, agent: AbstractAgent[Any, Any]) -> None:
        """Record the agent's activities as Paved activities: model ones on the llm worker,
        tool ones on the tools worker (so ``paved gen`` and the managed workers see them)."""
        durability = TemporalDurability.from_agent(agent)
        if durability is None:
            raise DefinitionError(
                f"{self._source}: agent {agent.name!r} has no TemporalDurability capability",
                code="PAVED-AGENTS-NOT-DURABLE",
                fix="create it with capabilities=[runtime.durability()] before register()",
            )
        activities, _ = worker_registrations(durability)
        for fn in activities:
            name = getattr(fn, "__temporal_activity_definition").name
            is_model = "__model_" in name
            placement = (
                self.llm.placement(name, f"{agent.name}.{name}")
                if is_model
                else sdk.Placement(
                    kind="activity",
                    name=name,
                    namespace=self.namespace,
                    worker=self.tools_worker,
                    task_queue=self.tools_queue,
                    shared_queue=False,
                    tier=self.tools_tier,
                    module=self._module,
                    qualname=f"{agent.name}.{name}",
                    source=self._source,
                    explicit_queue=True,
                )
            )
            llm_mod.register(placement, fn)

    # ----- what workers need ----------------------------------------------------------

    def hosts(self, worker: str) -> bool:
        return worker in self.workers

    def payload_converter_class(self) -> type[Any]:
        return PydanticAIPayloadConverter

    def plugins(self) -> list[Any]:
        return [PydanticAIPlugin()]

    def activities(self) -> list[Callable[..., Any]]:
        return []
