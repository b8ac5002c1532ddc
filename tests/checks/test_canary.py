"""Canary: the temporalio internals ``paved replay test`` relies on. An SDK upgrade that
changes any of them fails HERE, by name, before replay reports silently lose their lines.

See ``paved/checks/_recorder.py`` for why each is needed.
"""

from __future__ import annotations

import inspect
import re

import temporalio
from temporalio.bridge.proto.workflow_commands import WorkflowCommand
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker._workflow_instance import _WorkflowInstanceImpl
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from paved.checks import _divergence, _recorder, _steps

PINNED = "1.35.0"


def test_sdk_version_is_the_one_checked() -> None:
    assert temporalio.__version__ == PINNED, (
        f"temporalio {temporalio.__version__} != {PINNED}: re-run tests/checks, then update PINNED"
    )


def test_instance_adds_every_command_through_add_command() -> None:
    src = inspect.getsource(_WorkflowInstanceImpl)
    assert (
        "def _add_command(self) -> temporalio.bridge.proto.workflow_commands.WorkflowCommand" in src
    )
    assert "self._current_completion.successful.commands.add()" in inspect.getsource(
        _WorkflowInstanceImpl._add_command
    )
    # No other place appends commands directly (the recorder pairs commands with sites by order).
    assert src.count(".successful.commands.add(") == 1
    assert "def activate(" in src


def test_unsandboxed_runner_builds_the_instance_class_we_subclass() -> None:
    assert "_WorkflowInstanceImpl(det)" in inspect.getsource(
        UnsandboxedWorkflowRunner.create_instance
    )
    assert issubclass(_recorder._RecordingInstance, _WorkflowInstanceImpl)


def test_sandbox_reimports_runner_class_by_module_and_name() -> None:
    assert "runner_class" in inspect.signature(SandboxedWorkflowRunner).parameters
    from temporalio.worker.workflow_sandbox import _runner

    src = inspect.getsource(_runner)
    assert "from {self.runner_class.__module__} import {self.runner_class.__name__}" in src
    runner = _recorder.sandboxed_runner()
    assert runner.runner_class is _recorder.RecordingRunner


def test_command_variants_we_map_exist() -> None:
    variants = {f.name for f in WorkflowCommand.DESCRIPTOR.oneofs_by_name["variant"].fields}
    missing = set(_steps._COMMAND_KIND) - variants
    assert not missing, f"WorkflowCommand lost variants: {missing}"


def test_core_nondeterminism_message_shapes_still_parse() -> None:
    # The two message shapes temporalio 1.35 produces (issue 12), wrapped as the Replayer wraps them.
    wrapped = (
        "Workflow activation completion failed: Failure { failure: Some(Failure { message: "
        '"[TMPRL1100] Nondeterminism error: Child workflow machine does not handle this event: '
        'HistoryEvent { event_id: 11, event_time: None, event_type: ActivityTaskScheduled, x: 1 }", '
        'source: "", stack_trace: "" }) }'
    )
    text = _divergence.temporal_message(Exception(wrapped))
    assert text.startswith("[TMPRL1100] Nondeterminism error: Child workflow machine")
    assert "HistoryEvent(id: 11, ActivityTaskScheduled)" in text
    assert re.search(r"TMPRL1100", text)
