"""The session's activities: search and read the documents, store and send the report.

``search`` and ``read`` are the agent's tools (``paved.agents.tool`` turns them
into tools that run as activities on the ``research-tools`` worker). ``store_report``
always runs; ``send_report`` is the action with a side effect and runs only after
a person with the ``approve`` role said yes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import paved
from paved import agents
from research import documents
from research.models import ReportInput, SendInput


def reports_dir() -> Path:
    d = os.environ.get("RESEARCH_REPORTS_DIR")
    path = Path(d) if d else paved.sdk.state_dir() / "research-reports"
    path.mkdir(parents=True, exist_ok=True)
    return path


@paved.activity(namespace="research", worker="research-tools")
async def search(query: str) -> str:
    """Search the local documents; returns the ids of the best matches."""
    hits = documents.search(query)
    return json.dumps(hits) if hits else "no matching documents"


@paved.activity(namespace="research", worker="research-tools")
@agents.heartbeating
async def read(doc_id: str) -> str:
    """Read one document by id."""
    return documents.read(doc_id)


@paved.activity(namespace="research", worker="research-tools")
async def store_report(inp: ReportInput) -> str:
    """Store the report (idempotent: the same turn writes the same file)."""
    path = reports_dir() / f"{inp.session}-{inp.turn}.md"
    path.write_text(f"# {inp.question}\n\n{inp.text}\n", encoding="utf-8")
    return str(path)


@paved.activity(namespace="research", worker="research-tools")
async def send_report(inp: SendInput) -> str:
    """ "Send" the report: the side effect a person approves (here: an outbox file)."""
    outbox = reports_dir() / "sent"
    outbox.mkdir(exist_ok=True)
    target = outbox / Path(inp.path).name
    target.write_text(
        Path(inp.path).read_text(encoding="utf-8") + f"\n(approved by {inp.approved_by})\n",
        encoding="utf-8",
    )
    return str(target)
