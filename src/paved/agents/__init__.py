"""Durable agents on the paved road: the frameworks' Temporal integrations with Paved placement.

Not a new agent framework. The OpenAI Agents SDK runs through temporalio's
integration (:class:`OpenAIAgents`, :func:`tool`), Pydantic AI through its
``TemporalDurability`` capability (:class:`PydanticAgents`). Paved adds:

- model calls on a declared ``llm`` worker and queue (:func:`llm_worker`), whose
  slots are the provider's concurrency, with per-tier timeouts and retries
  (:data:`MODEL_TIERS`) that honour ``Retry-After``; tools on their own queues
  with their tier's defaults; :func:`heartbeating` for long tools;
- Paved's data converter and codec with each framework's payload converter
  (:func:`worker_setup`, used by the managed worker);
- human approval (:class:`Approvals`) that waits durably with a deadline, is
  authorized by the proxy (role :data:`APPROVER_ROLE`) and records who and when;
- progress (:class:`Progress`, :class:`ProgressHooks`) read as Server-Sent
  Events (:func:`sse_response`), resumable with ``Last-Event-ID``;
- continue-as-new for long conversations (:func:`continue_as_new`);
- a restart-safe scripted model for offline runs and tests (:class:`ScriptedModel`);
- MCP servers whose operations run as activities on a declared worker, with its
  tier's timeouts and retries (:class:`MCPServer`).

Layer: below ``paved.specs``, above ``paved.sdk`` (imports only ``paved.sdk``).

The frameworks are imported on first use of a name that needs them
(:class:`OpenAIAgents`, :class:`PydanticAgents`, :class:`ScriptedModel`...): the
proxy reads the approval constants, and a front end the stream helpers, without
loading either framework (or needing the ``agents`` extra).
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from paved.agents._approval import (
    APPROVAL_UPDATE,
    APPROVALS_QUERY,
    APPROVER_ROLE,
    PRINCIPAL_HEADER,
    ApprovalInput,
    Approvals,
    ApprovalsState,
    Decision,
    PendingApproval,
    PrincipalInterceptor,
    current_principal,
    send_approval,
)
from paved.agents._conversation import continue_as_new, should_continue_as_new
from paved.agents._heartbeat import heartbeating
from paved.agents._llm import LLM, MODEL_TIERS, ModelTier, llm_worker
from paved.agents._runtimes import (
    RUNTIMES,
    Runtimes,
    WorkerSetup,
    data_converter,
    paved_plugin,
    replayer_setup,
    worker_setup,
)
from paved.agents._stream import (
    PROGRESS_TOPIC,
    Progress,
    ProgressEvent,
    SSEEvent,
    poll_events,
    sse_response,
)

if _typing.TYPE_CHECKING:
    from paved.agents._mcp import MCPServer
    from paved.agents._openai import MODEL_ACTIVITIES, OpenAIAgents, ProgressHooks, tool
    from paved.agents._pydantic import PydanticAgents
    from paved.agents._scripted import ScriptedModel, Step

_LAZY = {
    "MCPServer": "_mcp",
    "MODEL_ACTIVITIES": "_openai",
    "OpenAIAgents": "_openai",
    "ProgressHooks": "_openai",
    "tool": "_openai",
    "PydanticAgents": "_pydantic",
    "ScriptedModel": "_scripted",
    "Step": "_scripted",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'paved.agents' has no attribute {name!r}")
    try:
        value = getattr(_importlib.import_module(f"paved.agents.{module}"), name)
    except ImportError as e:
        raise ImportError(
            f"[PAVED-AGENTS-EXTRA] paved.agents.{name} needs the agent frameworks: {e}; "
            "fix: pip install 'paved[agents]'"
        ) from e
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "APPROVALS_QUERY",
    "APPROVAL_UPDATE",
    "APPROVER_ROLE",
    "LLM",
    "MODEL_ACTIVITIES",
    "MODEL_TIERS",
    "PRINCIPAL_HEADER",
    "PROGRESS_TOPIC",
    "RUNTIMES",
    "ApprovalInput",
    "Approvals",
    "ApprovalsState",
    "Decision",
    "MCPServer",
    "ModelTier",
    "OpenAIAgents",
    "PendingApproval",
    "PrincipalInterceptor",
    "Progress",
    "ProgressEvent",
    "ProgressHooks",
    "PydanticAgents",
    "Runtimes",
    "SSEEvent",
    "ScriptedModel",
    "Step",
    "WorkerSetup",
    "continue_as_new",
    "current_principal",
    "data_converter",
    "heartbeating",
    "llm_worker",
    "paved_plugin",
    "poll_events",
    "replayer_setup",
    "send_approval",
    "should_continue_as_new",
    "sse_response",
    "tool",
    "worker_setup",
]
