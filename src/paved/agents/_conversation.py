"""Long conversations: continue-as-new with the conversation state carried over.

A conversation that lives for days accumulates history (every model call and
tool call is a few events). Temporal suggests continuing as new when history
grows large; :func:`should_continue_as_new` also caps the turns of one run, and
:func:`continue_as_new` does it cleanly: it releases stream readers, waits for
in-flight Update and Signal handlers (an approval being recorded, a question
being accepted), then starts the next run with the arguments the workflow
builds from its state and the progress log's (truncated) state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStreamState

from paved.agents import _stream as stream


def should_continue_as_new(turns: int, max_turns: int) -> bool:
    """True when Temporal suggests it (history size/length) or this run has had ``max_turns``."""
    return workflow.info().is_continue_as_new_suggested() or turns >= max_turns


async def continue_as_new(
    progress: stream.Progress | None,
    build_args: Callable[[WorkflowStreamState | None], Sequence[Any]],
) -> NoReturn:
    """Continue as new with ``build_args(progress_state)``; never returns."""
    if progress is not None:
        progress.detach()
    await workflow.wait_condition(workflow.all_handlers_finished)
    state = progress.state() if progress is not None else None
    workflow.continue_as_new(args=list(build_args(state)))
