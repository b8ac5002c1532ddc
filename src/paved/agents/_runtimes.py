"""Which agent runtimes this process declared, and what a worker needs for them.

Product modules declare runtimes (:class:`paved.agents.OpenAIAgents`,
:class:`paved.agents.PydanticAgents`); the managed worker, after importing a
worker's modules, asks :func:`worker_setup` what that worker needs: the payload
converter the framework requires (each integration insists on its own, so one
worker process hosts one framework) and the plugins each of its temporalio
Workers must carry (sandbox pass-through, the framework's runner, Paved's
approval interceptor). Nothing here runs inside a workflow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

from temporalio.converter import DataConverter, DefaultPayloadConverter, PayloadCodec
from temporalio.plugin import SimplePlugin

from paved import sdk
from paved._errors import DefinitionError
from paved.agents import _approval as approval


class Runtime(Protocol):
    """What every framework runtime offers the worker setup."""

    framework: str
    namespace: str

    def hosts(self, worker: str) -> bool: ...
    def payload_converter_class(self) -> type[Any] | None: ...
    def plugins(self) -> list[Any]: ...


@dataclass
class Runtimes:
    """Every agent runtime declared in this process (owned here; filled by declarations)."""

    items: list[Runtime] = field(default_factory=list)

    def add(self, runtime: Runtime) -> None:
        self.items.append(runtime)

    def clear(self) -> None:
        self.items.clear()

    def for_worker(self, namespace: str, worker: str) -> list[Runtime]:
        return [r for r in self.items if r.namespace == namespace and r.hosts(worker)]


RUNTIMES = Runtimes()


@dataclass(frozen=True)
class WorkerSetup:
    """What a managed worker process needs for its agent runtimes."""

    data_converter: DataConverter | None
    plugins: list[Any]


def paved_plugin() -> SimplePlugin:
    """Paved's own worker plugin: the approval interceptor (who sent an Update)."""
    return SimplePlugin("paved.agents", interceptors=[approval.PrincipalInterceptor()])


def data_converter(
    converter_class: type[Any],
    codec: PayloadCodec | None = None,
    max_payload_bytes: int = sdk.DEFAULT_MAX_PAYLOAD_BYTES,
) -> DataConverter:
    """Paved's data converter (codec, size guard, encoded failures) with a framework's payload converter."""
    base = sdk.data_converter(codec=codec, max_payload_bytes=max_payload_bytes)
    return dataclasses.replace(base, payload_converter_class=converter_class)


def worker_setup(
    namespace: str,
    worker: str,
    codec: PayloadCodec | None,
    max_payload_bytes: int = sdk.DEFAULT_MAX_PAYLOAD_BYTES,
) -> WorkerSetup:
    """The converter and plugins worker ``worker`` of ``namespace`` needs."""
    found = RUNTIMES.for_worker(namespace, worker)
    # None: a runtime that works under any converter (an MCP server's operations)
    classes = {c for r in found if (c := r.payload_converter_class()) is not None}
    if len(classes) > 1:
        names = ", ".join(sorted({r.framework for r in found if r.payload_converter_class()}))
        raise DefinitionError(
            f"worker {worker!r} hosts agents of several frameworks ({names}); each framework's "
            "Temporal integration requires its own payload converter",
            code="PAVED-AGENTS-ONE-FRAMEWORK",
            fix="give each framework its own workers (workers=[...] on the runtime, and its own llm_worker)",
        )
    converter = data_converter(classes.pop(), codec, max_payload_bytes) if classes else None
    plugins: list[Any] = [paved_plugin()]
    for r in found:
        plugins.extend(r.plugins())
    return WorkerSetup(data_converter=converter, plugins=plugins)


def replayer_setup(
    namespace: str,
    worker: str,
    codec: PayloadCodec | None,
    max_payload_bytes: int = sdk.DEFAULT_MAX_PAYLOAD_BYTES,
) -> WorkerSetup:
    """What a ``temporalio.worker.Replayer`` of worker ``worker``'s workflows needs.

    Same plugins as the worker. The converter differs for one reason: a Replayer
    applies the plugins' converter hooks, and the OpenAI integration's hook accepts a
    ready-made converter only if ``isinstance(converter.payload_converter,
    OpenAIPayloadConverter)``, which temporalio 1.35 never satisfies (it wraps the
    payload converter in a transfer-type converter). Given Paved's converter with the
    default payload converter class, the hook swaps in its own and keeps the codec.
    """
    setup = worker_setup(namespace, worker, codec, max_payload_bytes)
    if setup.data_converter is None:
        return setup
    base = setup.data_converter
    if any(r.framework == "openai-agents" for r in RUNTIMES.for_worker(namespace, worker)):
        base = dataclasses.replace(base, payload_converter_class=DefaultPayloadConverter)
    return WorkerSetup(data_converter=base, plugins=setup.plugins)
