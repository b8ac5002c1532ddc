"""MCP servers through Paved's agent declaration (``paved.agents.MCPServer``), offline.

A real local MCP server (``mcp_project/mcpdemo/glossary_server.py``, the ``mcp``
package's ``MCPServer`` over stdio) serves ``define``; the agent's model is
scripted: it calls ``define`` once, then answers with what the tool returned. The
MCP operations are activities on the declared worker's queue with the declared
tier's timeouts, the tool list is listed once, and the server served one call.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from paved import agents, sdk, testing
from paved.dev import DevServer, ensure_namespaces

PROJECT = Path(__file__).resolve().parent / "mcp_project"


async def test_an_mcp_tool_runs_as_activities_on_the_declared_worker(
    dev_server: DevServer, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tmp_path / "calls.log"
    monkeypatch.setenv("GLOSSARY_CALL_LOG", str(calls))
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    await ensure_namespaces(client, [namespace])
    with testing.isolated_imports(PROJECT):
        monkeypatch.syspath_prepend(str(PROJECT))
        from mcpdemo.agent import GlossaryAgent, glossary, openai_agents

        try:
            placed = {
                p.name: (p.worker, p.task_queue, p.tier)
                for p, _ in sdk.definitions("activity").values()
                if p.name in glossary.activity_names
            }
            assert placed and set(placed.values()) == {
                ("mcpdemo-tools", "mcpdemo-tools-activities", 3)
            }
            script = [
                agents.Step(tool="define", arguments={"term": "{question}"}),
                agents.Step(text="Glossary: {last}"),
            ]
            with testing.scripted_model(openai_agents, script) as model:
                async with testing.agent_workers(
                    dev_server.address,
                    namespace,
                    "mcpdemo",
                    ["mcpdemo", "mcpdemo-llm", "mcpdemo-tools"],
                    packages=["mcpdemo"],
                ) as clients:
                    h = await clients["mcpdemo"].start_workflow(
                        GlossaryAgent.run,
                        "namespace",
                        id=f"glossary-{uuid.uuid4().hex[:6]}",
                        task_queue="mcpdemo-workflows",
                    )
                    answer = await h.result()
                    history = await h.fetch_history()
        finally:
            agents.RUNTIMES.items[:] = [
                r for r in agents.RUNTIMES.items if r.namespace != "mcpdemo"
            ]
    assert "the unit of isolation of a Temporal cluster" in answer, answer
    assert model.calls == [0, 1]
    assert calls.read_text().splitlines() == ["namespace"]  # the MCP server served one call
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    mcp = [a for a in scheduled if a.activity_type.name in glossary.activity_names]
    assert sorted(a.activity_type.name for a in mcp) == sorted(
        n for n in glossary.activity_names if n.endswith(("list-tools", "call-tool"))
    ), [a.activity_type.name for a in scheduled]
    tier3 = sdk.tier_defaults(3)
    for a in mcp:
        assert a.task_queue.name == "mcpdemo-tools-activities"
        assert a.start_to_close_timeout.ToTimedelta() == tier3.start_to_close
        assert a.retry_policy.maximum_attempts == tier3.retry.maximum_attempts
    models = [a for a in scheduled if a.activity_type.name.startswith("invoke_model_activity")]
    assert len(models) == 2 and {a.task_queue.name for a in models} == {"mcpdemo-llm-activities"}
