"""Benchmark paved.codec: codec throughput vs raw AES-GCM, workflows/s with the codec on vs off,
and a 50 MiB payload round trip through offload (time and peak memory).

    python bench/bench_codec.py                  # defaults: a few minutes at most
    python bench/bench_codec.py --workflows 800 --offload-mib 200

Prints ratios from one run and writes bench/results/codec.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import tempfile
import time
import tracemalloc
import uuid
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import paved
from paved.codec import (
    DirBlobStore,
    EncryptionCodec,
    KeyRing,
    MemoryKeyProvider,
    decrypt_payload,
    encrypt_payload,
)
from paved.dev import DevServer, ensure_namespaces


@activity.defn
async def bench_step(x: str) -> str:
    return x + "!"


@workflow.defn
class BenchOneActivity:
    @workflow.run
    async def run(self, x: str) -> str:
        return await workflow.execute_activity(
            bench_step, x, start_to_close_timeout=timedelta(seconds=60)
        )


def _rate(fn, min_seconds: float) -> float:  # type: ignore[no-untyped-def]
    """Calls per second of ``fn``, timed over at least ``min_seconds``."""
    n, t0 = 0, time.perf_counter()
    while True:
        for _ in range(16):
            fn()
        n += 16
        el = time.perf_counter() - t0
        if el >= min_seconds:
            return n / el


def bench_throughput(seconds: float) -> dict[str, dict[str, float]]:
    ring = KeyRing(MemoryKeyProvider())
    key = ring.active("bench")
    aead = AESGCM(key.material)
    out: dict[str, dict[str, float]] = {}
    for label, size in (("1KiB", 1024), ("64KiB", 64 * 1024), ("1MiB", 1024 * 1024)):
        data = os.urandom(size)
        payload = Payload(metadata={"encoding": b"binary/plain"}, data=data)
        aad = b"paved/v1|bench|" + key.id.encode()

        def direct(data: bytes = data, aad: bytes = aad) -> None:
            nonce = os.urandom(12)
            aead.decrypt(nonce, aead.encrypt(nonce, data, aad), aad)

        def codec(payload: Payload = payload) -> None:
            decrypt_payload(encrypt_payload(payload, ring, "bench"), ring, "bench")

        def sample(payload: Payload = payload) -> None:
            # The minimal payload-level AES-GCM codec (Temporal's encryption sample):
            # the protobuf work any codec must do, and nothing else.
            nonce = os.urandom(12)
            enc = Payload(
                metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"k"},
                data=nonce + aead.encrypt(nonce, payload.SerializeToString(), None),
            )
            back = Payload()
            back.ParseFromString(aead.decrypt(enc.data[:12], enc.data[12:], None))

        per = max(seconds / 9, 0.3)
        # Interleave and take medians: the machine is shared and noisy.
        d, c, m = [], [], []
        for _ in range(3):
            d.append(_rate(direct, per))
            c.append(_rate(codec, per))
            m.append(_rate(sample, per))
        rd, rc, rm = statistics.median(d), statistics.median(c), statistics.median(m)
        out[label] = {
            "direct_ops_s": rd,
            "codec_ops_s": rc,
            "sample_codec_ops_s": rm,
            "direct_MiB_s": rd * size / 2**20,
            "codec_MiB_s": rc * size / 2**20,
            "ratio": rc / rd,
            "ratio_vs_sample_codec": rc / rm,
        }
        print(
            f"  {label:>6}: AES-GCM on bytes {rd:8.0f}/s | minimal payload codec {rm:8.0f}/s | "
            f"paved {rc:8.0f}/s -> {rc / rd:.2f}x of raw AES-GCM (target >= 0.8x), "
            f"{rc / rm:.2f}x of the minimal codec"
        )
    return out


async def _run_workflows(client: Client, queue: str, n: int) -> float:
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BenchOneActivity],
        activities=[bench_step],
        max_concurrent_workflow_tasks=100,
        max_concurrent_activities=100,
        # This script is __main__; the sandbox cannot re-import it. Same runner for on and off.
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        # Warm up (sandbox import, connections) outside the timed part.
        await client.execute_workflow(
            BenchOneActivity.run, "warm", id=f"w-{uuid.uuid4().hex}", task_queue=queue
        )
        t0 = time.perf_counter()
        handles = await asyncio.gather(
            *(
                client.start_workflow(
                    BenchOneActivity.run, f"input-{i}", id=f"b-{uuid.uuid4().hex}", task_queue=queue
                )
                for i in range(n)
            )
        )
        await asyncio.gather(*(h.result() for h in handles))
        return n / (time.perf_counter() - t0)


async def bench_workflows(n: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        server = DevServer(db_file=Path(d) / "temporal.db")
        server.start()
        try:
            base = await Client.connect(server.address)
            await ensure_namespaces(base, ["bench-codec"])
            ring = KeyRing(MemoryKeyProvider())
            off = await Client.connect(
                server.address, namespace="bench-codec", data_converter=paved.data_converter()
            )
            on = await Client.connect(
                server.address,
                namespace="bench-codec",
                data_converter=paved.data_converter(codec=EncryptionCodec(ring, "bench")),
            )
            rates: dict[str, list[float]] = {"off": [], "on": []}
            for r in range(rounds):
                for label, c in (
                    (("off", off), ("on", on)) if r % 2 == 0 else (("on", on), ("off", off))
                ):
                    rate = await _run_workflows(c, f"q-{label}-{r}", n)
                    rates[label].append(rate)
                    print(f"  round {r + 1}: codec {label:>3}: {rate:6.1f} workflows/s")
        finally:
            server.stop()
    on_r, off_r = statistics.median(rates["on"]), statistics.median(rates["off"])
    print(
        f"  median: on {on_r:.1f} wf/s, off {off_r:.1f} wf/s -> ratio {on_r / off_r:.2f}x (target >= 0.9x)"
    )
    return {"on_wf_s": on_r, "off_wf_s": off_r, "ratio": on_r / off_r, "workflows_per_round": n}


async def bench_offload(mib: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        codec = EncryptionCodec(KeyRing(MemoryKeyProvider()), "bench", blobs=DirBlobStore(d))
        payload = Payload(metadata={"encoding": b"binary/plain"}, data=os.urandom(mib * 2**20))
        size = payload.ByteSize()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        t0 = time.perf_counter()
        (ref,) = await codec.encode([payload])
        t1 = time.perf_counter()
        (back,) = await codec.decode([ref])
        t2 = time.perf_counter()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert back == payload
        res = {
            "payload_MiB": size / 2**20,
            "reference_bytes": ref.ByteSize(),
            "encode_s": t1 - t0,
            "decode_s": t2 - t1,
            "peak_traced_MiB": peak / 2**20,
            "peak_over_payload": peak / size,
            "maxrss_growth_MiB": (rss1 - rss0) / 1024,
        }
    print(
        f"  {res['payload_MiB']:.0f} MiB -> {res['reference_bytes']} byte reference; "
        f"encode+store {res['encode_s']:.2f}s, load+decode {res['decode_s']:.2f}s; "
        f"peak extra memory {res['peak_traced_MiB']:.0f} MiB ({res['peak_over_payload']:.1f}x payload), "
        f"max RSS grew {res['maxrss_growth_MiB']:.0f} MiB"
    )
    return res


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=6.0, help="time per payload size")
    ap.add_argument("--workflows", type=int, default=300, help="workflows per round")
    ap.add_argument("--rounds", type=int, default=2, help="on/off rounds (alternating order)")
    ap.add_argument("--offload-mib", type=int, default=50)
    args = ap.parse_args()

    print("codec throughput (encrypt+decrypt round trips, one core):")
    thr = bench_throughput(args.seconds)
    print(f"one-activity workflows, codec on vs off ({args.workflows} per round):")
    wf = await bench_workflows(args.workflows, args.rounds)
    print(f"{args.offload_mib} MiB payload through offload (local directory store):")
    off = await bench_offload(args.offload_mib)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "codec.json").write_text(
        json.dumps({"throughput": thr, "workflows": wf, "offload": off}, indent=2) + "\n"
    )
    print(f"wrote {out / 'codec.json'}")


if __name__ == "__main__":
    asyncio.run(main())
