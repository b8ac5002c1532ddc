"""Where the session's model calls run: the ``llm`` worker, OpenAI Agents SDK runtime.

With ``OPENAI_API_KEY`` set the llm worker calls OpenAI (``RESEARCH_MODEL``,
default ``gpt-4o-mini``); without it, a scripted model answers offline: search,
read the best match, then write the report from what it read.
"""

from __future__ import annotations

import os
from datetime import timedelta

from paved import agents

OFFLINE_SCRIPT = [
    agents.Step(tool="search", arguments={"query": "{question}"}),
    agents.Step(tool="read", arguments={"doc_id": "{first_hit}"}),
    agents.Step(text="Report (offline model)\n\nFrom the documents:\n\n{last}"),
]

# Heartbeats tell a dead llm worker from a slow provider; RESEARCH_LLM_HEARTBEAT_SECONDS
# shortens the detection (the chaos test uses 2 s).
llm = agents.llm_worker(
    namespace="research",
    worker="llm",
    tier=1,
    heartbeat_timeout=timedelta(
        seconds=float(os.environ.get("RESEARCH_LLM_HEARTBEAT_SECONDS", "20"))
    ),
)
# streaming_topic: model calls stream their tokens into the session's progress log
# (batched by the integration, one Signal per 100 ms), so the page shows them as they come.
openai_agents = agents.OpenAIAgents(
    llm, workers=["research", "research-tools"], streaming_topic="tokens"
)

MODEL = os.environ.get("RESEARCH_MODEL", "gpt-4o-mini")


def offline_model(delay: float = 0.0) -> agents.ScriptedModel:
    return agents.ScriptedModel(OFFLINE_SCRIPT, delay=delay)


if not os.environ.get("OPENAI_API_KEY"):
    openai_agents.use_model(offline_model(float(os.environ.get("RESEARCH_MODEL_DELAY", "0"))))
