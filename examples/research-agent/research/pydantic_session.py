"""``ResearchSessionPydantic``: the same session with Pydantic AI's Temporal durability.

The session logic is :class:`research.session.SessionLoop`; only the agent run
differs. The agent's model requests run on the ``llm-pydantic`` worker and its
tool calls on ``research-pydantic`` (Pydantic AI runs a toolset's tools in one
``call_tool`` activity per call), with Paved's tiers.
"""

from __future__ import annotations

import json
import os
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic_ai import Agent
    from pydantic_ai.messages import (
        ModelMessage,
        ModelMessagesTypeAdapter,
        ModelRequest,
        ModelResponse,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
        UserPromptPart,
    )
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    import paved
    import research.documents as documents
    from paved import agents
    from research.models import SessionInput, SessionResult
    from research.session import INSTRUCTIONS, SessionLoop


def offline_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Search, read the best match, then report what it read (restart-safe: from the messages)."""
    question, returns = "", []
    for m in messages:
        if isinstance(m, ModelRequest):
            for part in m.parts:
                if isinstance(part, UserPromptPart):
                    question, returns = str(part.content), []
                elif isinstance(part, ToolReturnPart):
                    returns.append(str(part.content))
    if not returns:
        return ModelResponse(parts=[ToolCallPart("search", {"query": question})])
    if len(returns) == 1:
        try:
            hits = json.loads(returns[0])
        except ValueError:
            hits = []
        doc = hits[0] if isinstance(hits, list) and hits else documents.doc_ids()[0]
        return ModelResponse(parts=[ToolCallPart("read", {"doc_id": doc})])
    return ModelResponse(
        parts=[TextPart(f"Report (offline model)\n\nFrom the documents:\n\n{returns[-1]}")]
    )


llm = agents.llm_worker(namespace="research", worker="llm-pydantic", tier=1)
pydantic_agents = agents.PydanticAgents(llm, tools_worker="research-pydantic", tools_tier=1)
model: Any = (
    f"openai:{os.environ.get('RESEARCH_MODEL', 'gpt-4o-mini')}"
    if os.environ.get("OPENAI_API_KEY")
    else FunctionModel(offline_model)
)
researcher = Agent(
    model, name="researcher", instructions=INSTRUCTIONS, capabilities=[pydantic_agents.durability()]
)


@researcher.tool_plain
async def search(query: str) -> str:
    """Search the local documents; returns the ids of the best matches."""
    hits = documents.search(query)
    return json.dumps(hits) if hits else "no matching documents"


@researcher.tool_plain
async def read(doc_id: str) -> str:
    """Read one document by id."""
    return documents.read(doc_id)


pydantic_agents.register(researcher)


@paved.workflow(namespace="research", worker="research-pydantic")
class ResearchSessionPydantic:
    @workflow.init
    def __init__(self, inp: SessionInput) -> None:
        self.progress = agents.Progress(inp.progress)
        self.approvals = agents.Approvals()
        self.loop = SessionLoop(inp, self.progress)

    @workflow.update
    def ask(self, question: str) -> int:
        return self.loop.ask(question)

    @workflow.signal
    def close(self) -> None:
        self.loop.closing = True

    @workflow.run
    async def run(self, inp: SessionInput) -> SessionResult:
        return await self.loop.run(self.approvals, self._answer)

    async def _answer(
        self, question: str, history: list[dict[str, Any]]
    ) -> tuple[str, list[dict[str, Any]]]:
        self.progress.emit("model_start", agent="researcher")
        result = await researcher.run(
            question, message_history=ModelMessagesTypeAdapter.validate_python(history)
        )
        self.progress.emit("model_end", agent="researcher")
        carried = ModelMessagesTypeAdapter.dump_python(result.all_messages(), mode="json")
        return str(result.output), list(carried)
