"""The operator's status file, ``.paved/operator/status.json``, and its summary for ``paved status``.

Written atomically after every pass (and on standby) by the operator that runs;
read by ``paved status`` (``status_lines``) so users see desired vs actual,
drift and the last error of each object where they already look.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paved.operator._reconcile import PassResult

STATUS_FILE = Path("operator") / "status.json"


def status_path(state_dir: Path) -> Path:
    """Where the operator of a project writes its status (``state_dir`` is ``.paved/``)."""
    return state_dir / STATUS_FILE


def write_status(path: Path, result: PassResult | None, **extra: Any) -> None:
    """Replace the status file (tmp + rename, so readers never see half a file)."""
    doc: dict[str, Any] = {"updated": time.time(), "pid": os.getpid(), **extra}
    if result is not None:
        doc["pass_seconds"] = round(result.seconds, 4)
        doc["writes"] = result.writes
        doc["errors"] = result.errors
        doc["converged"] = result.converged
        doc["targets"] = {
            t.name: {
                "read_error": t.read_error,
                "seconds": round(t.seconds, 4),
                # In sync, desired == actual: name and state only (700+ namespaces per pass).
                "objects": [
                    asdict(o)
                    if o.state != "in-sync"
                    else {"kind": o.kind, "name": o.name, "state": o.state}
                    for o in t.objects
                ],
            }
            for t in result.targets
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, default=str), encoding="utf-8")
    tmp.replace(path)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return None


def status_lines(state_dir: Path, *, limit: int = 20) -> list[str]:
    """``paved status``'s operator section: counts per state, then every object not in sync."""
    path = status_path(state_dir)
    doc = read_status(path)
    if doc is None:
        return [
            "operator: no status yet (run `paved operator run`, `apply --once`, or `paved dev`)"
        ]
    age = time.time() - float(doc.get("updated", 0))
    role = doc.get("role", "active") if _alive(int(doc.get("pid", 0))) else "not running"
    head = f"operator: {role}, last pass {age:.0f}s ago"
    if "pass_seconds" in doc:
        head += f" ({doc['pass_seconds']:.2f}s, {doc.get('writes', 0)} writes, {doc.get('errors', 0)} errors)"
    if doc.get("note"):
        head += f"; {doc['note']}"
    lines = [head]
    shown = 0
    for tname, t in sorted(doc.get("targets", {}).items()):
        objects = t.get("objects", [])
        counts: dict[str, int] = {}
        for o in objects:
            counts[o["state"]] = counts.get(o["state"], 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no objects"
        lines.append(f"  {tname}: {summary}")
        if t.get("read_error"):
            lines.append(f"    ! {t['read_error']}")
        for o in objects:
            if o["state"] == "in-sync":
                continue
            if shown >= limit:
                continue
            shown += 1
            detail = "; ".join(o.get("drift") or []) or o.get("reason") or ""
            lines.append(
                f"    {o['state']:<8} {o['kind']} {o['name']}: {o['op']} {detail}".rstrip()
            )
            if o.get("last_error"):
                retry = o.get("next_retry")
                when = (
                    f" (attempt {o['attempts']}, retry in {max(0, retry - time.time()):.0f}s)"
                    if retry
                    else ""
                )
                lines.append(f"             last error: {o['last_error']}{when}")
    hidden = (
        sum(
            1
            for t in doc.get("targets", {}).values()
            for o in t.get("objects", [])
            if o["state"] != "in-sync"
        )
        - shown
    )
    if hidden > 0:
        lines.append(f"  ... {hidden} more not in sync (full list: {path})")
    return lines
