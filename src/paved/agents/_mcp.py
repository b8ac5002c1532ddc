"""MCP servers for OpenAI Agents SDK agents, placed on a declared worker: :class:`MCPServer`.

temporalio's integration runs every MCP operation (list tools, call a tool,
prompts, resources) as an activity: the workflow holds a durable stand-in
(``temporalio.openai_agents.workflow.temporal_mcp_server``) and a worker holds the
real MCP client (``OpenAIAgentsPlugin(mcp_servers={name: factory})``). Paved
registers the model activities itself (the plugin runs with
``register_activities=False``), so the plugin registers no MCP activities either;
this declaration does it the Paved way:

- the server's activities are Paved activities on a declared worker and queue
  (default ``<worker>-activities``), written into the specs by ``paved gen`` and
  registered by that worker's managed worker;
- their timeouts and retries are the declared tier's (``paved.sdk`` tier defaults;
  default: the namespace's tier), overridable per option;
- the worker keeps MCP connections between calls (the integration's pool, closed
  when the worker stops), so a stdio server is not started per call.

Usage (module level, next to the agent)::

    glossary = agents.MCPServer(
        "glossary",
        lambda: MCPServerStdio(params={"command": "glossary-server"}, name="glossary"),
        namespace="research",
        worker="research-tools",
    )

    # in the workflow
    agent = Agent(name="researcher", mcp_servers=[glossary.server()], ...)

The factory runs on the worker only: credentials it reads never enter a history.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from agents.mcp import MCPServer as _AgentsMCPServer
from temporalio.mcp._activities import _MCPActivities
from temporalio.openai_agents._mcp_backend import _mcp_server_backend_factory
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import ActivityConfig

from paved import sdk
from paved._errors import DefinitionError
from paved.agents import _llm as llm_mod
from paved.agents import _runtimes as runtimes

_SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


class MCPServer:
    """Declare an MCP server the agents of ``namespace`` use, its operations on ``worker``.

    Args:
        name: the server's durable name (in activity names: keep it stable).
        factory: returns an OpenAI Agents ``MCPServer`` (``MCPServerStdio``,
            ``MCPServerStreamableHttp``...); it may take one argument, the
            workflow's ``factory_argument`` (never a secret: it is in the history).
        namespace, worker: where the MCP activities run (the worker polls ``task_queue``,
            default ``<worker>-activities``).
        tier: the activities' tier (timeouts, retries); default: the namespace's.
        idle_timeout: how long an idle connection is kept (None: until the worker stops;
            zero: a new connection per call).
        overrides: ``start_to_close_timeout=``, ``retry_policy=``... of the activities.
    """

    framework = "mcp"

    def __init__(
        self,
        name: str,
        factory: Callable[..., _AgentsMCPServer],
        *,
        namespace: str,
        worker: str,
        task_queue: str | None = None,
        tier: int | None = None,
        idle_timeout: timedelta | None = timedelta(minutes=5),
        **overrides: Any,
    ) -> None:
        frame = sys._getframe(1)
        self.source = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        self.module = str(frame.f_globals.get("__name__", "__main__"))
        if not _SERVER_NAME.match(name):
            raise DefinitionError(
                f"{self.source}: MCPServer name {name!r} is not a valid server name",
                code="PAVED-AGENTS-MCP",
                fix="use letters, digits, '-' and '_' (it becomes part of activity names)",
            )
        queue = task_queue or sdk.default_activity_queue(worker)
        llm_mod.check_declaration(self.source, f"MCPServer {name!r}", tier, overrides)
        llm_mod.check_names(self.source, "MCPServer", namespace, worker, queue)
        self.name = name
        self.namespace = namespace
        self.worker = worker
        self.task_queue = queue
        self.tier = tier
        self.overrides = dict(overrides)
        self._activities = _MCPActivities(
            {name: _mcp_server_backend_factory(name, factory)}, idle_timeout=idle_timeout
        )
        self.activity_names: list[str] = []
        for fn in self._activities.activities:
            act = getattr(fn, "__temporal_activity_definition").name
            self.activity_names.append(act)
            llm_mod.register(
                sdk.Placement(
                    kind="activity",
                    name=act,
                    namespace=namespace,
                    worker=worker,
                    task_queue=queue,
                    shared_queue=False,
                    tier=tier,
                    module=self.module,
                    qualname=f"MCPServer.{name}.{act}",
                    source=self.source,
                    explicit_queue=True,
                ),
                fn,
            )
        runtimes.RUNTIMES.add(self)

    # ----- in the workflow --------------------------------------------------------------

    def activity_config(self) -> ActivityConfig:
        """The MCP activities' options: the declared queue, the tier's timeouts and retries."""
        d = sdk.tier_defaults(sdk.resolve_tier(self.namespace, self.source, self.tier))
        config = ActivityConfig(
            task_queue=self.task_queue,
            start_to_close_timeout=d.start_to_close,
            schedule_to_close_timeout=d.schedule_to_close,
            retry_policy=d.retry,
        )
        config.update(self.overrides)  # type: ignore[typeddict-item]
        return config

    def server(
        self,
        *,
        cache_tools_list: bool = True,
        factory_argument: Any = None,
        **server_options: Any,
    ) -> _AgentsMCPServer:
        """The durable stand-in for ``Agent(mcp_servers=[...])``, inside a workflow.

        Each MCP operation becomes an activity on the declared queue. The tool list
        is kept in the workflow after the first listing (``cache_tools_list``).
        ``server_options`` go to the OpenAI Agents ``MCPServer`` (``require_approval=``...).
        """
        from temporalio.openai_agents.workflow import temporal_mcp_server

        return temporal_mcp_server(
            self.name,
            activity_config=self.activity_config(),
            cache_tools_list=cache_tools_list,
            factory_argument=factory_argument,
            **server_options,
        )

    # ----- what the worker that runs the operations needs ------------------------------

    def hosts(self, worker: str) -> bool:
        return worker == self.worker

    def payload_converter_class(self) -> None:
        """None: the operations take and return plain JSON, under any framework's converter."""
        return None

    def plugins(self) -> list[Any]:
        """Closes the worker's MCP connections when it stops; MCP types pass the sandbox."""

        def runner(r: WorkflowRunner | None) -> WorkflowRunner:
            if r is None:
                raise ValueError("no WorkflowRunner given to Paved's MCP plugin")
            if isinstance(r, SandboxedWorkflowRunner):
                return dataclasses.replace(
                    r, restrictions=r.restrictions.with_passthrough_modules("mcp", "mcp_types")
                )
            return r

        return [
            SimplePlugin(
                f"paved.agents.mcp.{self.name}",
                workflow_runner=runner,
                run_context=self._activities.run_context,
            )
        ]

    def activities(self) -> Sequence[Callable[..., Any]]:
        return list(self._activities.activities)
