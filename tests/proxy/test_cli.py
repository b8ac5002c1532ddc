"""`paved proxy --config` as a subprocess, connection pooling measured on its process,
and the real `temporal` CLI through it with `paved temporal`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest
import yaml
from proxy_helpers import Env
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from paved.dev import free_port, wait_for_port

PAVED = [sys.executable, "-m", "paved.cli"]


@pytest.fixture(scope="module")
def proxy_proc(
    env: Env, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    d = tmp_path_factory.mktemp("proxycli")
    (d / "policy.yaml").write_text(yaml.safe_dump(env.policy_data))
    port = free_port()
    config = {
        "listen": f"127.0.0.1:{port}",
        "upstream": {"address": env.dev.address, "connections": 2},
        "policy": "policy.yaml",
        "routes": [
            {
                "logical": r.logical,
                "physical": r.physical,
                "region": r.region,
                "environment": r.environment,
            }
            for r in env.routes.all()
        ],
        "encryption": {"enabled": True, "keys_file": "keys.json"},
    }
    (d / "proxy.yaml").write_text(yaml.safe_dump(config))
    log = open(d / "proxy.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [*PAVED, "proxy", "--config", str(d / "proxy.yaml")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port, timeout=30, proc=proc)
        yield f"127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


async def test_two_hundred_connections_over_two_upstream(
    env: Env, proxy_proc: tuple[str, subprocess.Popen[bytes]]
) -> None:
    address, proc = proxy_proc
    upstream_port = int(env.dev.address.rsplit(":", 1)[1])
    auth = [("authorization", f"Bearer {env.keys['worker']}")]
    body = DescribeNamespaceRequest(namespace=env.alpha).SerializeToString()
    path = "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace"
    channels = [
        grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(200)
    ]
    try:
        for ch in channels:
            await ch.unary_unary(path)(body, metadata=auth, timeout=10)
        conns = psutil.Process(proc.pid).net_connections("tcp")
        downstream = [
            c
            for c in conns
            if c.laddr
            and c.laddr.port == int(address.rsplit(":", 1)[1])
            and c.status == "ESTABLISHED"
        ]
        upstream = [
            c
            for c in conns
            if c.raddr and c.raddr.port == upstream_port and c.status == "ESTABLISHED"
        ]
        assert len(downstream) >= 200
        assert 1 <= len(upstream) <= 2
    finally:
        for ch in channels:
            await ch.close()


async def test_real_temporal_cli_through_the_proxy(
    env: Env, proxy_proc: tuple[str, subprocess.Popen[bytes]]
) -> None:
    address, _ = proxy_proc
    writer = await Client.connect(
        address, namespace=env.alpha, api_key=env.keys["writer"], tls=False
    )
    wid = f"cli-{uuid.uuid4().hex[:8]}"
    await writer.start_workflow("Anything", id=wid, task_queue="nobody")

    def run(who: str, *args: str) -> subprocess.CompletedProcess[str]:
        e = dict(os.environ, PAVED_ADDRESS=address, PAVED_API_KEY=env.keys[who])
        return subprocess.run(
            [*PAVED, "temporal", *args], env=e, capture_output=True, text=True, timeout=60
        )

    r = run("reader", "workflow", "list", "-n", env.alpha, "-o", "json", "--limit", "200")
    assert r.returncode == 0, r.stderr
    assert wid in r.stdout
    r = run("reader", "workflow", "describe", "-n", env.alpha, "-w", wid, "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["workflowExecutionInfo"]["execution"]["workflowId"] == wid
    # a reader may not terminate; the CLI shows the proxy's reason
    r = run("reader", "workflow", "terminate", "-n", env.alpha, "-w", wid, "--reason", "no")
    assert (
        r.returncode != 0 and "PermissionDenied" in r.stderr.replace(" ", "")
    ) or "may not" in r.stderr
    # another team's namespace is invisible to it
    r = run("reader", "operator", "namespace", "list", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert env.alpha in r.stdout and env.beta not in r.stdout
    r = run("writer", "workflow", "terminate", "-n", env.alpha, "-w", wid, "--reason", "done")
    assert r.returncode == 0, r.stderr
    # no key: a clear error before anything runs
    e = {k: v for k, v in os.environ.items() if k != "PAVED_API_KEY"}
    r = subprocess.run(
        [*PAVED, "temporal", "workflow", "list"], env=e, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and "PAVED_API_KEY" in r.stderr


def test_policy_commands(tmp_path: Path) -> None:
    r = subprocess.run(
        [*PAVED, "policy", "new-key", "ci-key"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0
    key = r.stderr.strip().rsplit(" ", 1)[1]
    entry = yaml.safe_load(r.stdout)[0]
    h = subprocess.run(
        [*PAVED, "policy", "hash-key"], input=key + "\n", capture_output=True, text=True, timeout=60
    )
    assert h.stdout.strip() == entry["hash"]
    p = tmp_path / "policy.yaml"
    p.write_text(
        yaml.safe_dump(
            {"teams": {"a": {}}, "principals": [{"name": "x", "team": "a", "api_keys": [entry]}]}
        )
    )
    c = subprocess.run(
        [*PAVED, "policy", "check", str(p)], capture_output=True, text=True, timeout=60
    )
    assert c.returncode == 0 and "1 API keys" in c.stdout
    p.write_text("principals:\n  - name: x\n    team: nope\n")
    c = subprocess.run(
        [*PAVED, "policy", "check", str(p)], capture_output=True, text=True, timeout=60
    )
    assert c.returncode == 2 and f"{p}:3" in c.stderr and "Traceback" not in c.stderr
