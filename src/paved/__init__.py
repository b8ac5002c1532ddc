"""Paved: the paved road for durable AI-agent workflows on Temporal.

Product code needs only this top-level package::

    import paved

    @paved.activity(namespace="imagegen", worker="imagegen-worker")
    async def render(req: RenderRequest) -> Image: ...

    @paved.workflow(namespace="imagegen", worker="imagegen-worker")
    class GenerateImage:
        @workflow.run
        async def run(self, req: RenderRequest) -> Image:
            return await paved.execute_activity(render, req)
"""

import typing as _typing

from paved import _lazy

if _typing.TYPE_CHECKING:
    from paved._errors import (
        AuthError,
        CodecError,
        DefinitionError,
        PavedError,
        PayloadError,
        PayloadTooLargeError,
        ProjectError,
        RuntimeSetupError,
    )
    from paved.sdk import (
        Placement,
        RuntimeEnv,
        activity,
        connect,
        data_converter,
        execute_activity,
        physical_namespace,
        placement_of,
        start_activity,
        workflow,
    )

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "CodecError",
    "DefinitionError",
    "PavedError",
    "PayloadError",
    "PayloadTooLargeError",
    "Placement",
    "ProjectError",
    "RuntimeEnv",
    "RuntimeSetupError",
    "__version__",
    "activity",
    "connect",
    "data_converter",
    "execute_activity",
    "physical_namespace",
    "placement_of",
    "start_activity",
    "workflow",
]

if not _typing.TYPE_CHECKING:  # type checkers see the imports above, exactly
    __getattr__, __dir__ = _lazy.exports(__name__, __file__)
