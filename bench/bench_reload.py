"""Save-to-workflow-running under ``paved dev`` (issue 9): reload on save vs the old inner loop.

A project of 5 managed workers (2 workflow types each, ``paved dev --no-ui``).
Each round adds a **new** workflow class to one worker's module and times, from
the save, until that workflow has **completed** (started through the proxy with
``paved.connect``, as ``paved run`` does):

- **reload** (this change): save, then start the workflow at once (no
  ``paved gen``, no restart by hand). ``paved dev`` stops the worker whose file
  changed, regenerates and writes the specs and starts that worker again; a
  start that reaches the old worker before it stopped polling is stuck on its
  workflow task and retried by the dev server's short workflow-task timeout
  (docs/dev.md, "Stuck workflow tasks"): the worst case;
- **reload+1s**: the same, the workflow started 1 s after the save (a developer
  switching to a terminal; ``paved run`` itself takes about that long to start);
- **baseline** (before: a running worker never picked up a new type): save,
  Ctrl-C ``paved dev``, ``paved gen``, ``paved dev`` again until it says all
  processes are healthy, then start the workflow.

Sides alternate (reload, reload+1s, baseline, reload, ...), ``--rounds`` of each; every
round is printed with the 1-minute load average. Target: reload under 5 s.

    python bench/bench_reload.py                # 3 rounds of each side
    python bench/bench_reload.py --rounds 5 --only reload
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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

import paved
from paved.dev import free_port

TARGET_S = 5.0
PROJECT = "brl"
WORKERS = 5
EDITED = "w002"  # the worker whose module each round edits


class Dev:
    """One ``paved dev --no-ui`` subprocess, its console in a file."""

    def __init__(self, root: Path, out: Path) -> None:
        self.root, self.out, self.port = root, out, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.out, "ab") as f:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "paved.cli", "dev", "--project", str(self.root), "--port",
                 str(self.port), "--no-ui"],
                stdout=f, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for(self, needle: str, after: int = 0, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text()[after:]:
            assert self.proc is not None and self.proc.poll() is None, self.text()[-3000:]
            if time.monotonic() > deadline:
                raise SystemExit(f"no {needle!r} in {timeout}s:\n{self.text()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(120)

    def key(self) -> str:
        return (self.root / ".paved" / "dev-api-key").read_text().strip()


def add_workflow(root: Path, n: int) -> str:
    """Append a new workflow type to the edited worker's module; return its type name."""
    name = f"{EDITED}-added-{n}"
    module = root / f"{PROJECT}_app" / EDITED / "m0.py"
    module.write_text(
        module.read_text()
        + f'\n\n@paved.workflow(namespace="{PROJECT}", worker="{PROJECT}-{EDITED}", name="{name}")\n'
        f"class Added{n}:\n    @workflow.run\n    async def run(self, x: int) -> int:\n"
        f"        return await paved.execute_activity(act_0, x) + {n}\n"
    )
    return name


async def run_workflow(dev: Dev, name: str, n: int) -> None:
    env = paved.RuntimeEnv(address=f"127.0.0.1:{dev.port}", via_proxy=True, api_key=dev.key())
    c = await paved.connect(PROJECT, env=env, codec=None)
    got = await asyncio.wait_for(
        c.execute_workflow(
            name, 1, id=f"{name}-{os.getpid()}-{time.time_ns()}",
            task_queue=f"{PROJECT}-{EDITED}-workflows", result_type=int,
        ),
        timeout=180,
    )  # fmt: skip
    assert got == 2 + n, got


def reload_round(dev: Dev, n: int, delay: float) -> dict[str, Any]:
    mark = len(dev.text())
    t0 = time.monotonic()
    name = add_workflow(dev.root, n)
    time.sleep(delay)
    asyncio.run(run_workflow(dev, name, n))
    total = time.monotonic() - t0
    tail = dev.text()[mark:]
    m = re.search(r"reload: restarting (.+?); (\d+) other worker\(s\) untouched \(([\d.]+)s", tail)
    return {
        "side": f"reload+{delay:.0f}s" if delay else "reload",
        "seconds": total,
        "restarted": m.group(1) if m else "?",
        "untouched": int(m.group(2)) if m else None,
        "gen_s": float(m.group(3)) if m else None,
    }


def baseline_round(dev: Dev, n: int) -> dict[str, Any]:
    t0 = time.monotonic()
    name = add_workflow(dev.root, n)
    dev.stop()
    paved_gen(dev.root)
    mark = len(dev.text())
    dev.start()
    dev.wait_for("Ctrl-C stops everything", after=mark)
    asyncio.run(run_workflow(dev, name, n))
    return {"side": "baseline", "seconds": time.monotonic() - t0}


def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-reload-"))
    root = write_files(tmp / "proj", worker_project(PROJECT, WORKERS, types_per_worker=2))
    paved_gen(root)
    dev = Dev(root, tmp / "dev.out")
    dev.start()
    dev.wait_for("Ctrl-C stops everything")
    sides = ["reload", "reload+1s", "baseline"] if args.only is None else [args.only]
    rows: list[dict[str, Any]] = []
    n = 0
    try:
        for r in range(1, args.rounds + 1):
            for side in sides:
                n += 1
                time.sleep(1.0)  # let the previous round's restarts settle
                load = os.getloadavg()[0]
                if side == "baseline":
                    row = baseline_round(dev, n)
                else:
                    row = reload_round(dev, n, 1.0 if side == "reload+1s" else 0.0)
                row.update(round=r, load1=round(load, 2))
                rows.append(row)
                print(
                    f"round {r} {side:<8} {row['seconds']:6.2f} s  load {load:.2f}"
                    + (f"  (restarted {row['restarted']}, {row['untouched']} untouched, "
                       f"reload line {row['gen_s']}s after the save)" if side != "baseline" else ""),
                    flush=True,
                )  # fmt: skip
    finally:
        dev.stop()
    rel = [x["seconds"] for x in rows if x["side"] == "reload"]
    rel1 = [x["seconds"] for x in rows if x["side"] == "reload+1s"]
    base = [x["seconds"] for x in rows if x["side"] == "baseline"]
    print()
    print(table(["round", "side", "seconds", "load1"],
                [[x["round"], x["side"], x["seconds"], x["load1"]] for x in rows]))  # fmt: skip
    summary: dict[str, Any] = {
        "reload_median_s": median(rel),
        "reload_plus_1s_median_s": median(rel1),
        "target_s": TARGET_S,
    }
    if base:
        summary["baseline_median_s"] = median(base)
        ratios = [b / a for a, b in zip(rel, base, strict=False)]
        summary["baseline_over_reload_per_round"] = [round(x, 1) for x in ratios]
    print(f"\nreload median {median(rel):.2f} s (target < {TARGET_S:.0f} s: "
          f"{'met' if median(rel) < TARGET_S else 'NOT met'}); reload+1s median "
          f"{median(rel1):.2f} s; "
          + (f"baseline median {median(base):.2f} s; per-round baseline/reload "
             f"{summary['baseline_over_reload_per_round']}" if base else ""))  # fmt: skip
    print(f"machine: {machine()}")
    path = write_json("bench_reload", {"machine": machine(), "rows": rows, "summary": summary})
    print(f"wrote {path}")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", choices=["reload", "baseline"])
    ap.add_argument("--keep", action="store_true", help="keep the temp project and console")
    main(ap.parse_args())
    sys.stdout.flush()
    os._exit(0)  # temporalio/sdk-python#300
