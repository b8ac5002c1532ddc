"""paved.testing's agent fixtures as a product team uses them: the example's session
with a scripted model of the test's own, its workers run by ``paved_agent_workers``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paved import agents, testing
from tests.agents import harness


async def test_a_scripted_model_and_the_agent_workers_fixture(
    paved_agent_workers: Callable[..., Any],
    paved_scripted_model: Callable[..., agents.ScriptedModel],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harness.import_example()
    from research.llm import openai_agents
    from research.models import SessionInput
    from research.session import ResearchSession

    monkeypatch.setenv("RESEARCH_REPORTS_DIR", str(tmp_path))
    before = openai_agents.model_provider
    # one search, then the answer: two model calls, one tool call
    model = paved_scripted_model(
        openai_agents,
        [
            agents.Step(tool="search", arguments={"query": "{question}"}),
            agents.Step(text="Scripted answer to: {question}"),
        ],
    )
    async with paved_agent_workers(
        "research",
        ["research", "research-tools", "llm"],
        namespace=None,
        packages=harness.PACKAGES,
        slots={"llm": 2},
    ) as clients:
        inp = SessionInput(
            session=f"fx-{uuid.uuid4().hex[:6]}",
            questions=["how do approvals work?"],
            close_when_idle=True,
            approval_timeout_seconds=0.2,
        )
        result = await clients["research"].execute_workflow(
            ResearchSession.run, inp, id=f"research-{inp.session}", task_queue="research-workflows"
        )
    assert result.answered == 1
    assert "Scripted answer to: how do approvals work?" in Path(result.reports[0]).read_text()
    assert model.calls == [0, 1]  # each step answered once
    assert openai_agents.model_provider is not before  # until the test ends


async def test_scripted_model_restores_the_provider_and_workers_name_what_is_missing() -> None:
    harness.import_example()
    from research.llm import openai_agents

    before = openai_agents.model_provider
    with testing.scripted_model(openai_agents, [agents.Step(text="x")]):
        assert openai_agents.model_provider is not before
    assert openai_agents.model_provider is before
    # the integration's own TestModel is installed as it is
    from temporalio.contrib.openai_agents.testing import ResponseBuilders, TestModel

    test_model = TestModel.returning_responses([ResponseBuilders.output_message("hi")])
    with testing.scripted_model(openai_agents, test_model) as installed:
        assert installed is test_model
        assert openai_agents.model_provider.get_model(None) is test_model  # type: ignore[union-attr]
    assert openai_agents.model_provider is before
    with pytest.raises(LookupError, match="no-such-worker"):
        async with testing.agent_workers("127.0.0.1:1", "ns", "research", ["no-such-worker"]):
            pass
