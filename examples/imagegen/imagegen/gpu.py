"""A fake GPU inference service: real HTTP on loopback, limited capacity, random faults.

``python -m imagegen.gpu --port 8701 --capacity 8 --failure-rate 0.05`` serves
``POST /render`` (JSON ``{request_id, prompt, size, seed}``) and answers with a
small deterministic PNG after a random delay. It behaves like an inference
fleet under a viral launch:

- at most ``capacity`` renders run at once; beyond that it answers **429** at
  once, with ``Retry-After`` (no queueing: a GPU node has no room for more);
- a fraction ``failure_rate`` of admitted requests fail with **500** or **503**
  (a crashed kernel, a node being drained);
- ``GET /stats`` reports counters, including the highest concurrency reached,
  so tests can check that nobody pushed it past its capacity;
- ``GET /timeline?since=N`` gives every admitted render from the N-th on as
  ``[start, end, status]`` (wall-clock seconds): the benchmark derives the GPU's
  in-flight curve and busy fraction from it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import struct
import time
import zlib
from dataclasses import asdict, dataclass, field

from aiohttp import web


def render_png(seed: int, size: int) -> bytes:
    """A ``size`` x ``size`` RGB PNG whose pixels depend only on ``seed``."""
    a, b, c = 1 + seed % 7, 1 + (seed // 7) % 5, seed % 256
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")  # filter type 0 for each scanline
        for x in range(size):
            row += bytes(((x * a + c) & 255, (y * b + c) & 255, ((x ^ y) + c) & 255))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 6)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@dataclass
class Stats:
    capacity: int
    in_flight: int = 0
    max_in_flight: int = 0
    served: int = 0
    rejected: int = 0
    failed: int = 0


@dataclass
class Timeline:
    """Every admitted render, in admission order: ``[start, end, status]`` (``time.time()``)."""

    renders: list[list[float]] = field(default_factory=list)


@dataclass(frozen=True)
class GpuConfig:
    capacity: int = 8
    failure_rate: float = 0.05
    min_delay_ms: float = 50.0
    max_delay_ms: float = 200.0
    seed: int | None = None


STATS = web.AppKey("stats", Stats)


def make_app(config: GpuConfig) -> web.Application:
    """The aiohttp application (tests and the benchmark run it in-process or as a process)."""
    stats = Stats(capacity=config.capacity)
    timeline = Timeline()
    rng = random.Random(config.seed)

    async def render(request: web.Request) -> web.Response:
        # Admission without queueing: the check and the increment happen with
        # no await in between, so concurrency can never exceed capacity.
        if stats.in_flight >= config.capacity:
            stats.rejected += 1
            return web.json_response(
                {"error": "gpu capacity exhausted"}, status=429, headers={"Retry-After": "1"}
            )
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        entry = [time.time(), 0.0, 0.0]
        timeline.renders.append(entry)
        try:
            body = await request.json()
            seed, size = int(body.get("seed", 0)), int(body.get("size", 64))
            if not 8 <= size <= 256:
                return web.json_response({"error": "size must be 8..256"}, status=400)
            t0 = time.perf_counter()
            await asyncio.sleep(rng.uniform(config.min_delay_ms, config.max_delay_ms) / 1000)
            if rng.random() < config.failure_rate:
                stats.failed += 1
                status = rng.choice((500, 503))
                entry[2] = status
                return web.json_response({"error": "injected gpu fault"}, status=status)
            png = render_png(seed, size)
            stats.served += 1
            entry[2] = 200
            return web.Response(
                body=png,
                content_type="image/png",
                headers={"X-Gpu-Ms": f"{(time.perf_counter() - t0) * 1000:.1f}"},
            )
        finally:
            stats.in_flight -= 1
            entry[1] = time.time()

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(asdict(stats))

    async def get_timeline(request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        done = [r for r in timeline.renders[since:] if r[1]]
        return web.json_response(
            {"capacity": config.capacity, "next": len(timeline.renders), "renders": done}
        )

    app = web.Application()
    app[STATS] = stats
    app.router.add_post("/render", render)
    app.router.add_get("/stats", get_stats)
    app.router.add_get("/timeline", get_timeline)
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m imagegen.gpu", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8701)
    p.add_argument("--capacity", type=int, default=8)
    p.add_argument("--failure-rate", type=float, default=0.05)
    p.add_argument("--min-delay-ms", type=float, default=50.0)
    p.add_argument("--max-delay-ms", type=float, default=200.0)
    p.add_argument("--seed", type=int, default=None, help="seed for delays and faults")
    a = p.parse_args(argv)
    cfg = GpuConfig(a.capacity, a.failure_rate, a.min_delay_ms, a.max_delay_ms, a.seed)
    web.run_app(make_app(cfg), host=a.host, port=a.port, print=None, backlog=2048)


if __name__ == "__main__":
    main()
