"""A process whose tasks pass a shared capacity gate, then call a dependency.

``python -m tests.worker.gate_holder --store files|redis --where DIR|URL --fleet F
--capacity N --tasks T (--gpu URL | --hold SECONDS) [--lease S]``: runs ``T``
concurrent tasks through one ``SharedCapacityGate`` (the interceptor the managed
worker installs) whose body either renders on the example's fake GPU service
(which records its highest concurrency) or holds its permit ``--hold`` seconds.
Prints ``running <n>`` whenever the count of bodies running changes, and
``done <k>`` at the end (tests/worker/test_capacity_shared.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
from temporalio.worker import ActivityInboundInterceptor

from paved.worker import FileSlots, RedisSlots, SharedCapacityGate


class _Body(ActivityInboundInterceptor):
    def __init__(self, gpu: str | None, hold: float, session: aiohttp.ClientSession) -> None:
        self.gpu, self.hold, self.session = gpu, hold, session
        self.running = 0

    async def execute_activity(self, input: Any) -> Any:
        self.running += 1
        print(f"running {self.running}", flush=True)
        try:
            if self.gpu is None:
                await asyncio.sleep(self.hold)
                return 200
            async with self.session.post(
                f"{self.gpu}/render", json={"request_id": "x", "prompt": "p", "size": 8, "seed": 1}
            ) as r:
                await r.read()
                return r.status
        finally:
            self.running -= 1
            print(f"running {self.running}", flush=True)


async def main(a: argparse.Namespace) -> int:
    store: Any
    if a.store == "files":
        store = FileSlots(Path(a.where), a.capacity)
    else:
        store = RedisSlots(a.where, a.fleet, a.capacity, lease_seconds=a.lease)
    gate = SharedCapacityGate(store)
    async with aiohttp.ClientSession() as session:
        body = _Body(a.gpu, a.hold, session)
        chain = gate.intercept_activity(body)
        statuses = await asyncio.gather(*(chain.execute_activity(None) for _ in range(a.tasks)))  # type: ignore[arg-type]
    print(f"done {sum(1 for s in statuses if s == 200)}", flush=True)
    await gate.close()
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", choices=["files", "redis"], required=True)
    ap.add_argument("--where", required=True)
    ap.add_argument("--fleet", default="test")
    ap.add_argument("--capacity", type=int, required=True)
    ap.add_argument("--tasks", type=int, required=True)
    ap.add_argument("--gpu", default=None)
    ap.add_argument("--hold", type=float, default=0.0)
    ap.add_argument("--lease", type=float, default=10.0)
    code = asyncio.run(main(ap.parse_args()))
    sys.stdout.flush()
    os._exit(code)
