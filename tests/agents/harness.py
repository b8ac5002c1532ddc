"""The research-agent example in tests: where it lives and how its workers run.

The generic parts are public, in ``paved.testing`` (``agent_workers``,
``agent_client``, ``agent_sandbox``, ``scripted_model`` and their fixtures); this
module only knows the example: its directory, its package, its llm slots.
Tests that kill workers run ``run_workers.py`` in a process of its own.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from temporalio.client import Client
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from paved import testing

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "research-agent"
PACKAGES = ("research",)
SLOTS = {"llm": 4, "llm-pydantic": 4}


def import_example() -> None:
    if str(EXAMPLE) not in sys.path:
        sys.path.insert(0, str(EXAMPLE))
    import research.pydantic_session
    import research.session  # noqa: F401


async def connect(address: str, namespace: str, worker: str, api_key: str | None = None) -> Client:
    return await testing.agent_client(address, namespace, "research", worker, api_key=api_key)


def runner() -> SandboxedWorkflowRunner:
    """The managed worker's sandbox: Paved and the example's package passed through."""
    return testing.agent_sandbox(PACKAGES)


@contextlib.asynccontextmanager
async def workers(
    address: str, namespace: str, names: Iterable[str], api_key: str | None = None
) -> AsyncIterator[dict[str, Client]]:
    """Run the example's workers ``names`` on physical ``namespace``; yields their clients."""
    import_example()
    # The namespace's tier (1) comes from examples/research-agent/paved.yaml,
    # which the decorators read next to the code.
    async with testing.agent_workers(
        address, namespace, "research", names, packages=PACKAGES, slots=SLOTS, api_key=api_key
    ) as clients:
        yield clients
