"""The small local document set the tools search and read (``research/documents/*.md``)."""

from __future__ import annotations

import re
from pathlib import Path

# No .resolve(): the workflow sandbox forbids it, and this module may be imported there.
DOCS = Path(__file__).parent / "documents"
_WORD = re.compile(r"[a-z0-9-]+")


def doc_ids() -> list[str]:
    return sorted(p.stem for p in DOCS.glob("*.md"))


def search(query: str, limit: int = 3) -> list[str]:
    """Document ids ranked by how many of the query's words they contain."""
    words = set(_WORD.findall(query.lower()))
    scored = []
    for doc in doc_ids():
        text = (DOCS / f"{doc}.md").read_text(encoding="utf-8").lower()
        score = sum(text.count(w) for w in words if len(w) > 2)
        if score:
            scored.append((-score, doc))
    return [doc for _, doc in sorted(scored)[:limit]]


def read(doc_id: str) -> str:
    if doc_id not in doc_ids():
        return f"no document {doc_id!r}; known: {', '.join(doc_ids())}"
    return (DOCS / f"{doc_id}.md").read_text(encoding="utf-8")
