"""An ebb-and-flow project under a real ``paved dev`` (for the e2e test and bench/bench_autoscale.py).

Two managed workers in one logical namespace ``ebb``:

- ``ebb-sleep``: ``EbbFlow(seconds)`` runs one activity that sleeps ``seconds``
  and then appends ``<workflow id> <attempt> <pid>`` to ``executions.log`` in the
  project (an activity killed mid-sleep leaves no line; its retry would show
  attempt 2), so "every workflow ran its activity exactly once" is checkable;
- ``ebb-gpu``: ``GpuFlow(seconds)`` calls a "GPU" that holds the slot ``seconds``
  and answers 429 (``ApplicationError(type="GpuBusy")``) every time.

``paved dev`` runs as a child process, as a developer would run it; the
replica counts are read from its ``.paved/dev.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paved
from paved.dev import free_port

PAVED = [sys.executable, "-m", "paved.cli"]
NAMESPACE = "ebb"
SLEEP_WORKER = "ebb-sleep"
GPU_WORKER = "ebb-gpu"
CAP_WORKER = "ebb-cap"


def project_files(
    pkg: str,
    *,
    autoscale: bool = True,
    replicas: int = 1,
    max_replicas: int = 4,
    slots: int = 4,
    quiet: float = 8.0,
    interval: float = 1.0,
    target: float = 0.8,
    gpu: bool = True,
    capacity: int | None = None,
) -> dict[str, str]:
    """``paved.yaml`` and code; ``autoscale=False`` runs ``replicas`` fixed replicas instead.

    With ``capacity``, a third worker ``ebb-cap`` declares that capacity and is
    autoscaled with at least 2 replicas: ``CapFlow(seconds)`` runs one activity that
    sleeps ``seconds`` and appends ``<start> <end> <pid>`` to ``capacity.log``."""
    policy = (
        f"{{kind: keda, min_replicas: 1, max_replicas: {max_replicas}, "
        f"target_slot_utilization: {target}, scale_down_after_seconds: {quiet}, "
        f"interval_seconds: {interval}}}"
    )
    worker = f"""    replicas: {replicas}
    tuning: {{max_concurrent_activities: {slots}, graceful_shutdown_seconds: 30}}
"""
    if autoscale:
        worker += f"    autoscaler: {policy}\n"
    gpu_worker = f"""  {GPU_WORKER}:
    tuning: {{max_concurrent_activities: {slots}, graceful_shutdown_seconds: 5}}
    autoscaler: {policy}
"""
    cap_worker = f"""  {CAP_WORKER}:
    capacity: {capacity}
    autoscaler: {{kind: keda, min_replicas: 2, max_replicas: 3, interval_seconds: {interval}}}
"""
    yaml = f"""project: ebb
packages: [{pkg}]
namespaces:
  ebb:
    owner: team-ebb
workers:
  {SLEEP_WORKER}:
{worker}{gpu_worker if gpu else ""}{cap_worker if capacity else ""}"""
    code = f'''"""Sleep-based activities for the autoscaling tests."""
import asyncio
import os
from datetime import timedelta
from pathlib import Path

import paved
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError



@paved.activity(namespace="ebb", worker="{SLEEP_WORKER}")
async def ebb_nap(seconds: float) -> int:
    info = activity.info()
    await asyncio.sleep(seconds)
    log = Path(__file__).resolve().parents[1] / "executions.log"
    with open(log, "a") as f:
        f.write(f"{{info.workflow_id}} {{info.attempt}} {{os.getpid()}}\\n")
    return info.attempt


@paved.workflow(namespace="ebb", worker="{SLEEP_WORKER}")
class EbbFlow:
    @workflow.run
    async def run(self, seconds: float) -> int:
        # A short start-to-close: a task lost on its way to a worker costs seconds, not
        # the tier's 10 minutes (and shows as attempt 2).
        return await paved.execute_activity(
            ebb_nap, seconds, start_to_close_timeout=timedelta(seconds=max(20.0, 3 * seconds))
        )


'''
    if gpu:
        code += f'''

@paved.activity(namespace="ebb", worker="{GPU_WORKER}")
async def gpu_render(seconds: float) -> None:
    await asyncio.sleep(seconds)
    raise ApplicationError(
        "gpu service busy (HTTP 429)", type="GpuBusy", next_retry_delay=timedelta(seconds=1)
    )


@paved.workflow(namespace="ebb", worker="{GPU_WORKER}")
class GpuFlow:
    @workflow.run
    async def run(self, seconds: float) -> None:
        await paved.execute_activity(gpu_render, seconds)
'''
    if capacity:
        code += f'''

@paved.activity(namespace="ebb", worker="{CAP_WORKER}")
async def cap_call(seconds: float) -> None:
    import time
    start = time.time()
    await asyncio.sleep(seconds)
    log = Path(__file__).resolve().parents[1] / "capacity.log"
    with open(log, "a") as f:
        f.write(f"{{start}} {{time.time()}} {{os.getpid()}}\\n")


@paved.workflow(namespace="ebb", worker="{CAP_WORKER}")
class CapFlow:
    @workflow.run
    async def run(self, seconds: float) -> None:
        await paved.execute_activity(
            cap_call, seconds, start_to_close_timeout=timedelta(seconds=60)
        )
'''
    return {"paved.yaml": yaml, f"{pkg}/__init__.py": "", f"{pkg}/flows.py": code}


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    r = subprocess.run(
        [*PAVED, "gen", "--project", str(root)], capture_output=True, text=True, timeout=180
    )
    assert r.returncode == 0, r.stderr
    return root


@dataclass
class DevRun:
    """A ``paved dev`` child process for a project."""

    proc: subprocess.Popen[bytes]
    root: Path
    port: int
    out: Path
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def status(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.root / ".paved" / "dev.json").read_text())
        except (OSError, ValueError):
            return {}
        return data

    def replicas(self, worker: str) -> int:
        """Replica processes of ``worker`` that exist (starting, running or draining)."""
        return sum(
            1
            for r in self.status().get("replicas", [])
            if (r["name"] == f"worker {worker}" or r["name"].startswith(f"worker {worker}#"))
            and r["state"] != "stopped"
            and r["pid"] is not None
        )

    def autoscale_state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.root / ".paved" / "autoscale.json").read_text())
        except (OSError, ValueError):
            return {}
        return data

    def running(self, worker: str) -> int:
        """Replicas of ``worker`` that are healthy."""
        return sum(
            1
            for r in self.status().get("replicas", [])
            if (r["name"] == f"worker {worker}" or r["name"].startswith(f"worker {worker}#"))
            and r["state"] == "running"
        )

    def capacity_calls(self) -> list[tuple[float, float, int]]:
        """``(start, end, pid)`` of every ``cap_call`` that finished."""
        log = self.root / "capacity.log"
        if not log.exists():
            return []
        out = []
        for line in log.read_text().splitlines():
            start, end, pid = line.split()
            out.append((float(start), float(end), int(pid)))
        return out

    def executions(self) -> list[tuple[str, int, int]]:
        log = self.root / "executions.log"
        if not log.exists():
            return []
        out = []
        for line in log.read_text().splitlines():
            wid, attempt, pid = line.split()
            out.append((wid, int(attempt), int(pid)))
        return out

    async def client(self) -> Any:
        key = (self.root / ".paved" / "dev-api-key").read_text().strip()
        env = paved.RuntimeEnv(address=self.address, via_proxy=True, api_key=key)
        return await paved.connect(NAMESPACE, env=env, codec=None)

    async def sample(self, worker: str, stop: asyncio.Event, every: float = 0.5) -> None:
        """Record (time, replicas) of ``worker`` until ``stop`` (replica-seconds)."""
        rows = self.samples.setdefault(worker, [])
        while not stop.is_set():
            rows.append((time.monotonic(), self.replicas(worker)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
        rows.append((time.monotonic(), self.replicas(worker)))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(root: Path, out: Path, timeout: float = 240.0) -> DevRun:
    """``paved dev`` (headless, proxy on) for ``root``; returns once everything is healthy."""
    port = free_port()
    with open(out, "wb") as f:
        proc = subprocess.Popen(
            [*PAVED, "dev", "--project", str(root), "--port", str(port), "--no-ui"],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
    run = DevRun(proc, root, port, out)
    deadline = time.monotonic() + timeout
    while "Ctrl-C stops everything" not in run.output():
        if proc.poll() is not None or time.monotonic() > deadline:
            run.stop()
            raise AssertionError(f"paved dev did not start:\n{run.output()[-4000:]}")
        time.sleep(0.3)
    return run


async def until(cond: Callable[[], bool], timeout: float, what: str, run: DevRun) -> float:
    """Wait for ``cond``; return the seconds it took (fails with paved dev's output)."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            tail = "\n".join(run.output().splitlines()[-40:])
            raise AssertionError(f"{what}: not within {timeout:.0f}s\n{tail}")
        await asyncio.sleep(0.25)
    return time.monotonic() - t0


def replica_seconds(samples: list[tuple[float, int]], start: float, end: float) -> float:
    """Integral of the sampled replica count between ``start`` and ``end``."""
    total = 0.0
    for (t0, n), (t1, _) in itertools.pairwise(samples):
        a, b = max(t0, start), min(t1, end)
        if b > a:
            total += n * (b - a)
    return total
