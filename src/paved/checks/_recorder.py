"""Record which line of the current code produced each command during replay.

temporalio's Replayer reports non-determinism without a source line. Paved
replays through a workflow runner whose instances note, for every command the
workflow adds, the innermost frame of product code on the stack
(:func:`paved.sdk.find_call_site`). After a failed replay, the command at the
diverging position therefore carries its file:line and source text.

SDK internals relied on (pinned by ``tests/checks/test_canary.py``, which fails
loudly on an SDK upgrade that changes them):

- ``temporalio.worker._workflow_instance._WorkflowInstanceImpl``: the workflow
  instance; every command goes through its ``_add_command()``, which returns the
  new ``WorkflowCommand`` appended to the activation completion, and
  ``activate()`` returns that completion.
- ``SandboxedWorkflowRunner(runner_class=...)`` re-imports ``runner_class`` by
  module and name inside the sandbox and calls ``runner_class().create_instance``;
  ``paved`` is passed through the sandbox, so the recorder below is shared.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_commands import WorkflowCommand
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.worker import (
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)
from temporalio.worker._workflow_instance import _WorkflowInstanceImpl
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from paved import sdk
from paved.checks import _steps as steps

SANDBOX_PASSTHROUGH = ("paved", "pydantic", "pydantic_core", "annotated_types")


@dataclass
class RunLog:
    """The commands one replayed run produced, in order, with their call sites."""

    run_id: str
    steps: list[steps.Step] = field(default_factory=list)
    pending: list[sdk.CallSite | None] = field(default_factory=list)


class Recorder:
    """Run logs by run id. One per process: the SDK instantiates the runner class
    itself (by import, inside the sandbox), so there is no object to hand it."""

    def __init__(self) -> None:
        self._logs: dict[str, RunLog] = {}
        self._lock = threading.Lock()

    def start(self, run_id: str) -> RunLog:
        log = RunLog(run_id)
        with self._lock:
            self._logs[run_id] = log
        return log

    def pop(self, run_id: str) -> RunLog | None:
        with self._lock:
            return self._logs.pop(run_id, None)


RECORDER = Recorder()


class _RecordingInstance(_WorkflowInstanceImpl):
    def __init__(self, det: WorkflowInstanceDetails) -> None:
        self._paved_log = RECORDER.start(det.info.run_id)
        super().__init__(det)

    def _add_command(self) -> WorkflowCommand:
        cmd = super()._add_command()
        self._paved_log.pending.append(sdk.find_call_site(sys._getframe(1)))
        return cmd

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        completion = super().activate(act)
        log = self._paved_log
        sites, log.pending = log.pending, []
        if completion.HasField("successful"):
            cmds = list(completion.successful.commands)
            if len(cmds) != len(sites):  # a command added some other way: keep order, lose sites
                sites = [None] * len(cmds)
            for cmd, site in zip(cmds, sites, strict=True):
                step = steps.command_step(cmd, site)
                if step is not None:
                    log.steps.append(step)
        return completion


class RecordingRunner(WorkflowRunner):
    """An unsandboxed runner whose instances record call sites (wrapped by the sandbox)."""

    def prepare_workflow(self, defn: Any) -> None:
        return None

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _RecordingInstance(det)  # type: ignore[abstract]


def sandboxed_runner(extra_passthrough: tuple[str, ...] = ()) -> SandboxedWorkflowRunner:
    """The sandbox managed workers use, with the recording instance inside."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            *SANDBOX_PASSTHROUGH, *extra_passthrough
        ),
        runner_class=RecordingRunner,
    )
