"""Run a Paved project's workers in this process, as the managed worker would.

The managed worker (``paved worker run``) reads specs; tests that do not need
the process boundary build the same temporalio Workers from the decorators'
registry: one Worker per (worker, queue), each with the plugins and payload
converter ``paved.agents.worker_setup`` gives its worker, slots from the
example's ``paved.yaml``. Tests that kill workers run ``paved worker run``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from paved import agents, sdk

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "research-agent"
PASSTHROUGH = ("paved", "pydantic", "pydantic_core", "annotated_types", "research")
SLOTS = {"llm": 4, "llm-pydantic": 4}


def import_example() -> None:
    if str(EXAMPLE) not in sys.path:
        sys.path.insert(0, str(EXAMPLE))
    import research.pydantic_session
    import research.session  # noqa: F401


async def connect(address: str, namespace: str, worker: str, api_key: str | None = None) -> Client:
    setup = agents.worker_setup("research", worker, None)
    kwargs: dict[str, Any] = {"namespace": namespace}
    if api_key is not None:
        kwargs.update(api_key=api_key, tls=False)
    if setup.data_converter is not None:
        kwargs["data_converter"] = setup.data_converter
    return await Client.connect(address, **kwargs)


def runner() -> SandboxedWorkflowRunner:
    """The managed worker's sandbox: Paved and the project's package passed through."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


@contextlib.asynccontextmanager
async def workers(
    address: str, namespace: str, names: Iterable[str], api_key: str | None = None
) -> AsyncIterator[dict[str, Client]]:
    """Run the example's workers ``names`` on physical ``namespace``; yields their clients."""
    import_example()
    # The namespace's tier (1) comes from examples/research-agent/paved.yaml,
    # which the decorators read next to the code.
    clients: dict[str, Client] = {}
    running: list[Worker] = []
    by_queue: dict[tuple[str, str], tuple[list[Any], list[Any]]] = {}
    for p, obj in sdk.definitions("workflow").values():
        if p.namespace == "research" and p.worker in names:
            by_queue.setdefault((p.worker, p.task_queue), ([], []))[0].append(obj)
    for p, obj in sdk.definitions("activity").values():
        if p.namespace == "research" and p.worker in names:
            by_queue.setdefault((p.worker, p.task_queue), ([], []))[1].append(obj)
    async with contextlib.AsyncExitStack() as stack:
        for (worker, queue), (wfs, acts) in sorted(by_queue.items(), key=lambda kv: kv[0]):
            if worker not in clients:
                clients[worker] = await connect(address, namespace, worker, api_key)
            setup = agents.worker_setup("research", worker, None)
            w = Worker(
                clients[worker],
                task_queue=queue,
                workflows=wfs,
                activities=acts,
                workflow_runner=runner(),
                plugins=setup.plugins,
                max_concurrent_activities=SLOTS.get(worker, 50),
                graceful_shutdown_timeout=timedelta(seconds=1),
            )
            await stack.enter_async_context(w)
            running.append(w)
        yield clients
