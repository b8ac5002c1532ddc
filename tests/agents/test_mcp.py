"""MCP servers through Paved's agent declaration (``paved.agents.MCPServer``), offline.

A real local MCP server (``mcp_project/mcpdemo/glossary_server.py``, the ``mcp``
package's ``MCPServer`` over stdio) serves ``define``; the agent's model is
scripted: it calls ``define`` once, then answers with what the tool returned. The
MCP operations are activities on the declared worker's queue with the declared
tier's timeouts, the tool list is listed once, and the server served one call.
The agent runs in a process of its own (``run_mcp.py``: one OpenAI Agents runtime
per process); the history is read here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.client import Client

from paved import sdk
from paved.dev import DevServer, ensure_namespaces

REPO = Path(__file__).resolve().parents[2]


async def test_an_mcp_tool_runs_as_activities_on_the_declared_worker(
    dev_server: DevServer, client: Client, tmp_path: Path
) -> None:
    calls = tmp_path / "calls.log"
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    await ensure_namespaces(client, [namespace])
    proc = subprocess.run(
        [sys.executable, "-m", "tests.agents.run_mcp", dev_server.address, namespace],
        cwd=REPO,
        env={**os.environ, "GLOSSARY_CALL_LOG": str(calls)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    names: list[str] = out["activity_names"]
    # declared: every MCP operation is a Paved activity on mcpdemo-tools, tier 3
    assert out["placed"] == [["mcpdemo-tools", "mcpdemo-tools-activities", 3]]
    assert "the unit of isolation of a Temporal cluster" in out["answer"], out["answer"]
    assert out["model_calls"] == [0, 1]
    assert calls.read_text().splitlines() == ["namespace"]  # the MCP server served one call

    ns_client = await Client.connect(dev_server.address, namespace=namespace)
    history = await ns_client.get_workflow_handle(out["workflow_id"]).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    mcp = [a for a in scheduled if a.activity_type.name in names]
    assert sorted(a.activity_type.name for a in mcp) == sorted(
        n for n in names if n.endswith(("list-tools", "call-tool"))
    ), [a.activity_type.name for a in scheduled]
    tier3 = sdk.tier_defaults(3)
    for a in mcp:
        assert a.task_queue.name == "mcpdemo-tools-activities"
        assert a.start_to_close_timeout.ToTimedelta() == tier3.start_to_close
        assert a.retry_policy.maximum_attempts == tier3.retry.maximum_attempts
    models = [a for a in scheduled if a.activity_type.name.startswith("invoke_model_activity")]
    assert len(models) == 2 and {a.task_queue.name for a in models} == {"mcpdemo-llm-activities"}


def test_a_bad_tier_or_option_is_refused_at_the_declaring_line() -> None:
    import pytest

    from paved import DefinitionError, agents

    with pytest.raises(DefinitionError) as e:
        agents.MCPServer("tools", lambda: None, namespace="mcpt", worker="mcpt-w", tier=9)  # type: ignore[arg-type,return-value]
    assert e.value.code == "PAVED-AGENTS-TIER" and "test_mcp.py" in e.value.message
    with pytest.raises(DefinitionError) as e:
        agents.MCPServer("tools", lambda: None, namespace="mcpt", worker="mcpt-w", start_to_close=1)  # type: ignore[arg-type,return-value]
    assert e.value.code == "PAVED-AGENTS-OPTION" and "MCPServer 'tools'" in e.value.message
