"""``GlossaryAgent``: an OpenAI Agents SDK agent whose only tool comes from an MCP server.

The MCP server (``glossary_server.py``, stdio) runs next to the ``mcpdemo-tools``
worker; every MCP operation is an activity on that worker's queue with tier 3's
timeouts and retries, declared once with :class:`paved.agents.MCPServer`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agents.mcp import MCPServerStdio

    import paved
    from agents import Agent, Runner
    from paved import agents

SERVER = Path(__file__).with_name("glossary_server.py")


def glossary_server() -> MCPServerStdio:
    """The real MCP client (worker side only): starts the server over stdio."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "GLOSSARY_CALL_LOG")}
    return MCPServerStdio(
        params={"command": sys.executable, "args": [str(SERVER)], "env": env}, name="glossary"
    )


llm = agents.llm_worker(namespace="mcpdemo", worker="mcpdemo-llm")
openai_agents = agents.OpenAIAgents(llm, workers=["mcpdemo"])
glossary = agents.MCPServer(
    "glossary", glossary_server, namespace="mcpdemo", worker="mcpdemo-tools", tier=3
)


@paved.workflow(namespace="mcpdemo", worker="mcpdemo")
class GlossaryAgent:
    @workflow.run
    async def run(self, term: str) -> str:
        agent = Agent(
            name="glossarist",
            instructions="Define the user's term with the glossary's define tool.",
            mcp_servers=[glossary.server()],
        )
        result = await Runner.run(agent, term)
        return str(result.final_output)
