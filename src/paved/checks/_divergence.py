"""The first point where the current code and a recorded history part, and how to fix it.

Input: the command steps of the history, the steps the code produced during
replay (with their call sites, see ``_recorder``), and temporalio's error.
Output: a :class:`Divergence` a developer can act on at once: the history
event, what the code did instead and at which line, the call site recorded
when the history was made, and a fix with the snippet to paste.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.history.v1 import HistoryEvent

from paved import codec, sdk
from paved.checks import _steps as steps


@dataclass(frozen=True)
class Divergence:
    index: int
    expected: steps.Step | None  # from the history
    actual: steps.Step | None  # from the current code
    recorded_at: sdk.CallSite | None
    recorded_by: str  # worker identity of the workflow task that issued the original command
    temporal_message: str
    kind: str  # renamed | reordered | replaced | added | removed | changed
    hint: str
    snippet: str


def temporal_message(exc: BaseException) -> str:
    """temporalio's message, shortened: the first sentence, without event dumps."""
    text = str(exc)
    m = re.search(r'message: "(.*?)", source:', text)
    if m:
        text = m.group(1)
    text = re.sub(r"HistoryEvent \{.*", lambda mm: _event_brief(mm.group(0)), text)
    return text[:300]


def _event_brief(dump: str) -> str:
    eid = re.search(r"event_id: (\d+)", dump)
    etype = re.search(r"event_type: (\w+)", dump)
    if eid and etype:
        return f"HistoryEvent(id: {eid.group(1)}, {etype.group(1)})"
    return "HistoryEvent(...)"


def first_divergence(
    expected: list[steps.Step], actual: list[steps.Step]
) -> tuple[int, steps.Step | None, steps.Step | None] | None:
    for i, (h, c) in enumerate(zip(expected, actual, strict=False)):
        if not h.same(c):
            return i, h, c
    if len(actual) < len(expected):
        return len(actual), expected[len(actual)], None
    return None


def recorded_call_site(
    events: dict[int, HistoryEvent], event_id: int, ring: codec.KeyRing | None, namespace: str
) -> tuple[sdk.CallSite | None, str]:
    """The ``paved-call-site`` header of the event (decrypted) and the recording worker."""
    event = events.get(event_id)
    if event is None:
        return None, ""
    header = None
    task_event = 0
    which = event.WhichOneof("attributes") or ""
    attrs = getattr(event, which, None)
    if attrs is not None and hasattr(attrs, "workflow_task_completed_event_id"):
        task_event = attrs.workflow_task_completed_event_id
    if attrs is not None and hasattr(attrs, "header"):
        header = attrs.header.fields.get(sdk.CALL_SITE_HEADER)
    identity = ""
    done = events.get(task_event)
    if done is not None and done.HasField("workflow_task_completed_event_attributes"):
        identity = done.workflow_task_completed_event_attributes.identity
    site = None
    if header is not None:
        try:
            if codec.is_encrypted(header) and ring is not None:
                header = codec.decrypt_payload(header, ring, namespace)
            site = sdk.CallSite.from_payload(header)
        except codec.CodecError:
            site = None
    return site, identity


def still_in_code(site: sdk.CallSite | None, current: sdk.CallSite | None) -> bool:
    """Whether the recorded statement is still in the current source of the module that
    issued the diverging command (then the change inserted a step before it)."""
    if site is None or current is None or not site.code or site.code.startswith("#"):
        return False
    module = current.file.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    if not path:
        return False
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return False
    squash = "".join(site.code.split())
    return squash in "".join(text.split())


def _indent(code: str, n: int = 4) -> str:
    return "\n".join(" " * n + line for line in code.splitlines())


def classify(
    workflow_type: str,
    expected: steps.Step | None,
    actual: steps.Step | None,
    recorded: sdk.CallSite | None,
    history: list[steps.Step],
    index: int,
) -> tuple[str, str, str]:
    """``(kind, hint, snippet)`` for a divergence."""
    new_code = actual.call_site.code if actual and actual.call_site else None
    old_code = recorded.code if recorded else None
    if old_code is None and expected is not None:
        old_code = f"# the code that issued: {expected.label}"
    if actual is not None:
        what = actual.name if actual.kind in ("activity", "child") else actual.kind
    else:
        what = "removed-" + (expected.name or expected.kind if expected else "step")
    patch_id = f"{workflow_type}-{what}"
    patch_id = re.sub(r"[^A-Za-z0-9_.-]", "-", patch_id)
    later = [s.label for s in history[index + 1 :]]
    if expected is not None and actual is not None:
        if expected.kind == actual.kind == "activity" and actual.label in later:
            kind = "reordered"
            hint = (
                f"activities were reordered: the history runs {expected.label!r} here, the code "
                f"now runs {actual.label!r} first"
            )
        elif expected.kind == actual.kind:
            kind = "renamed"
            hint = f"{expected.kind} {expected.name!r} became {actual.name!r} in the code"
        elif expected.kind in ("complete", "fail", "continue_as_new") or still_in_code(
            recorded, actual.call_site
        ):
            kind = "added"
            hint = (
                f"the code added a step ({actual.label}) where the recorded run had finished"
                if expected.kind in ("complete", "fail", "continue_as_new")
                else f"the code inserted {actual.label!r} before {expected.label!r} (whose call is still in the code)"
            )
        elif actual.kind in ("child", "timer", "activity") and actual.label in later:
            kind = "added"
            hint = f"the code now runs {actual.label!r} before {expected.label!r}"
        elif actual.kind == "child":
            kind = "added"
            hint = f"a child workflow ({actual.name}) was added before {expected.label!r}"
        else:
            kind = "replaced"
            hint = f"{expected.label!r} was replaced by {actual.label!r}"
        branch = (
            f"if workflow.patched({patch_id!r}):\n{_indent(new_code or '...')}\n"
            f"else:\n{_indent(old_code or '...')}"
        )
        if kind == "added":
            branch = f"if workflow.patched({patch_id!r}):\n{_indent(new_code or '...')}"
    else:
        kind = "removed"
        hint = f"the code no longer issues {expected.label if expected else 'a step'!r}"
        branch = f"if not workflow.patched({patch_id!r}):\n{_indent(old_code or '...')}"
    snippet = (
        f"{branch}\n\n"
        f"# Once no run started before this change is open, replace the branch with the new\n"
        f"# code and `workflow.deprecate_patch({patch_id!r})`. For a rewrite, register a new\n"
        f"# workflow type ({workflow_type}V2) for new runs and keep this class until old runs end."
    )
    return kind, hint, snippet
