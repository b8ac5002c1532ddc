"""How long `paved --help` and `paved status` take, against a baseline checkout.

    python bench/bench_cli.py --baseline /tmp/paved-base [--rounds 5] [--runs 5]

The baseline is another checkout of this repository (e.g. ``git worktree add
/tmp/paved-base <commit>``); both sides run with this venv's interpreter and
libraries, each with its own ``src`` first on ``PYTHONPATH``. Rounds alternate
the sides (this side first in odd rounds, the baseline first in even ones);
every round is reported with the load average, and the ratio of medians.
Target (issue 10): under 0.3 s for both commands.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, machine, median, table, write_json

COMMANDS = {"help": ["--help"], "status": ["status", "--project", "examples/imagegen"]}


def _time(src: Path, args: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(src / "src"))
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "paved.cli", *args],
        cwd=src, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
    )  # fmt: skip
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--baseline", type=Path, required=True, help="another checkout (the before)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5, help="runs per side, command and round")
    args = ap.parse_args()
    sides = {"this": REPO, "baseline": args.baseline.resolve()}
    for src in sides.values():  # warm the bytecode caches of both checkouts
        for cmd in COMMANDS.values():
            _time(src, cmd)
    rows, data = [], []
    for r in range(1, args.rounds + 1):
        order = list(sides) if r % 2 else list(reversed(sides))
        got: dict[str, dict[str, float]] = {}
        for side in order:
            got[side] = {
                c: median([_time(sides[side], a) for _ in range(args.runs)])
                for c, a in COMMANDS.items()
            }
        load = os.getloadavg()[0]
        for c in COMMANDS:
            this, base = got["this"][c], got["baseline"][c]
            rows.append([r, c, this, base, base / this, round(load, 2)])
        data.append({"round": r, "order": order, "seconds": got, "load1": load})
    print(table(["round", "command", "this s", "baseline s", "speed-up x", "load1"], rows))
    for c in COMMANDS:
        this = [d["seconds"]["this"][c] for d in data]
        base = [d["seconds"]["baseline"][c] for d in data]
        print(f"{c}: median this {median(this):.3f} s, baseline {median(base):.3f} s, "
              f"{median(base) / median(this):.1f}x faster; target < 0.3 s: "
              f"{'met' if max(this) < 0.3 else 'not met in every round'}")  # fmt: skip
    print("written", write_json("cli", {"machine": machine(), "rounds": data}))


if __name__ == "__main__":
    main()
