"""Pydantic AI on Temporal with Paved placement: :class:`PydanticAgents`.

Pydantic AI's durability capability (``TemporalDurability``) runs the agent
loop in the workflow and moves model requests and tool calls into activities.
Paved gives those activities their place: model requests on the declared
``llm`` worker with the model tier's timeouts and retries, tool calls on the
tools worker with the tools' tier, and records them as Paved activities so
``paved gen`` writes them into the specs and the managed workers register them.

Usage::

    llm = agents.llm_worker(namespace="research", worker="llm-pydantic")   # model tier
    pyd = agents.PydanticAgents(llm, tools_worker="research-pydantic")
    agent = Agent(model, name="researcher", capabilities=[pyd.durability(tier=2)])

    @agent.tool_plain(metadata=pyd.tool(tier=3))     # one tool's own tier
    async def crawl(url: str) -> str: ...

    pyd.register(agent)

Tiers come from the declarations, most specific first: a tool's ``pyd.tool(tier=)``,
the agent's ``durability(tier=)``, the runtime's ``tools_tier=``, and only then the
namespace's tier in ``paved.yaml``; model requests take the ``llm_worker``'s tier (else
the namespace's). ``register`` records the agent's tool activities with the agent's
tier, so ``paved gen`` writes that tier into the specs.
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
        _check_tier(self._source, "tools_tier", tools_tier)
        # the tier each agent's durability() declared (held with it: looked up by identity)
        self._agent_tiers: list[tuple[TemporalDurability[Any], int | None]] = []
        runtimes.RUNTIMES.add(self)

    def _tool_config(self, tier: int | None = None, source: str | None = None) -> ActivityConfig:
        declared = self.tools_tier if tier is None else tier
        d = sdk.tier_defaults(sdk.resolve_tier(self.namespace, source or self._source, declared))
        return ActivityConfig(
            task_queue=self.tools_queue,
            start_to_close_timeout=self.tool_timeout or d.start_to_close,
            schedule_to_close_timeout=d.schedule_to_close,
            retry_policy=d.retry,
        )

    def tool(self, *, tier: int | None = None, **overrides: Any) -> dict[str, Any]:
        """Tool metadata giving one Pydantic AI tool its own tier (and option overrides).

        ``@agent.tool_plain(metadata=pyd.tool(tier=3))``: the tool's activity gets
        tier 3's timeouts and retries on the tools queue (``start_to_close_timeout=``,
        ``retry_policy=``... override them). Pydantic AI reads the ``temporal`` key of
        a tool's metadata as that tool's activity config.
        """
        frame = sys._getframe(1)
        source = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        _check_tier(source, "tool(tier=)", tier)
        unknown = sorted(set(overrides) - _TOOL_OPTIONS)
        if unknown:
            raise DefinitionError(
                f"{source}: tool() got unknown option(s) {', '.join(unknown)}",
                code="PAVED-AGENTS-OPTION",
                fix=f"use only {', '.join(sorted(_TOOL_OPTIONS))}",
            )
        config = self._tool_config(tier, source)
        config.update(overrides)  # type: ignore[typeddict-item]
        return {"temporal": config}

    def _model_config(self) -> ActivityConfig:
        o = self.llm.options()
        return ActivityConfig(
            task_queue=o["task_queue"],
            start_to_close_timeout=o["start_to_close_timeout"],
            schedule_to_close_timeout=o["schedule_to_close_timeout"],
            heartbeat_timeout=o["heartbeat_timeout"],
            retry_policy=o["retry_policy"],
        )

    def durability(self, *, tier: int | None = None, **kwargs: Any) -> TemporalDurability[Any]:
        """Pydantic AI's ``TemporalDurability`` with Paved's queues and tier defaults.

        ``tier``: this agent's tools' tier (default: the runtime's ``tools_tier``, else
        the namespace's). ``kwargs`` go to ``TemporalDurability`` (``continue_as_new=``,
        ``event_stream_topic=``...).
        """
        frame = sys._getframe(1)
        source = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        _check_tier(source, "durability(tier=)", tier)
        durability: TemporalDurability[Any] = TemporalDurability(
            activity_config=self._tool_config(tier, source),
            model_activity_config=self._model_config(),
            **kwargs,
        )
        self._agent_tiers.append((durability, tier))
        return durability

    def _tier_of(self, durability: TemporalDurability[Any]) -> int | None:
        # the agent holds a bound copy of what durability() returned, sharing its config
        for d, tier in self._agent_tiers:
            if d is durability or d.activity_config is durability.activity_config:
                return tier if tier is not None else self.tools_tier
        return self.tools_tier

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
        tools_tier = self._tier_of(durability)
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
                    tier=tools_tier,
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


_TOOL_OPTIONS = frozenset(
    {"start_to_close_timeout", "schedule_to_close_timeout", "heartbeat_timeout", "retry_policy"}
)


def _check_tier(source: str, what: str, tier: int | None) -> None:
    if tier is not None and tier not in (0, 1, 2, 3):
        raise DefinitionError(
            f"{source}: PydanticAgents {what} {tier!r} is not a tier",
            code="PAVED-AGENTS-TIER",
            fix="use 0 (critical), 1, 2 or 3 (best effort), or leave it to the namespace",
        )
