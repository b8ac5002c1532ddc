"""The pytest plugin of ``paved.testing`` (entry point ``pytest11``: loaded wherever Paved is installed).

Fixtures:

- ``paved_server`` (session): a real Temporal dev server on free ports, see
  :class:`paved.testing.PavedServer`; started on first use, stopped at the end.
- ``paved_server_options`` (session): how it starts; override it in a
  ``conftest.py`` to register search attributes or change the environment.
- ``paved_project`` (session): the project under test, the nearest
  ``paved.yaml`` above pytest's root directory (or the ``paved_project`` ini
  option); ``paved gen`` must have written its specs.
- ``paved_agent_workers`` (function): a factory of
  :func:`paved.testing.agent_workers` on ``paved_server``:
  ``async with paved_agent_workers("research", ["research", "llm"], packages=["research"]) as clients``.
- ``paved_scripted_model`` (function): a factory of
  :func:`paved.testing.scripted_model`, undone at the end of the test:
  ``model = paved_scripted_model(openai_agents, [Step(text="done")])``.

Nothing starts unless a test asks for these fixtures.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from temporalio.client import Client

    from paved import specs
    from paved.agents import OpenAIAgents, ScriptedModel, Step
    from paved.testing._server import PavedServer, ServerOptions


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "paved_project",
        "Directory of the Paved project under test (default: the nearest paved.yaml above rootdir)",
        default="",
    )


@pytest.fixture(scope="session")
def paved_server_options() -> ServerOptions:
    """How ``paved_server`` starts; override this fixture to change it."""
    from paved.testing._server import ServerOptions

    return ServerOptions()


@pytest.fixture(scope="session")
def paved_server(
    tmp_path_factory: pytest.TempPathFactory, paved_server_options: ServerOptions
) -> Iterator[PavedServer]:
    """A real Temporal dev server for the whole session, on free ports."""
    from paved.testing._server import start_server

    with start_server(tmp_path_factory.mktemp("paved-server"), paved_server_options) as server:
        yield server


@pytest.fixture(scope="session")
def paved_project(pytestconfig: pytest.Config) -> specs.Project:
    """The project under test (``paved gen`` must have written its specs)."""
    from paved import specs

    configured = str(pytestconfig.getini("paved_project") or "")
    start = Path(pytestconfig.rootpath, configured) if configured else Path(pytestconfig.rootpath)
    for d in [start.resolve(), *start.resolve().parents]:
        if (d / specs.PROJECT_FILE).exists():
            return specs.Project.load(d)
    pytest.fail(
        f"paved_project: no {specs.PROJECT_FILE} at or above {start}; "
        "set `paved_project = <dir>` in pytest's ini options"
    )


@pytest.fixture
def paved_agent_workers(
    paved_server: PavedServer,
) -> Callable[..., contextlib.AbstractAsyncContextManager[dict[str, Client]]]:
    """Run a project's agent workers on ``paved_server`` (see ``paved.testing.agent_workers``).

    ``paved_agent_workers(logical, workers, *, namespace=None, packages=(), slots=None)``:
    ``namespace`` defaults to ``logical``'s physical namespace on the test server.
    """
    from paved.testing._agents import agent_workers

    def make(
        logical: str,
        workers: Iterable[str],
        *,
        namespace: str | None = None,
        packages: Sequence[str] = (),
        slots: Mapping[str, int] | None = None,
    ) -> contextlib.AbstractAsyncContextManager[dict[str, Client]]:
        @contextlib.asynccontextmanager
        async def run() -> AsyncIterator[dict[str, Client]]:
            ns = namespace or await paved_server.namespace(logical)
            async with agent_workers(
                paved_server.address, ns, logical, workers, packages=packages, slots=slots
            ) as clients:
                yield clients

        return run()

    return make


@pytest.fixture
def paved_scripted_model() -> Iterator[Callable[..., ScriptedModel]]:
    """Answer an ``OpenAIAgents`` runtime's model calls with a scripted model for the test.

    ``paved_scripted_model(runtime, script, *, delay=0.0)`` returns the installed
    :class:`paved.agents.ScriptedModel` (``.calls``: the step of every call), or installs
    ``script`` itself when it is an OpenAI Agents ``Model`` (the integration's
    ``TestModel``); the runtime's provider comes back when the test ends.
    """
    from paved.testing._agents import scripted_model

    with contextlib.ExitStack() as stack:

        def make(runtime: OpenAIAgents, script: Sequence[Step] | Any, *, delay: float = 0.0) -> Any:
            return stack.enter_context(scripted_model(runtime, script, delay=delay))

        yield make
