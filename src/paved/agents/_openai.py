"""The OpenAI Agents SDK on Temporal with Paved placement: :class:`OpenAIAgents` and :func:`tool`.

This is temporalio's integration (``temporalio-openai-agents``, the
``temporalio[openai-agents]`` extra), configured, not replaced: inside a
workflow ``agents.Runner.run(agent, ...)`` runs the agent loop
deterministically and every model call becomes the integration's
``invoke_model_activity``; Paved places that activity on the declared ``llm``
worker with the model tier's timeouts and retries, and :func:`tool` turns a
``@paved.activity`` into an agent tool on its own queue with its tier's
defaults (``activity_as_tool`` underneath).

Retry-After: the integration's model activity turns an OpenAI 429/5xx into a
retryable ``ApplicationError`` whose ``next_retry_delay`` is the provider's
``Retry-After`` (``retry-after-ms`` too); Temporal waits that long.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.contrib.openai_agents import (
    ModelActivityParameters,
    OpenAIAgentsPlugin,
    OpenAIPayloadConverter,
)
from temporalio.contrib.openai_agents.workflow import activity_as_tool
from temporalio.exceptions import ApplicationError

# The integration's model activity class: public behaviour (its activity names are
# what the integration's workflow-side stub schedules), private module. Paved
# registers its bound methods as Paved activities on the llm worker.
from temporalio.openai_agents._invoke_model_activity import ModelActivity

from agents import (
    Agent,
    Model,
    ModelProvider,
    ModelResponse,
    RunContextWrapper,
    RunHooks,
    Tool,
    TResponseInputItem,
)
from paved import sdk
from paved.agents import _llm as llm_mod
from paved.agents import _runtimes as runtimes
from paved.agents import _stream as stream

MODEL_ACTIVITIES = ("invoke_model_activity", "invoke_model_activity_streaming")


class _ProviderSlot(ModelProvider):
    """The model provider of a runtime, chosen when the worker starts (not at import).

    Default: OpenAI's provider with the SDK's own retries off (Temporal retries),
    when ``OPENAI_API_KEY`` is set; otherwise a clear, non-retryable error.
    """

    def __init__(self, provider: ModelProvider | None) -> None:
        self.provider = provider

    def get_model(self, model_name: str | None) -> Model:
        if self.provider is None:
            if not os.environ.get("OPENAI_API_KEY"):
                raise ApplicationError(
                    "[PAVED-AGENTS-NO-MODEL] no model provider on this llm worker: "
                    "OPENAI_API_KEY is not set and no test model was configured; "
                    "fix: set OPENAI_API_KEY, or call use_model_provider() / use_model() "
                    "on the OpenAIAgents runtime at worker start",
                    type="PavedNoModelProvider",
                    non_retryable=True,
                )
            from openai import AsyncOpenAI

            from agents import OpenAIProvider

            self.provider = OpenAIProvider(openai_client=AsyncOpenAI(max_retries=0))
        return self.provider.get_model(model_name)


class OpenAIAgents:
    """Declare the OpenAI Agents SDK runtime of a namespace.

    Example::

        llm = agents.llm_worker(namespace="research", worker="llm", tier=1)
        openai_agents = agents.OpenAIAgents(llm, workers=["research"])

    ``workers``: the Paved workers whose workflows run agents (they get the
    integration's plugin and payload converter); the llm worker is always included.
    """

    framework = "openai-agents"

    def __init__(
        self,
        llm: llm_mod.LLM,
        *,
        workers: Sequence[str] = (),
        provider: ModelProvider | None = None,
        streaming_topic: str | None = None,
    ) -> None:
        self.llm = llm
        self.namespace = llm.namespace
        self.workers = frozenset([*workers, llm.worker])
        self.streaming_topic = streaming_topic
        self._slot = _ProviderSlot(provider)
        self._activity = ModelActivity(self._slot)
        self._activities: dict[str, Callable[..., Any]] = {
            "invoke_model_activity": self._activity.invoke_model_activity,
            "invoke_model_activity_streaming": self._activity.invoke_model_activity_streaming,
        }
        for name, fn in self._activities.items():
            llm_mod.register(llm.placement(name, f"OpenAIAgents.{name}"), fn)
        runtimes.RUNTIMES.add(self)

    # ----- configuration at worker start ---------------------------------------------

    def use_model_provider(self, provider: ModelProvider | None) -> None:
        """Make model calls with ``provider`` (None: OpenAI with ``OPENAI_API_KEY``)."""
        self._slot.provider = provider

    @property
    def model_provider(self) -> ModelProvider | None:
        """The provider model calls use now (None: OpenAI with ``OPENAI_API_KEY``)."""
        return self._slot.provider

    def use_model(self, model: Model) -> None:
        """Make every model call with ``model`` (a test or scripted model)."""
        from temporalio.contrib.openai_agents.testing import TestModelProvider

        self._slot.provider = TestModelProvider(model)

    # ----- what workers and clients need ---------------------------------------------

    def hosts(self, worker: str) -> bool:
        return worker in self.workers

    def payload_converter_class(self) -> type[Any]:
        return OpenAIPayloadConverter

    def model_params(self) -> ModelActivityParameters:
        """The integration's model-activity parameters: the llm queue and the model tier."""
        o = self.llm.options()
        return ModelActivityParameters(
            task_queue=o["task_queue"],
            start_to_close_timeout=o["start_to_close_timeout"],
            schedule_to_close_timeout=o["schedule_to_close_timeout"],
            schedule_to_start_timeout=o.get("schedule_to_start_timeout"),
            heartbeat_timeout=o["heartbeat_timeout"],
            retry_policy=o["retry_policy"],
            streaming_topic=self.streaming_topic,
        )

    def plugins(self) -> list[Any]:
        """The integration's plugin for a Worker: runner override, sandbox pass-through,
        tracing kept inside Temporal. Model activities are registered by Paved from the
        specs (on the llm worker only), so the plugin registers none."""
        return [OpenAIAgentsPlugin(model_params=self.model_params(), register_activities=False)]

    def activities(self) -> list[Callable[..., Any]]:
        """The model-call activities (what the llm worker registers)."""
        return list(self._activities.values())


def tool(fn: Callable[..., Any], **overrides: Any) -> Tool:
    """An agent tool that runs ``@paved.activity`` ``fn`` as an activity on its own queue.

    Call it inside the workflow. Timeouts and retries are the activity's tier
    defaults (``paved.execute_activity``'s), overridable per tool
    (``heartbeat_timeout=`` for long tools that heartbeat).
    """
    opts = sdk.activity_options(fn, **overrides)
    return activity_as_tool(fn, **opts)


class ProgressHooks(RunHooks[Any]):
    """Agent run hooks that emit step events to a workflow's :class:`paved.agents.Progress`.

    ``Runner.run(agent, input, hooks=ProgressHooks(self.progress))``: each model call
    and tool call becomes an event (``model_start``/``model_end``/``tool_start``/``tool_end``).
    The hooks run in workflow code, so events are deterministic and cost no history.
    """

    def __init__(self, progress: stream.Progress) -> None:
        self.progress = progress

    async def on_llm_start(
        self,
        context: RunContextWrapper[Any],
        agent: Agent[Any],
        system_prompt: str | None,
        input_items: list[TResponseInputItem],
    ) -> None:
        self.progress.emit("model_start", agent=agent.name, items=len(input_items))

    async def on_llm_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], response: ModelResponse
    ) -> None:
        calls = [
            getattr(o, "name", "")
            for o in response.output
            if getattr(o, "type", "") == "function_call"
        ]
        self.progress.emit("model_end", agent=agent.name, tool_calls=calls)

    async def on_tool_start(
        self, context: RunContextWrapper[Any], agent: Agent[Any], tool: Tool
    ) -> None:
        self.progress.emit("tool_start", agent=agent.name, tool=tool.name)

    async def on_tool_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], tool: Tool, result: object
    ) -> None:
        text = str(result)
        self.progress.emit("tool_end", agent=agent.name, tool=tool.name, chars=len(text))
