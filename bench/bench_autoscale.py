"""A burst drained by (a) 1 fixed replica, (b) the maximum fixed replicas, (c) the autoscaler.

Each side is a fresh real ``paved dev`` (Temporal dev server, proxy, operator,
and for (c) the autoscaler loop) running the ebb-and-flow project of
``tests/autoscale/ebb.py``: one worker with ``--slots`` activity slots per
replica; a burst of ``--burst`` workflows, each one activity sleeping
``--sleep`` seconds, started at once. Per side:

- drain time: first start -> last result;
- replica-seconds in the drain window (replica processes that exist: starting,
  running or draining, sampled every 0.25 s from ``.paved/dev.json``);
- replica-seconds over a fixed episode of ``--episode`` seconds from the burst
  (the burst, then quiet: what a fleet pays for a burst that comes and goes;
  the autoscaler gives replicas back after its quiet window, fixed replicas stay).

Sides alternate order over ``--rounds`` rounds (rotated), every run reported
with the load average. Target (issue 11): (c) within 1.2x of (b)'s drain time at
no more than 60% of (b)'s replica-seconds.

    python bench/bench_autoscale.py --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.autoscale import ebb  # noqa: E402

SIDES = ("one", "max", "auto")
WFQ = "ebb-sleep-workflows"


async def run_side(side: str, args: argparse.Namespace, base: Path) -> dict[str, Any]:
    pkg = f"ebbb_{uuid.uuid4().hex[:8]}"
    files = ebb.project_files(
        pkg,
        autoscale=side == "auto",
        gpu=False,
        replicas={"one": 1, "max": args.max, "auto": 1}[side],
        max_replicas=args.max,
        slots=args.slots,
        quiet=args.quiet,
        interval=args.interval,
    )
    root = ebb.write(base / f"{side}-{pkg}", files)
    run = ebb.start(root, base / f"{side}-{pkg}.out")
    try:
        want = {"one": 1, "max": args.max, "auto": 1}[side]
        await ebb.until(lambda: _running(run) >= want, 120, "replicas healthy", run)
        c = await run.client()
        load0 = os.getloadavg()
        stop = asyncio.Event()
        sampler = asyncio.create_task(run.sample(ebb.SLEEP_WORKER, stop, every=0.25))
        await asyncio.sleep(0.3)
        t0 = time.monotonic()
        handles = await asyncio.gather(
            *(
                c.start_workflow("EbbFlow", args.sleep, id=f"{side}-{i}", task_queue=WFQ)
                for i in range(args.burst)
            )
        )
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 900)
        t1 = time.monotonic()
        rest = t0 + args.episode - time.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)
        stop.set()
        await sampler
        load1 = os.getloadavg()
        samples = run.samples[ebb.SLEEP_WORKER]
        peak = max(n for t, n in samples if t >= t0)
        return {
            "side": side,
            "drain_s": t1 - t0,
            "replica_s_drain": ebb.replica_seconds(samples, t0, t1),
            "replica_s_episode": ebb.replica_seconds(samples, t0, t0 + args.episode),
            "peak_replicas": peak,
            "retries": sum(1 for r in results if r != 1),
            "load_start": load0[0],
            "load_end": load1[0],
            "scale_events": sum(
                1 for ln in run.output().splitlines() if "autoscaler: ebb-sleep: scale" in ln
            ),
        }
    finally:
        run.stop()


def _running(run: ebb.DevRun) -> int:
    return sum(
        1
        for r in run.status().get("replicas", [])
        if r["name"].startswith(f"worker {ebb.SLEEP_WORKER}") and r["state"] == "running"
    )


async def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--burst", type=int, default=96, help="workflows in the burst")
    p.add_argument("--sleep", type=float, default=5.0, help="seconds each activity sleeps")
    p.add_argument("--slots", type=int, default=4, help="activity slots per replica")
    p.add_argument("--max", type=int, default=4, help="max replicas (side b's fixed count)")
    p.add_argument("--quiet", type=float, default=10.0, help="autoscaler quiet window (s)")
    p.add_argument("--interval", type=float, default=1.0, help="autoscaler decision interval (s)")
    p.add_argument("--episode", type=float, default=120.0, help="replica-seconds episode (s)")
    p.add_argument("--sides", default=",".join(SIDES))
    p.add_argument("--json", type=Path, default=None, help="write every run here")
    args = p.parse_args()
    sides = [s for s in args.sides.split(",") if s]
    runs: list[dict[str, Any]] = []
    print(f"# bench_autoscale: burst {args.burst} x {args.sleep}s sleep, {args.slots} slots/replica, "
          f"max {args.max} replicas, quiet {args.quiet}s, episode {args.episode}s; "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-autoscale-") as tmp:
        for rnd in range(args.rounds):
            order = sides[rnd % len(sides) :] + sides[: rnd % len(sides)]
            for side in order:
                r = await run_side(side, args, Path(tmp))
                r["round"] = rnd + 1
                runs.append(r)
                print(
                    f"round {rnd + 1} {side:>4}: drain {r['drain_s']:6.1f}s  replica-s drain "
                    f"{r['replica_s_drain']:6.1f}  episode {r['replica_s_episode']:6.1f}  peak "
                    f"{r['peak_replicas']}  events {r['scale_events']}  retries {r['retries']}  "
                    f"load {r['load_start']:.1f}->{r['load_end']:.1f}",
                    flush=True,
                )
            by = {r["side"]: r for r in runs if r["round"] == rnd + 1}
            if "auto" in by and "max" in by:
                a, m = by["auto"], by["max"]
                print(
                    f"round {rnd + 1} auto/max: drain {a['drain_s'] / m['drain_s']:.2f}x, "
                    f"replica-s drain {a['replica_s_drain'] / m['replica_s_drain']:.2f}x, "
                    f"episode {a['replica_s_episode'] / m['replica_s_episode']:.2f}x",
                    flush=True,
                )
    ratios = [
        (a["drain_s"] / m["drain_s"], a["replica_s_episode"] / m["replica_s_episode"],
         a["replica_s_drain"] / m["replica_s_drain"])
        for a in runs if a["side"] == "auto"
        for m in runs if m["side"] == "max" and m["round"] == a["round"]
    ]  # fmt: skip
    if ratios:
        med_drain = statistics.median(r[0] for r in ratios)
        med_ep = statistics.median(r[1] for r in ratios)
        med_rd = statistics.median(r[2] for r in ratios)
        ok = med_drain <= 1.2 and med_ep <= 0.6
        print(
            f"median auto/max: drain {med_drain:.2f}x (target <= 1.2), replica-s episode "
            f"{med_ep:.2f}x (target <= 0.6), replica-s in the drain window {med_rd:.2f}x: "
            f"{'MET' if ok else 'NOT MET'}"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"args": vars(args) | {"json": str(args.json)}, "runs": runs}, indent=1)
        )
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
