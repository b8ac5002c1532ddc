"""``python -m tests.agents.run_mcp ADDRESS NAMESPACE``: the MCP test project's agent,
run once, in a process of its own; prints one JSON line with what the test checks.

A process of its own because the OpenAI Agents integration's model activities have
fixed names (``invoke_model_activity``): one ``OpenAIAgents`` runtime per process, as
in production, and the test session has the research example's loaded already.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

PROJECT = Path(__file__).resolve().parent / "mcp_project"


async def main(address: str, namespace: str) -> dict[str, object]:
    sys.path.insert(0, str(PROJECT))
    from mcpdemo.agent import GlossaryAgent, glossary, openai_agents

    from paved import agents, sdk, testing

    placed = sorted(
        {
            (p.worker, p.task_queue, p.tier)
            for p, _ in sdk.definitions("activity").values()
            if p.name in glossary.activity_names
        }
    )
    script = [
        agents.Step(tool="define", arguments={"term": "{question}"}),
        agents.Step(text="Glossary: {last}"),
    ]
    with testing.scripted_model(openai_agents, script) as model:
        async with testing.agent_workers(
            address,
            namespace,
            "mcpdemo",
            ["mcpdemo", "mcpdemo-llm", "mcpdemo-tools"],
            packages=["mcpdemo"],
        ) as clients:
            wid = f"glossary-{uuid.uuid4().hex[:6]}"
            answer = await clients["mcpdemo"].execute_workflow(
                GlossaryAgent.run, "namespace", id=wid, task_queue="mcpdemo-workflows"
            )
    return {
        "workflow_id": wid,
        "answer": answer,
        "model_calls": model.calls,
        "placed": placed,
        "activity_names": glossary.activity_names,
    }


if __name__ == "__main__":
    out = asyncio.run(main(sys.argv[1], sys.argv[2]))
    print(json.dumps(out), flush=True)
    os._exit(0)  # temporalio/sdk-python#300: no interpreter finalisation after a client ran
