"""Ownership marks: the key/value pairs the operator writes on what it creates.

Temporal namespaces carry them in their ``data`` map, Temporal Cloud namespaces
in their tags. They are how the operator tells its own objects from everyone
else's (it never changes or deletes an object without its project's mark), when
it deprecated one (the grace period counts from there), which search
attributes it added (only those are ever removed), and the fencing token of the
lease holder that last wrote (an operator whose lease was taken over stops
writing an object a newer holder has touched).

Why not Temporal's own ``DEPRECATED`` namespace state: the server refuses the
way back (``Invalid namespace state update``), so a namespace removed from the
specs by mistake could never be restored. The mark is reversible.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

PREFIX = "paved.io/"
MANAGED_BY = PREFIX + "managed-by"
OWNER = PREFIX + "owner"
LOGICAL = PREFIX + "logical"
REGION = PREFIX + "region"
ENVIRONMENT = PREFIX + "environment"
TIER = PREFIX + "tier"
DEPRECATED_AT = PREFIX + "deprecated-at"
SEARCH_ATTRIBUTES = PREFIX + "search-attributes"
FENCE = PREFIX + "fence"


def manager(project: str) -> str:
    """The ``managed-by`` value of ``project``'s operator."""
    return f"paved-operator/{project}"


def owned(data: Mapping[str, str], project: str) -> bool:
    return data.get(MANAGED_BY) == manager(project)


def deprecated_since(data: Mapping[str, str]) -> float | None:
    """Epoch seconds of the deprecation mark, or None (unset or cleared with "")."""
    v = data.get(DEPRECATED_AT, "")
    if not v:
        return None
    try:
        return datetime.fromisoformat(v).timestamp()
    except ValueError:
        return time.time()  # an unreadable mark counts as "just now": the grace period restarts


def stamp(now: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if now is None else now, UTC).isoformat(
        timespec="seconds"
    )


def search_attributes(data: Mapping[str, str]) -> set[str]:
    """Names of the search attributes the operator added."""
    return {n for n in data.get(SEARCH_ATTRIBUTES, "").split(",") if n}


def join(names: set[str]) -> str:
    return ",".join(sorted(names))


def fence(data: Mapping[str, str]) -> int:
    try:
        return int(data.get(FENCE, "0") or 0)
    except ValueError:
        return 0
