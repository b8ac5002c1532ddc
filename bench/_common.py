"""Helpers shared by bench_worker.py, bench_gen.py and bench_dev.py (only these three).

Machine facts for the report (date, ``nproc``, load average), medians, a plain
text table, JSON output under ``bench/results/``, and writing a generated
project (``paved.yaml`` + package) into a directory.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
PYTHON = sys.executable


def machine() -> dict[str, Any]:
    """What the figures depend on: date, cores, load (the machine is shared)."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
    }


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:.2f}"
    return str(c)


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def write_files(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def paved_gen(
    root: Path, *extra: str, check: bool = True
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``paved gen`` as a cold subprocess; return (seconds, result)."""
    t0 = time.perf_counter()
    r = subprocess.run(
        [PYTHON, "-m", "paved.cli", "gen", "--project", str(root), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    dt = time.perf_counter() - t0
    if check and r.returncode != 0:
        raise SystemExit(f"paved gen failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return dt, r


def worker_project(
    project: str, workers: int, types_per_worker: int, modules_per_worker: int = 1
) -> dict[str, str]:
    """A project of ``workers`` workers, each with ``types_per_worker`` workflow types and as
    many activities, spread over ``modules_per_worker`` modules (package ``<project>_app``)."""
    pkg = f"{project.replace('-', '_')}_app"
    files = {
        "paved.yaml": (
            f"project: {project}\npackages: [{pkg}]\nnamespaces:\n"
            f"  {project}:\n    owner: team-bench\n"
        ),
        f"{pkg}/__init__.py": "",
    }
    for w in range(workers):
        wname = f"w{w:03d}"
        files[f"{pkg}/{wname}/__init__.py"] = ""
        for m in range(modules_per_worker):
            body = [
                "from datetime import timedelta",
                "",
                "from temporalio import workflow",
                "",
                "import paved",
                "",
            ]
            per = range(m, types_per_worker, modules_per_worker)
            for t in per:
                body += [
                    f'@paved.activity(namespace="{project}", worker="{project}-{wname}", name="{wname}-act-{t}")',
                    f"async def act_{t}(x: int) -> int:",
                    "    return x + 1",
                    "",
                    "",
                    f'@paved.workflow(namespace="{project}", worker="{project}-{wname}", name="{wname}-flow-{t}")',
                    f"class Flow{t}:",
                    "    @workflow.run",
                    "    async def run(self, x: int) -> int:",
                    f"        return await paved.execute_activity(act_{t}, x)",
                    "",
                    "",
                ]
            files[f"{pkg}/{wname}/m{m}.py"] = "\n".join(body)
    return files
