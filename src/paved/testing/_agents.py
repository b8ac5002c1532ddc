"""Agent workflows in tests: a project's agent workers in the test's process, a scripted model.

What a product team needs to test an agent offline against a real dev server
(``paved.agents`` over the frameworks' Temporal integrations):

- :func:`agent_workers`: the project's workers, built from its decorators (no
  ``paved gen`` needed) as the managed worker builds them: one temporalio
  ``Worker`` per (worker, queue), with the plugins and payload converter
  ``paved.agents.worker_setup`` gives each worker (model activities on the
  declared ``llm`` worker, tools on theirs), in the sandbox with Paved and the
  project's packages passed through;
- :func:`agent_client`: a client whose data converter is the one of a worker's
  framework (what starts and reads the agent workflows);
- :func:`scripted_model`: a restart-safe :class:`paved.agents.ScriptedModel` in
  place of an ``OpenAIAgents`` runtime's provider for a block, with a count of
  the calls it answered; Pydantic AI's offline model is its own ``FunctionModel``
  or ``TestModel``, given to the ``Agent``.

The pytest plugin wraps them as ``paved_agent_workers`` and ``paved_scripted_model``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from paved import agents, sdk

if TYPE_CHECKING:
    from agents import Model
    from paved.agents import OpenAIAgents, Step

PASSTHROUGH = ("paved", "pydantic", "pydantic_core", "annotated_types")


def agent_sandbox(packages: Iterable[str] = ()) -> SandboxedWorkflowRunner:
    """The managed worker's workflow sandbox: Paved and ``packages`` passed through."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH, *packages)
    )


async def agent_client(
    address: str,
    namespace: str,
    logical: str,
    worker: str,
    *,
    api_key: str | None = None,
) -> Client:
    """A client of physical ``namespace`` with the data converter of ``worker``'s framework.

    ``api_key``: connect through a Paved proxy as that principal (plain text, as on
    loopback).
    """
    setup = agents.worker_setup(logical, worker, None)
    kwargs: dict[str, Any] = {"namespace": namespace}
    if api_key is not None:
        kwargs.update(api_key=api_key, tls=False)
    if setup.data_converter is not None:
        kwargs["data_converter"] = setup.data_converter
    return await Client.connect(address, **kwargs)


@contextlib.asynccontextmanager
async def agent_workers(
    address: str,
    namespace: str,
    logical: str,
    workers: Iterable[str],
    *,
    packages: Sequence[str] = (),
    slots: Mapping[str, int] | None = None,
    api_key: str | None = None,
) -> AsyncIterator[dict[str, Client]]:
    """Run the workers ``workers`` of logical namespace ``logical`` on physical ``namespace``.

    Every workflow and activity the imported code placed on those workers runs,
    the agent frameworks' model and tool activities included, with each worker's
    framework plugins and payload converter. Import the project's modules first
    (their decorators register them). ``packages``: the project's packages, passed
    through the sandbox as the managed worker does; ``slots``: activity slots per
    worker (default 50; an ``llm`` worker's slots are the provider's concurrency).
    Yields a client per worker, with that worker's data converter. Workers are
    polling when the block starts and shut down when it ends.
    """
    names = set(workers)
    by_queue: dict[tuple[str, str], tuple[list[Any], list[Any]]] = {}
    for kind, i in (("workflow", 0), ("activity", 1)):
        for p, obj in sdk.definitions(kind).values():
            if p.namespace == logical and p.worker in names:
                by_queue.setdefault((p.worker, p.task_queue), ([], []))[i].append(obj)
    missing = sorted(names - {w for w, _ in by_queue})
    if missing:
        raise LookupError(
            f"no workflow or activity of namespace {logical!r} is placed on worker(s) "
            f"{', '.join(missing)}: import the modules that declare them first"
        )
    clients: dict[str, Client] = {}
    async with contextlib.AsyncExitStack() as stack:
        for (worker, queue), (wfs, acts) in sorted(by_queue.items(), key=lambda kv: kv[0]):
            if worker not in clients:
                clients[worker] = await agent_client(
                    address, namespace, logical, worker, api_key=api_key
                )
            setup = agents.worker_setup(logical, worker, None)
            w = Worker(
                clients[worker],
                task_queue=queue,
                workflows=wfs,
                activities=acts,
                workflow_runner=agent_sandbox(packages),
                plugins=setup.plugins,
                max_concurrent_activities=(slots or {}).get(worker, 50),
                graceful_shutdown_timeout=timedelta(seconds=1),
            )
            await stack.enter_async_context(w)
        yield clients


@contextlib.contextmanager
def scripted_model(
    runtime: OpenAIAgents, script: Sequence[Step] | Model, *, delay: float = 0.0
) -> Iterator[Any]:
    """Answer ``runtime``'s model calls with a scripted or test model for the block.

    ``script``: the steps of a :class:`~paved.agents.ScriptedModel` (it picks each
    answer from the conversation it is given, so a call retried on another worker
    answers as the first did; ``model.calls`` lists the step of every call), or any
    OpenAI Agents ``Model``, such as the integration's
    ``temporalio.contrib.openai_agents.testing.TestModel`` (whose scripted answers
    start over in a new worker process). Yields the model in use; the runtime's
    provider is restored afterwards.
    """
    from agents import Model

    model: Any = script if isinstance(script, Model) else agents.ScriptedModel(script, delay=delay)
    before = runtime.model_provider
    runtime.use_model(model)
    try:
        yield model
    finally:
        runtime.use_model_provider(before)
