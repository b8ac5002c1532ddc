"""A scaffolded worker runs as-is under the managed runtime (``paved worker run``).

The generated package, paved.yaml entry and specs are exactly what the managed
worker bootstraps from: this starts ``paved worker run`` on them in its own
process against the session's real dev server, runs the stub workflow through
the split queues, and reads the health and metrics endpoints the generated
Kubernetes probes and scrape annotations point at.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import yaml
from scaffold_helpers import run_cli
from temporalio.client import Client

import paved
from paved import codec as paved_codec
from paved.dev import DevServer, ensure_namespaces, free_port


async def _wait_healthy(
    url: str, proc: subprocess.Popen[bytes], timeout: float = 90
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "paved worker run exited early"
            try:
                async with session.get(url) as r:
                    if r.status == 200:
                        body: dict[str, object] = await r.json()
                        return body
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} not healthy within {timeout}s")


async def test_scaffolded_worker_runs_under_paved_worker_run(
    tmp_path: Path, dev_server: DevServer, client: Client
) -> None:
    worker, namespace = f"sc-{uuid.uuid4().hex[:6]}", f"scns-{uuid.uuid4().hex[:6]}"
    r = run_cli(
        "new",
        "worker",
        "--name",
        worker,
        "--owner",
        "team-a",
        "--namespace",
        namespace,
        "--project",
        str(tmp_path),
        "--yes",
    )
    assert r.exit_code == 0, r.output
    env = paved.RuntimeEnv(address=dev_server.address)
    await ensure_namespaces(client, [env.namespace_for(namespace)])

    dep = yaml.safe_load((tmp_path / f"deploy/{worker}/k8s/deployment.yaml").read_text())
    container = dep["spec"]["template"]["spec"]["containers"][0]
    probe_path = container["livenessProbe"]["httpGet"]["path"]
    scrape_path = dep["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"]

    port = free_port()
    # The manifest's own command line, with a free port for this test.
    args = [
        a if a != str(container["ports"][0]["containerPort"]) else str(port)
        for a in container["args"]
    ]
    assert args[:4] == ["paved", "worker", "run", worker]
    proc_env = {
        **os.environ,
        "PAVED_ADDRESS": dev_server.address,
        "PAVED_REGION": env.region,
        "PAVED_ENV": env.environment,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from paved.cli import main; main()",
            *args[1:],
            "--project",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=proc_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        health = await _wait_healthy(f"http://127.0.0.1:{port}{probe_path}", proc)
        assert health["ok"] is True
        assert set(health["queues"]) == {f"{worker}-workflows", f"{worker}-activities"}  # type: ignore[arg-type]

        # The managed worker encrypts payloads with the project's keys (.paved/);
        # a caller of the same project does too.
        codec = paved_codec.codec_for(namespace, state_dir=tmp_path / ".paved")
        c = await paved.connect(namespace, env=env, codec=codec)
        result = await c.execute_workflow(
            f"{''.join(p.capitalize() for p in worker.split('-'))}Workflow",
            {"text": "from the managed worker"},
            id=f"scaffold-{uuid.uuid4().hex[:8]}",
            task_queue=f"{worker}-workflows",
            result_type=dict,
        )
        assert result == {"echo": "from the managed worker", "characters": 23}

        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}{scrape_path}") as m,
        ):
            assert m.status == 200
            assert (
                "paved_worker_slot_utilization" in await m.text()
            )  # what the generated HPA scales on
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
