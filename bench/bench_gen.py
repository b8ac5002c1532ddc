"""``paved gen`` on a big project: 1,000 workflow types and 100 workers, under 5 s.

Issue 2's target: ``paved gen`` on a generated project with 1,000 workflow types
(and as many activities) spread over 100 workers finishes in under 5 s. The
project is written to a temp dir: 100 worker packages of 10 modules each, one
workflow and one activity per module (1,000 modules). Each measurement is a
cold subprocess, so interpreter start and every import count:

- **floor**: ``python -c "import <every module>"`` -- what any tool that reads
  the decorators must pay, before writing a byte;
- **gen**: ``paved gen`` (first run writes specs/, later runs rewrite them);
- **gen --check**: ``paved gen --check`` on fresh specs (what CI runs).

The first run of each kind also compiles bytecode; it is reported apart
(``first``) and the median is taken over the warm runs.

    python bench/bench_gen.py                 # 1,000 types, 100 workers, 3 runs
    python bench/bench_gen.py --types 2000 --workers 200 --runs 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    PYTHON,
    machine,
    median,
    paved_gen,
    table,
    worker_project,
    write_files,
    write_json,
)

TARGET_S = 5.0


def floor_once(root: Path, modules: list[str]) -> float:
    code = "import sys; sys.path.insert(0, '.')\n" + "\n".join(f"import {m}" for m in modules)
    script = root / "_import_all.py"
    script.write_text(code)
    t0 = time.perf_counter()
    subprocess.run([PYTHON, str(script)], cwd=root, check=True, timeout=600)
    return time.perf_counter() - t0


def main(args: argparse.Namespace) -> None:
    info = machine()
    per_worker = args.types // args.workers
    print(
        f"bench_gen: {args.types} workflow types + {args.types} activities, {args.workers} workers, "
        f"{args.modules} modules/worker, {args.runs} runs; {info}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-gen-") as t:
        root = Path(t) / "proj"
        files = worker_project("big", args.workers, per_worker, args.modules)
        write_files(root, files)
        modules = sorted(
            p[:-3].replace("/", ".")
            for p in files
            if p.endswith(".py") and not p.endswith("__init__.py")
        )
        results: dict[str, dict[str, Any]] = {}
        for kind in ("floor", "gen", "check"):
            times = []
            for _ in range(args.runs + 1):
                if kind == "floor":
                    times.append(floor_once(root, modules))
                elif kind == "gen":
                    times.append(paved_gen(root)[0])
                else:
                    dt, r = paved_gen(root, "--check", check=False)
                    if r.returncode != 0:
                        raise SystemExit(
                            f"paved gen --check failed on fresh specs:\n{r.stdout}\n{r.stderr}"
                        )
                    times.append(dt)
            results[kind] = {"first": times[0], "runs": times[1:], "median": median(times[1:])}
            print(
                f"  {kind:<6} first {times[0]:.2f}s, then {' '.join(f'{x:.2f}' for x in times[1:])}",
                flush=True,
            )
        n_wf = sum(1 for _ in (root / "specs").glob("*.yaml"))
        spec_bytes = sum(p.stat().st_size for p in (root / "specs").glob("*.yaml"))
        n_workers = len(yaml.safe_load((root / "specs" / "workers.yaml").read_text())["workers"])
        n_types = len(yaml.safe_load((root / "specs" / "workflows.yaml").read_text())["workflows"])
    floor = float(results["floor"]["median"])
    rows = [
        [
            "floor: import all modules",
            results["floor"]["first"],
            results["floor"]["median"],
            1.0,
            "-",
        ],
        [
            "paved gen",
            results["gen"]["first"],
            results["gen"]["median"],
            float(results["gen"]["median"]) / floor,
            float(results["gen"]["median"]) / TARGET_S,
        ],
        [
            "paved gen --check",
            results["check"]["first"],
            results["check"]["median"],
            float(results["check"]["median"]) / floor,
            float(results["check"]["median"]) / TARGET_S,
        ],
    ]
    print()
    print(table(["command", "first run s", "median s", "x floor", "x target (5 s)"], rows))
    gen_s = float(results["gen"]["median"])
    print(
        f"\ntarget: paved gen < {TARGET_S:.0f} s -> {gen_s:.2f} s ({'meets' if gen_s < TARGET_S else 'misses'})"
    )
    print(f"specs: {n_wf} files, {spec_bytes} bytes; {n_types} workflow types, {n_workers} workers")
    info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    path = write_json(
        "bench_gen", {"machine": info, "args": vars(args), "results": results, "target_s": TARGET_S}
    )
    print(f"JSON: {path}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--types", type=int, default=1000, help="workflow types (and as many activities)"
    )
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--modules", type=int, default=10, help="modules per worker")
    ap.add_argument("--runs", type=int, default=3, help="warm runs after the first (bytecode) one")
    main(ap.parse_args())
