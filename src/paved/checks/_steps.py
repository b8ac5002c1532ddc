"""Workflow steps: the command sequence of a history and of the current code, comparable.

Temporal checks determinism by matching the commands a workflow task produces
against the command events already in the history. Both sides are reduced here
to :class:`Step` (kind and name: ``activity moderate_prompt``, ``timer``,
``child Resize``, ``complete``), so ``paved replay test`` can find the first
point where they part and ``paved replay pull`` can tell histories of different
shapes apart.

Local activities, queries and update responses are left out: their markers and
protocol messages do not sit at the position of the command that caused them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.bridge.proto.workflow_commands import WorkflowCommand

from paved.sdk import CallSite


@dataclass(frozen=True)
class Step:
    """One command (from code) or command event (from history)."""

    kind: str
    name: str = ""
    event_id: int = 0
    event_type: str = ""
    call_site: CallSite | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}".strip()

    def same(self, other: Step) -> bool:
        return self.kind == other.kind and (
            self.kind not in _NAMED or self.name == other.name or not (self.name and other.name)
        )


# Kinds whose name is part of what Temporal compares.
_NAMED = {"activity", "child", "signal_external", "patch", "nexus"}

_E = EventType
_EVENT_KIND = {
    _E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
    _E.EVENT_TYPE_TIMER_STARTED: "timer",
    _E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "child",
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "complete",
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "fail",
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "cancel",
    _E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continue_as_new",
    _E.EVENT_TYPE_TIMER_CANCELED: "cancel_timer",
    _E.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED: "cancel_activity",
    _E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "signal_external",
    _E.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "cancel_external",
    _E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "upsert_search_attributes",
    _E.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: "modify_properties",
    _E.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED: "nexus",
    _E.EVENT_TYPE_MARKER_RECORDED: "marker",
}

_COMMAND_KIND = {
    "schedule_activity": "activity",
    "start_timer": "timer",
    "start_child_workflow_execution": "child",
    "complete_workflow_execution": "complete",
    "fail_workflow_execution": "fail",
    "cancel_workflow_execution": "cancel",
    "continue_as_new_workflow_execution": "continue_as_new",
    "cancel_timer": "cancel_timer",
    "request_cancel_activity": "cancel_activity",
    "signal_external_workflow_execution": "signal_external",
    "request_cancel_external_workflow_execution": "cancel_external",
    "cancel_child_workflow_execution": "cancel_external",
    "upsert_workflow_search_attributes": "upsert_search_attributes",
    "modify_workflow_properties": "modify_properties",
    "schedule_nexus_operation": "nexus",
    "set_patch_marker": "patch",
}


def event_step(event: HistoryEvent) -> Step | None:
    """The step a history event records, or ``None`` for events no command produced."""
    kind = _EVENT_KIND.get(event.event_type)
    if kind is None:
        return None
    etype = "".join(
        w.capitalize()
        for w in EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").split("_")
    )
    name = ""
    if kind == "activity":
        name = event.activity_task_scheduled_event_attributes.activity_type.name
    elif kind == "child":
        name = event.start_child_workflow_execution_initiated_event_attributes.workflow_type.name
    elif kind == "continue_as_new":
        name = event.workflow_execution_continued_as_new_event_attributes.workflow_type.name
    elif kind == "signal_external":
        name = event.signal_external_workflow_execution_initiated_event_attributes.signal_name
    elif kind == "nexus":
        name = event.nexus_operation_scheduled_event_attributes.operation
    elif kind == "timer":
        d = event.timer_started_event_attributes.start_to_fire_timeout
        name = _duration(d.seconds, d.nanos)
    elif kind == "marker":
        attrs = event.marker_recorded_event_attributes
        if attrs.marker_name != "core_patch":
            return None  # local activity and other SDK markers: not positional
        kind, name = "patch", _patch_id(attrs.details.get("patch_data"))
    return Step(kind, name, event_id=event.event_id, event_type=etype)


def _patch_id(payloads: object) -> str:
    import json

    try:
        data = json.loads(payloads.payloads[0].data)  # type: ignore[attr-defined]
        return str(data.get("id", ""))
    except (AttributeError, IndexError, ValueError):
        return ""


def command_step(cmd: WorkflowCommand, site: CallSite | None) -> Step | None:
    """The step a command the code produced stands for, or ``None`` if not positional."""
    variant = cmd.WhichOneof("variant")
    kind = _COMMAND_KIND.get(variant or "")
    if kind is None:
        return None
    name = ""
    if variant == "schedule_activity":
        name = cmd.schedule_activity.activity_type
    elif variant == "start_child_workflow_execution":
        name = cmd.start_child_workflow_execution.workflow_type
    elif variant == "continue_as_new_workflow_execution":
        name = cmd.continue_as_new_workflow_execution.workflow_type
    elif variant == "signal_external_workflow_execution":
        name = cmd.signal_external_workflow_execution.signal_name
    elif variant == "schedule_nexus_operation":
        name = cmd.schedule_nexus_operation.operation
    elif variant == "set_patch_marker":
        name = cmd.set_patch_marker.patch_id
    elif variant == "start_timer":
        d = cmd.start_timer.start_to_fire_timeout
        name = _duration(d.seconds, d.nanos)
    return Step(kind, name, event_type=variant or "", call_site=site)


def _duration(seconds: int, nanos: int) -> str:
    total = seconds + nanos / 1e9
    return f"{total:g}s"


def shape_of(steps: list[Step]) -> str:
    """A short stable hash of a command sequence (kind and compared name, not timer lengths)."""
    text = "\n".join(f"{s.kind} {s.name if s.kind in _NAMED else ''}" for s in steps)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def history_steps(events: list[HistoryEvent]) -> list[Step]:
    return [s for e in events if (s := event_step(e)) is not None]
