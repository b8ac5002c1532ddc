"""Benchmarks of the CI guardrails, and the recorder of the example's committed corpus.

    python bench/bench_checks.py                  # replay speed over 1,000 histories + paved check wall time
    python bench/bench_checks.py --record-example # (re)record examples/imagegen/replay/ (what is committed)

Recording runs the real example: a Temporal dev server, the fake GPU service
in-process, both managed workers (``paved.worker.run``: the call-site
interceptor and the build id are on) with Paved's codec using the example's demo
key ring, then ``paved.checks.pull`` keeps one history per shape.

The replay benchmark records ``--real`` runs of the example (default 50: done,
rejected and cancelled requests) and clones them to ``--histories`` (default
1,000) with fresh run ids, so the bench stays bounded; it then replays all of
them with ``paved.checks.replay_entries`` (the path of ``paved replay test``),
alternating with temporalio's bare Replayer (no recorder) as the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "imagegen"
PROMPTS = ["a red fox in snow", "a lighthouse at dusk", "weapon concept art", "a bowl of ramen"]


async def record(tmp: Path, runs: int, corpus: Path, build: str) -> list[Any]:
    """Run the example ``runs`` times on a fresh dev server; pull into ``corpus``; return histories."""
    sys.path.insert(0, str(EXAMPLE))
    from imagegen.gpu import GpuConfig, make_app
    from imagegen.models import ImageRequest

    from paved import checks, codec, sdk, specs
    from paved.dev import DevServer, ensure_namespaces, free_port
    from paved.worker import run as run_worker

    demo = corpus / checks.DEMO_KEYS
    state = tmp / "state"
    state.mkdir()
    # Env keys come first for every client and worker of this process (see paved.codec).
    keys = json.loads(demo.read_text())["namespaces"]["imagegen"]
    active = next(k for k in keys["keys"] if k["id"] == keys["active"])
    os.environ[codec.env_var_for("imagegen")] = f"{active['id']}:{active['key']}"
    gpu_port = free_port()
    os.environ.update(
        PAVED_STATE_DIR=str(state),
        PAVED_BUILD_ID=build,
        IMAGEGEN_GPU_URL=f"http://127.0.0.1:{gpu_port}",
        IMAGEGEN_BLOB_DIR=str(tmp / "blobs"),
        PAVED_ENV="dev",
        PAVED_REGION="local",
    )
    server = DevServer(db_file=tmp / "temporal.db")
    server.start()
    os.environ["PAVED_ADDRESS"] = server.address
    runner = web.AppRunner(
        make_app(GpuConfig(capacity=8, failure_rate=0.0, min_delay_ms=5, max_delay_ms=20))
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", gpu_port).start()
    stop = asyncio.Event()
    try:
        project = specs.Project.load(EXAMPLE)
        client = await sdk.connect("imagegen")
        plain = await __import__("temporalio.client", fromlist=["Client"]).Client.connect(
            server.address
        )
        await ensure_namespaces(plain, ["imagegen-dev-local"])
        tasks = [
            asyncio.create_task(run_worker(project, w, http_port=None, stop=stop))
            for w in ("imagegen-worker", "imagegen-gpu")
        ]
        from imagegen.workflows import GenerateImage

        handles = []
        for i in range(runs):
            req = ImageRequest(prompt=PROMPTS[i % len(PROMPTS)], user=f"bench-{i % 7}", seed=i)
            h = await client.start_workflow(
                GenerateImage.run,
                req,
                id=f"img-{uuid.uuid4().hex[:10]}",
                task_queue="imagegen-worker-workflows",
            )
            if i % 10 == 9:
                await h.signal(GenerateImage.cancel_request, "changed my mind")
            handles.append(h)
        for t in tasks:
            if t.done():
                raise RuntimeError(f"worker exited: {t.exception()!r}")
        for h in handles:
            try:
                await asyncio.wait_for(h.result(), 120)
            except TimeoutError:
                raise RuntimeError(
                    f"{h.id} did not finish; workers: {[t.done() for t in tasks]}"
                ) from None
            except Exception as e:
                if "RequestCancelled" not in repr(getattr(e, "cause", e)):
                    print(f"{h.id}: {e!r}", flush=True)
        # `paved replay pull`'s own path: specs -> paved.connect -> the corpus's key ring.
        stats = await checks.pull_project(project, corpus, per_type=runs)
        print(f"recorded {runs} runs: {stats}", flush=True)
        histories = [await client.get_workflow_handle(h.id).fetch_history() for h in handles]
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        return histories
    finally:
        stop.set()
        await runner.cleanup()
        server.stop()


def clones(entries: list[Any], n: int) -> list[Any]:
    """``n`` corpus entries cloned from ``entries`` with fresh run ids (same events otherwise)."""
    from dataclasses import replace

    from temporalio.client import WorkflowHistory

    out = []
    for i in range(n):
        e = entries[i % len(entries)]
        events = [type(ev)() for ev in e.history.events]
        for dst, src in zip(events, e.history.events, strict=True):
            dst.CopyFrom(src)
        rid = str(uuid.uuid4())
        attrs = events[0].workflow_execution_started_event_attributes
        attrs.original_execution_run_id = rid
        attrs.first_execution_run_id = rid
        out.append(replace(e, run_id=rid, history=WorkflowHistory(f"{e.workflow_id}-{i}", events)))
    return out


async def replay_rounds(entries: list[Any], ring: Any, rounds: int) -> list[dict[str, float]]:
    from temporalio.worker import Replayer

    from paved import checks, codec, sdk
    from paved.specs import Project

    workflows = checks.project_workflows(Project.load(EXAMPLE))
    # Warm-up (sandbox imports, Core runtime) so that round 1 does not charge it to one side.
    await checks.replay_entries(entries[:20], workflows, ring=ring)
    rows = []
    for r in range(rounds):
        t0 = time.perf_counter()
        outcomes = await checks.replay_entries(entries, workflows, ring=ring)
        paved_s = time.perf_counter() - t0
        assert all(o.ok for o in outcomes), [checks.describe(o) for o in outcomes if not o.ok][:1]
        # Baseline: temporalio's Replayer, same sandbox and converter, no call-site recorder.
        replayer = Replayer(
            workflows=workflows,
            workflow_runner=__import__(
                "temporalio.worker.workflow_sandbox", fromlist=["x"]
            ).SandboxedWorkflowRunner(restrictions=checks.sandboxed_runner().restrictions),
            data_converter=sdk.data_converter(
                codec=codec.codec_for("imagegen", keyring=ring, offload=False)
            ),
        )
        t0 = time.perf_counter()

        async def histories() -> Any:
            for e in entries:
                yield e.history

        res = await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
        base_s = time.perf_counter() - t0
        assert not res.replay_failures
        rows.append(
            {
                "round": r + 1,
                "paved_per_s": len(entries) / paved_s,
                "temporalio_per_s": len(entries) / base_s,
                "ratio": base_s / paved_s,
                "load": os.getloadavg()[0],
            }
        )
        print(
            f"round {r + 1}: paved {len(entries) / paved_s:.0f}/s, temporalio Replayer {len(entries) / base_s:.0f}/s "
            f"(paved/bare {base_s / paved_s:.2f}x), load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    return rows


def check_wall(rounds: int) -> list[float]:
    paved = Path(sys.executable).parent / "paved"
    out = []
    for r in range(rounds):
        t0 = time.perf_counter()
        p = subprocess.run(
            [str(paved), "check", "--project", str(EXAMPLE)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        dt = time.perf_counter() - t0
        assert p.returncode == 0, p.stdout + p.stderr
        out.append(dt)
        print(
            f"paved check round {r + 1}: {dt:.2f}s wall, load {os.getloadavg()[0]:.2f}", flush=True
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--record-example", action="store_true", help="re-record examples/imagegen/replay"
    )
    ap.add_argument("--real", type=int, default=50)
    ap.add_argument("--histories", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from paved import checks, codec

    corpus = EXAMPLE / "replay"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.record_example:
            asyncio.run(record(tmp, 12, corpus, build="example-record"))
            return
        bench_corpus = tmp / "replay"
        bench_corpus.mkdir()
        shutil.copy(corpus / checks.DEMO_KEYS, bench_corpus / checks.DEMO_KEYS)
        t0 = time.perf_counter()
        (tmp / "rec").mkdir()
        asyncio.run(record(tmp / "rec", args.real, bench_corpus, build="bench"))
        print(f"recording {args.real} real runs took {time.perf_counter() - t0:.1f}s", flush=True)
        ring = codec.KeyRing(codec.FileKeyProvider(bench_corpus / checks.DEMO_KEYS), create=False)
        entries = clones(list(checks.iter_corpus(bench_corpus)), args.histories)
        print(f"load before: {os.getloadavg()}", flush=True)
        rows = asyncio.run(replay_rounds(entries, ring, args.rounds))
        walls = check_wall(args.rounds)
        result = {
            "histories": len(entries),
            "shapes": len(list(checks.iter_corpus(bench_corpus))),
            "replay": rows,
            "paved_check_wall_s": walls,
            "loadavg": os.getloadavg(),
            "nproc": os.cpu_count(),
        }
        out = REPO / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "checks.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
