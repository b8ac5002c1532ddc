"""``paved status``: what the project declares and what ``paved dev`` is running.

Reads the committed specs (namespaces, workers and their queues), the
operator's status (desired vs actual, drift, last error per object) and, when
``paved dev`` runs for this project, ``.paved/dev.json`` (pids and URLs), then
checks each process is alive and each worker answers ``/healthz``.
"""

from __future__ import annotations

import json
import os

from paved import operator, specs
from paved._net import http_ok


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status_lines(project: specs.Project) -> list[str]:
    """Human-readable status of ``project`` (one line each)."""
    loaded = project.specs()
    lines = [f"project {project.config.project} ({project.root})"]
    for ns in loaded.namespaces.namespaces:
        physical = ", ".join(p.name for p in ns.physical)
        lines.append(
            f"  namespace {ns.name}: owner {ns.owner}, tier {ns.tier}, {ns.retention_days}d -> {physical}"
        )
    for w in loaded.workers.workers:
        queues = ", ".join(
            f"{q.name} ({len(q.workflows)} wf, {len(q.activities)} act)" for q in w.queues
        )
        lines.append(f"  worker {w.name}: namespace {w.namespace}, replicas {w.replicas}; {queues}")
    lines += operator.status_lines(project.state_dir)
    path = project.state_dir / "dev.json"
    if not path.exists():
        lines.append("paved dev: not running (start it with `paved dev`)")
        return lines
    state = json.loads(path.read_text())
    if not _alive(int(state.get("pid", 0))):
        lines.append(f"paved dev: not running (stale {path}; it exited without cleaning up)")
        return lines
    lines.append(f"paved dev: running (pid {state['pid']})")
    urls: dict[str, str] = state.get("urls", {})
    for name, pid in sorted(state.get("pids", {}).items()):
        health = ""
        metrics = urls.get(name, "")
        if metrics.endswith("/metrics"):
            health = (
                ", healthy"
                if http_ok(metrics[: -len("/metrics")] + "/healthz")
                else ", NOT healthy"
            )
        lines.append(f"  {name}: pid {pid} {'alive' if _alive(pid) else 'DEAD'}{health}")
    for r in state.get("replicas", []):
        if r.get("restarts") or r.get("state") not in ("running", "stopped"):
            err = r.get("error") or {}
            last = (
                (f"[{err['code']}] {err['message']}" if err.get("code") else err.get("message"))
                or r.get("last_error")
                or "no output"
            )
            held = ", HELD (not restarted; fix and save)" if r.get("held") else ""
            lines.append(
                f"  {r['name']}: {r['state']}{held}, {r['restarts']} restarts, last exit "
                f"{r.get('last_exit')}: {last}"
            )
            if err.get("fix"):
                lines.append(f"    fix: {err['fix']}")
    for name, url in urls.items():
        if not name.startswith("worker"):
            lines.append(f"  {name}: {url}")
    return lines
