"""Where in the product code a workflow command came from: the call site.

Temporal's history records *what* a workflow did (an activity scheduled, a child
started) but not *which line* of code did it. When a later change breaks replay,
``paved replay test`` names the line in the current code that issued the
diverging command; this module lets it also name the line that issued the
*original* one. The managed worker installs :class:`CallSiteInterceptor`, which
stamps a ``paved-call-site`` header (file, line, source text, function, build id)
on every activity, local activity and child workflow it starts. Headers are not
part of Temporal's determinism check, and with Paved's codec they are encrypted
like every other payload.

:func:`find_call_site` is also what the replay recorder (``paved.checks``) uses
to locate the code that produced each command during replay.
"""

from __future__ import annotations

import json
import linecache
import sys
from dataclasses import asdict, dataclass
from pathlib import PurePath
from types import FrameType
from typing import Any

import temporalio.converter
from temporalio.api.common.v1 import Payload

CALL_SITE_HEADER = "paved-call-site"

# Frames from these modules are machinery, not the product code's call site.
_MACHINERY = ("temporalio", "paved.", "asyncio", "contextlib", "functools", "concurrent", "typing")


@dataclass(frozen=True)
class CallSite:
    """One line of product code: ``imagegen/workflows.py:62`` and its source text."""

    file: str
    line: int
    function: str
    code: str
    build: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    def to_payload(self) -> Payload:
        conv = temporalio.converter.default().payload_converter
        return conv.to_payloads([asdict(self)])[0]

    @classmethod
    def from_json(cls, data: Any) -> CallSite | None:
        if not isinstance(data, dict) or "file" not in data or "line" not in data:
            return None
        return cls(
            file=str(data["file"]),
            line=int(data["line"]),
            function=str(data.get("function", "")),
            code=str(data.get("code", "")),
            build=data.get("build"),
        )

    @classmethod
    def from_payload(cls, payload: Payload) -> CallSite | None:
        """Parse a header payload; ``None`` when it is not a (decoded) call site."""
        try:
            return cls.from_json(json.loads(payload.data))
        except (ValueError, TypeError):
            return None


def _relative_file(frame: FrameType) -> str:
    """``imagegen/workflows.py`` for module ``imagegen.workflows``: stable across checkouts."""
    filename = frame.f_code.co_filename
    module = str(frame.f_globals.get("__name__", ""))
    parts = PurePath(filename).parts
    depth = module.count(".") + 1
    if PurePath(filename).stem == "__init__":
        depth += 1
    if module and module != "__main__" and len(parts) >= depth:
        return "/".join(parts[-depth:])
    return filename


def statement_text(filename: str, lineno: int, max_lines: int = 8) -> str:
    """The source of the statement starting at ``lineno``, joined onto one line
    (``await execute_activity(`` alone says little when the call spans lines)."""
    parts: list[str] = []
    depth = 0
    for n in range(lineno, lineno + max_lines):
        line = linecache.getline(filename, n)
        if not line:
            break
        code = (
            line.split("#", 1)[0] if "#" in line and "'" not in line and '"' not in line else line
        )
        parts.append(line.strip())
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        if depth <= 0:
            break
    text = " ".join(parts)
    for a, b in (("( ", "("), (" )", ")"), (", )", ")"), ("[ ", "["), (" ]", "]")):
        text = text.replace(a, b)
    return text


def is_machinery(module: str) -> bool:
    return module == "paved" or module.startswith(_MACHINERY)


def find_call_site(frame: FrameType | None = None, build: str | None = None) -> CallSite | None:
    """The innermost frame outside temporalio, Paved and the standard machinery."""
    f: FrameType | None = frame or sys._getframe(1)
    while f is not None:
        module = str(f.f_globals.get("__name__", ""))
        if not is_machinery(module) and not f.f_code.co_filename.startswith("<"):
            code = statement_text(f.f_code.co_filename, f.f_lineno)
            return CallSite(
                file=_relative_file(f),
                line=f.f_lineno,
                function=f.f_code.co_qualname,
                code=code[:300],
                build=build,
            )
        f = f.f_back
    return None
