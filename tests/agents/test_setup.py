"""Declarations and worker setup, without a server: errors name the problem and the fix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from paved import DefinitionError, agents
from tests.agents import harness


def test_llm_worker_rejects_a_bad_tier_and_unknown_options() -> None:
    with pytest.raises(DefinitionError) as e:
        agents.llm_worker(namespace="research", tier=7)
    assert e.value.code == "PAVED-AGENTS-TIER" and "test_setup.py" in e.value.message
    with pytest.raises(DefinitionError) as e:
        agents.llm_worker(namespace="research", retries=3)
    assert e.value.code == "PAVED-AGENTS-OPTION"
    with pytest.raises(DefinitionError) as e:
        agents.llm_worker(namespace="Research")
    assert e.value.code == "PAVED-DEF-NAMESPACE"


def test_llm_options_are_the_tier_with_overrides() -> None:
    llm = agents.llm_worker(
        namespace="research", worker="llm-x", tier=0, heartbeat_timeout=timedelta(seconds=3)
    )
    o = llm.options()
    assert o["task_queue"] == "llm-x-activities"
    assert o["start_to_close_timeout"] == agents.MODEL_TIERS[0].start_to_close
    assert o["retry_policy"] == agents.MODEL_TIERS[0].retry
    assert o["heartbeat_timeout"] == timedelta(seconds=3)
    # a provider's minute-long Retry-After fits under every tier's retry ceiling
    for tier in agents.MODEL_TIERS.values():
        assert tier.retry.maximum_interval is not None
        assert tier.retry.maximum_interval >= timedelta(seconds=60)


def test_one_framework_per_worker_process() -> None:
    harness.import_example()
    setup = agents.worker_setup("research", "research", None)
    assert setup.data_converter is not None
    assert setup.data_converter.payload_converter_class.__name__ == "OpenAIPayloadConverter"
    pyd = agents.worker_setup("research", "research-pydantic", None)
    assert pyd.data_converter is not None
    assert pyd.data_converter.payload_converter_class.__name__ == "PydanticAIPayloadConverter"
    plain = agents.worker_setup("research", "no-agents-here", None)
    assert plain.data_converter is None and len(plain.plugins) == 1  # Paved's interceptor only

    from research.pydantic_session import llm as pyd_llm

    clash = agents.PydanticAgents(pyd_llm, tools_worker="research-x", workers=["research"])
    try:
        with pytest.raises(DefinitionError) as e:
            agents.worker_setup("research", "research", None)
        assert e.value.code == "PAVED-AGENTS-ONE-FRAMEWORK"
    finally:
        agents.RUNTIMES.items.remove(clash)


def test_pydantic_tiers_come_from_the_agent_and_tool_declarations() -> None:
    """The agent's durability(tier=) sets its tools' tier (and the tier paved gen writes);
    a tool's own pyd.tool(tier=) overrides it for that tool; model requests keep the
    llm_worker's tier. None of them is the namespace's."""
    import uuid

    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    from paved import sdk

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("ok")])

    llm = agents.llm_worker(namespace="tierstest", worker="llm-tiers", tier=0)
    pyd = agents.PydanticAgents(llm, tools_worker="tiers-tools", tools_tier=1)
    try:
        name = f"tiered{uuid.uuid4().hex[:6]}"
        durability = pyd.durability(tier=3)
        agent = Agent(FunctionModel(answer), name=name, capabilities=[durability])

        @agent.tool_plain(metadata=pyd.tool(tier=0, start_to_close_timeout=timedelta(seconds=7)))
        async def urgent(x: str) -> str:
            return x

        @agent.tool_plain
        async def slow(x: str) -> str:
            return x

        pyd.register(agent)
        t3, t0 = sdk.tier_defaults(3), sdk.tier_defaults(0)
        assert durability.activity_config["start_to_close_timeout"] == t3.start_to_close
        # (Pydantic AI adds its own non-retryable error types to the policy)
        retry = durability.activity_config["retry_policy"]
        assert retry.maximum_attempts == t3.retry.maximum_attempts
        assert retry.maximum_interval == t3.retry.maximum_interval
        assert durability.activity_config["task_queue"] == "tiers-tools-activities"
        own = pyd.tool(tier=0)["temporal"]
        assert (
            own["retry_policy"] == t0.retry and own["start_to_close_timeout"] == t0.start_to_close
        )
        assert own["task_queue"] == "tiers-tools-activities"
        tiers = {
            p.name: (p.tier, p.task_queue)
            for p, _ in sdk.definitions("activity").values()
            if p.name.startswith(f"agent__{name}__")
        }
        tools = {n: t for n, t in tiers.items() if "__toolset__" in n}
        models = {n: t for n, t in tiers.items() if "__model_" in n}
        assert tools and set(tools.values()) == {(3, "tiers-tools-activities")}, tiers
        assert models and set(models.values()) == {(0, "llm-tiers-activities")}, tiers

        # an agent without its own tier gets the runtime's tools_tier
        plain = Agent(FunctionModel(answer), name=f"{name}b", capabilities=[pyd.durability()])
        pyd.register(plain)
        plain_tools = {
            p.tier
            for p, _ in sdk.definitions("activity").values()
            if p.name.startswith(f"agent__{name}b__") and "__toolset__" in p.name
        }
        assert plain_tools == {1}
        with pytest.raises(DefinitionError) as e:
            pyd.tool(tier=5)
        assert e.value.code == "PAVED-AGENTS-TIER" and "test_setup.py" in e.value.message
        with pytest.raises(DefinitionError) as e:
            pyd.tool(tier=1, retries=3)
        assert e.value.code == "PAVED-AGENTS-OPTION"
    finally:
        agents.RUNTIMES.items.remove(pyd)
