"""A scripted model for the OpenAI Agents SDK: offline, deterministic, restart-safe.

The integration's ``TestModel.returning_responses`` walks an iterator held in
the llm worker's memory: kill the worker and the script starts over. A
:class:`ScriptedModel` instead picks its answer from the conversation it is
given (how many tool results it already holds), so a model call retried on
another worker process answers exactly as the first would have. It is the model
of the example under ``paved dev`` without an API key, and of the tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agents.items import TResponseStreamEvent
from openai.types.responses import Response, ResponseCompletedEvent, ResponseTextDeltaEvent
from temporalio.contrib.openai_agents.testing import ResponseBuilders

from agents import (
    AgentOutputSchemaBase,
    Handoff,
    Model,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    Tool,
    TResponseInputItem,
)


@dataclass(frozen=True)
class Step:
    """One model answer: a tool call (``tool`` and ``arguments``) or a final ``text``.

    ``text`` and string ``arguments`` may use ``{question}`` (the user's message),
    ``{last}`` (the latest tool result) and ``{first_hit}`` (its first element when
    it is a JSON list).
    """

    tool: str | None = None
    arguments: dict[str, Any] | None = None
    text: str | None = None


def _items(input: str | list[TResponseInputItem]) -> list[dict[str, Any]]:
    if isinstance(input, str):
        return [{"role": "user", "content": input}]
    return [dict(i) if isinstance(i, dict) else i.model_dump() for i in input]  # type: ignore[union-attr]


def _fill(template: str, fields: dict[str, str]) -> str:
    for key, value in fields.items():
        template = template.replace("{" + key + "}", value)
    return template


class ScriptedModel(Model):
    """Answer ``script[k]`` where k = tool results in the input since the last user message.

    Args:
        script: the steps of one turn; after the last, the last step repeats.
        delay: seconds each call takes (a stand-in for a provider's latency).
        on_call: called with ``(k, step)`` on every call (tests count calls with it).

    ``calls`` lists the step index ``k`` of every call this model answered, in order
    (in the process that runs the llm worker).
    """

    def __init__(
        self,
        script: Sequence[Step],
        *,
        delay: float = 0.0,
        on_call: Callable[[int, Step], None] | None = None,
    ) -> None:
        if not script:
            raise ValueError("a script needs at least one step")
        self.script = list(script)
        self.delay = delay
        self.on_call = on_call
        self.calls: list[int] = []
        self._turn = 0

    def step_for(self, input: str | list[TResponseInputItem]) -> tuple[int, Step, dict[str, str]]:
        items = _items(input)
        last_user = max((i for i, it in enumerate(items) if it.get("role") == "user"), default=0)
        turn = items[last_user:]
        outputs = [it for it in turn if it.get("type") == "function_call_output"]
        k = min(len(outputs), len(self.script) - 1)
        self._turn = sum(1 for it in items if it.get("role") == "user")
        question = str(items[last_user].get("content", "")) if items else ""
        last = str(outputs[-1].get("output", "")) if outputs else ""
        try:
            hits = json.loads(last)
            first_hit = str(hits[0]) if isinstance(hits, list) and hits else last
        except ValueError:
            first_hit = last
        return k, self.script[k], {"question": question, "last": last, "first_hit": first_hit}

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        **kwargs: Any,
    ) -> ModelResponse:
        k, step, fields = self.step_for(input)
        self.calls.append(k)
        if self.on_call is not None:
            self.on_call(k, step)
        if self.delay:
            await asyncio.sleep(self.delay)
        if step.tool is not None:
            args = {
                key: _fill(v, fields) if isinstance(v, str) else v
                for key, v in (step.arguments or {}).items()
            }
            return ResponseBuilders.tool_call(
                json.dumps(args),
                step.tool,
                call_id=f"call-{self._turn}-{k}",
                item_id=f"item-{self._turn}-{k}",
            )
        text = _fill(step.text or "", fields)
        return ResponseBuilders.output_message(text)

    def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        **kwargs: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """The same answer as :meth:`get_response`, streamed: a text answer as one
        ``response.output_text.delta`` per word, then ``response.completed``."""
        return self._stream(
            system_instructions, input, model_settings, tools, output_schema, handoffs, tracing
        )

    async def _stream(self, *args: Any) -> AsyncIterator[TResponseStreamEvent]:
        response = await self.get_response(*args)
        seq = 0
        for item in response.output:
            if getattr(item, "type", "") != "message":
                continue
            for part in getattr(item, "content", []):
                words = str(getattr(part, "text", "")).split(" ")
                for i, word in enumerate(words):
                    yield ResponseTextDeltaEvent(
                        type="response.output_text.delta",
                        item_id=f"item-{self._turn}",
                        output_index=0,
                        content_index=0,
                        delta=word if i == len(words) - 1 else word + " ",
                        logprobs=[],
                        sequence_number=seq,
                    )
                    seq += 1
        yield ResponseCompletedEvent(
            type="response.completed",
            sequence_number=seq,
            response=Response(
                id=f"scripted-{self._turn}",
                created_at=0,
                model="scripted",
                object="response",
                output=list(response.output),
                parallel_tool_calls=False,
                tool_choice="auto",
                tools=[],
            ),
        )
