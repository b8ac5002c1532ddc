"""Inputs and outputs of the research session workflows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio.contrib.workflow_streams import WorkflowStreamState


@dataclass
class SessionInput:
    """A session's start (and continue-as-new) argument: everything a run carries over."""

    session: str
    questions: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    answered: int = 0
    reports: list[str] = field(default_factory=list)
    progress: WorkflowStreamState | None = None
    # Finish once the queued questions are answered (tests, batch use); a web
    # session stays open for the next question.
    close_when_idle: bool = False
    max_turns_per_run: int = 20
    history_limit: int = 200
    approval_timeout_seconds: float = 3600.0
    on_timeout: str = "reject"


@dataclass
class SessionResult:
    session: str
    answered: int
    reports: list[str]
    history_items: int = 0
    questions: list[str] = field(default_factory=list)


@dataclass
class ReportInput:
    session: str
    turn: int
    question: str
    text: str


@dataclass
class SendInput:
    session: str
    turn: int
    path: str
    approved_by: str
