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
