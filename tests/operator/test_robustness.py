"""`paved operator run` as a real subprocess: kill -9 mid-pass then convergence, and two
operators started at once on a Redis lease (one acts, the other stands by and takes over)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from temporalio.client import Client

from paved.dev import DevServer, free_port
from paved.operator import Operator, OperatorSettings
from paved.specs import Project

from .helpers import custom_attributes, describe, namespace_names, project_name, write_project

PAVED = [sys.executable, "-m", "paved.cli"]


def operator_run(root: Path, server: DevServer, *extra: str) -> subprocess.Popen[bytes]:
    log = open(root / f"operator-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [*PAVED, "operator", "run", "--project", str(root), "--temporal", server.address, *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PAVED_LOG_LEVEL": "INFO"},
    )


def scrape(port: int) -> dict[str, float]:
    """Sum of each metric family (labels dropped) from /metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        out[name.split("{")[0]] = out.get(name.split("{")[0], 0.0) + float(value)
    return out


async def test_kill_9_mid_pass_then_the_next_pass_converges(
    tmp_path: Path, dev_server: DevServer, client: Client
) -> None:
    proj = project_name("kill")
    n = 30
    logical = {
        f"k{i:02d}-{proj[-4:]}": {"search_attributes": {"Alpha": "Keyword", "Beta": "Int"}}
        for i in range(n)
    }
    root = write_project(tmp_path / "p", proj, logical)
    physical = {f"{name}-dev-local" for name in logical}
    proc = operator_run(root, dev_server, "--concurrency", "1")
    try:
        deadline = time.monotonic() + 60
        while True:
            made = physical & await namespace_names(client)
            if len(made) >= 3:
                break
            assert proc.poll() is None and time.monotonic() < deadline, "operator made no progress"
            await asyncio.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    made = physical & await namespace_names(client)
    assert 0 < len(made) < n, f"not killed mid-pass ({len(made)} of {n})"

    # The next operator (the file lock died with the killed one) converges.
    op = Operator(Project.load(root), OperatorSettings(temporal_address=dev_server.address))
    result = await op.apply_once(timeout=90)
    assert result.converged
    assert physical <= await namespace_names(client)
    for name in sorted(physical)[:: max(1, n // 6)]:
        _, _, data = await describe(client, name)
        assert data["paved.io/managed-by"] == f"paved-operator/{proj}"
        assert data["paved.io/search-attributes"] == "Alpha,Beta"
        assert set(await custom_attributes(client, name)) >= {"Alpha", "Beta"}
    assert (
        await Operator(
            Project.load(root), OperatorSettings(temporal_address=dev_server.address)
        ).plan()
    ).drift == []


async def test_two_operators_one_acts_the_other_takes_over(
    tmp_path: Path, dev_server: DevServer, client: Client, redis_url: str
) -> None:
    proj = project_name("lease")
    logical = {f"l{i}-{proj[-4:]}": {} for i in range(8)}
    root = write_project(tmp_path / "p", proj, logical)
    ports = [free_port(), free_port()]
    procs = [
        operator_run(
            root, dev_server, "--lease", redis_url, "--lease-ttl", "3", "--metrics-port", str(p)
        )
        for p in ports
    ]
    try:
        deadline = time.monotonic() + 60
        while True:
            m = [scrape(p) for p in ports]
            held = [x.get("paved_operator_lease_held", 0) for x in m]
            if sum(held) == 1 and {f"{k}-dev-local" for k in logical} <= await namespace_names(
                client
            ):
                await asyncio.sleep(1.0)  # let the passes settle, then compare again
                m = [scrape(p) for p in ports]
                break
            assert time.monotonic() < deadline, m
            await asyncio.sleep(0.2)
        held = [x.get("paved_operator_lease_held", 0) for x in m]
        writes = [x.get("paved_operator_writes_total", 0) for x in m]
        active = held.index(1)
        standby = 1 - active
        assert writes[active] >= len(logical) and writes[standby] == 0, (held, writes)
        assert m[standby].get("paved_operator_passes_total", 0) == 0

        # The active one dies without releasing: the standby takes over after the TTL
        # and acts on the next change (a new namespace in the specs).
        os.kill(procs[active].pid, signal.SIGKILL)
        procs[active].wait(10)
        logical[f"late-{proj[-4:]}"] = {}
        write_project(tmp_path / "p", proj, logical)
        deadline = time.monotonic() + 30
        while f"late-{proj[-4:]}-dev-local" not in await namespace_names(client):
            assert time.monotonic() < deadline, scrape(ports[standby])
            await asyncio.sleep(0.2)
        assert scrape(ports[standby]).get("paved_operator_lease_held") == 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


async def test_run_reacts_to_a_spec_change_on_disk(
    tmp_path: Path, dev_server: DevServer, client: Client
) -> None:
    """The loop is woken by the file watcher, not by its 60 s resync."""
    proj = project_name("watch")
    first, second = f"w1-{proj[-4:]}", f"w2-{proj[-4:]}"
    root = write_project(tmp_path / "p", proj, {first: {}})
    op = Operator(
        Project.load(root),
        OperatorSettings(temporal_address=dev_server.address, resync_seconds=60),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(op.run(stop))
    try:
        deadline = time.monotonic() + 30
        while f"{first}-dev-local" not in await namespace_names(client):
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # the loop is now waiting (resync 60 s)
        write_project(tmp_path / "p", proj, {first: {}, second: {}})
        t0 = time.monotonic()
        while f"{second}-dev-local" not in await namespace_names(client):
            assert time.monotonic() - t0 < 15, "the spec change did not wake the operator"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
