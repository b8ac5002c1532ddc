"""``paved dev`` as a user runs it: a subprocess on a small generated project.

One platform per module (Temporal, proxy, codec server, one managed worker):
a workflow runs through the proxy with the dev key and its marker never reaches
the SQLite file; the UI answers; the codec server decodes for the local
developer from the UI's origin only; a worker killed with ``kill -9`` is
restarted; Ctrl-C exits 0 and leaves none of the processes it started. Then
the start-up errors: a port in use, a project policy without ``PAVED_API_KEY``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from dev_project import PAVED, generate, small_project
from temporalio.client import Client
from tests.conftest import unique_pkg, write_project

import paved
from paved import specs
from paved.dev import free_port


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    project: specs.Project
    port: int
    ui_port: int
    out: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def status(self) -> dict[str, Any]:
        return dict(json.loads((self.project.state_dir / "dev.json").read_text()))

    def key(self) -> str:
        return (self.project.state_dir / "dev-api-key").read_text().strip()


def start_dev(root: Path, out: Path, *extra: str, env: dict[str, str] | None = None) -> Running:
    port, ui_port = free_port(), free_port()
    f = open(out, "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [
            *PAVED,
            "dev",
            "--project",
            str(root),
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            *extra,
        ],
        stdout=f,
        stderr=subprocess.STDOUT,
        env=env or dict(os.environ),
    )
    f.close()
    return Running(proc, specs.Project.load(root), port, ui_port, out)


def wait_for_line(r: Running, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in r.output():
        assert r.proc.poll() is None, f"paved dev exited ({r.proc.returncode}):\n{r.output()}"
        assert time.monotonic() < deadline, f"no {text!r} in time:\n{r.output()}"
        time.sleep(0.2)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    base = tmp_path_factory.mktemp("devcmd")
    project = generate(write_project(base / "proj", small_project(unique_pkg("devt"))))
    r = start_dev(project.root, base / "dev.out")
    try:
        wait_for_line(r, "Ctrl-C stops everything")
        yield r
    finally:
        if r.proc.poll() is None:
            r.proc.send_signal(signal.SIGINT)
            r.proc.wait(60)


def raw_database(state: Path) -> bytes:
    db = state / "temporal.db"
    out = db.read_bytes()
    wal = db.with_name(db.name + "-wal")
    return out + (wal.read_bytes() if wal.exists() else b"")


async def test_workflow_through_the_proxy_is_encrypted_at_rest(running: Running) -> None:
    out = running.output()
    assert f"workers/clients connect to   {running.address}" in out
    assert running.key() not in out  # the key's location is printed, never the key
    assert stat.S_IMODE((running.project.state_dir / "dev-api-key").stat().st_mode) == 0o600
    assert ".paved/" in (running.project.root / ".gitignore").read_text()

    env = paved.RuntimeEnv(address=running.address, via_proxy=True, api_key=running.key())
    c = await paved.connect("devt", env=env, codec=None)
    marker = f"mk{uuid.uuid4().hex}"
    result = await c.execute_workflow(
        "ShoutFlow",
        marker,
        id=f"w-{uuid.uuid4().hex[:8]}",
        task_queue="devt-worker-workflows",
        result_type=str,
    )
    assert result == marker.upper() + "!"
    data = raw_database(running.project.state_dir)
    assert marker.encode() not in data and marker.upper().encode() not in data

    # Without the key the proxy refuses (nothing reaches Temporal unauthenticated).
    wrong = paved.RuntimeEnv(address=running.address, via_proxy=True, api_key="pvd_wrong")
    with pytest.raises(RuntimeError, match=r"(?i)unauthenticated"):
        await paved.connect("devt", env=wrong, codec=None)


def test_connect_finds_the_running_dev_key_by_itself(running: Running) -> None:
    """A script in the project under `paved dev`: no PAVED_* variables, and it runs."""
    script = (
        "import asyncio, paved\n"
        "async def main():\n"
        "    c = await paved.connect('devt')\n"
        "    print(await c.execute_workflow('ShoutFlow', 'local', id='loc-' + str(id(c)),\n"
        "          task_queue='devt-worker-workflows', result_type=str), flush=True)\n"
        "asyncio.run(main())\n"
        "import os; os._exit(0)  # temporalio/sdk-python#300: finalisation can abort\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAVED_")}
    r = subprocess.run(
        [PAVED[0], "-c", script], cwd=running.project.root, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "LOCAL!"
    assert f"running `paved dev` at {running.address} as dev-local" in r.stderr
    # An explicit key wins (a wrong one is refused, not replaced by the dev key).
    env["PAVED_API_KEY"] = "pvd_wrong"
    env["PAVED_ADDRESS"] = running.address
    env["PAVED_VIA_PROXY"] = "1"
    bad = subprocess.run(
        [PAVED[0], "-c", script], cwd=running.project.root, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode != 0 and "nauthenticated" in bad.stderr


def test_paved_temporal_uses_the_running_dev_key(running: Running) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAVED_")}
    r = subprocess.run(
        [*PAVED, "temporal", "workflow", "list", "-n", "devt"], cwd=running.project.root,
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"running `paved dev` at {running.address} as dev-local" in r.stderr
    assert "ShoutFlow" in r.stdout


def test_console_links_each_namespace_workflows_page(running: Running) -> None:
    out = running.output()
    url = f"http://127.0.0.1:{running.ui_port}/namespaces/devt-dev-local/workflows"
    assert f"ui devt                      {url}" in out
    assert "paved temporal workflow list -n devt" in out
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200


async def test_ui_answers_and_codec_server_decodes_for_the_developer(running: Running) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{running.ui_port}/", timeout=10) as resp:
        assert resp.status == 200
    c = await Client.connect(
        running.status()["urls"]["temporal"].split()[0], namespace="devt-dev-local"
    )
    wid = f"h-{uuid.uuid4().hex[:8]}"
    h = await paved.connect(
        "devt",
        codec=None,
        env=paved.RuntimeEnv(address=running.address, via_proxy=True, api_key=running.key()),
    )
    await h.execute_workflow(
        "ShoutFlow", "hello codec", id=wid, task_queue="devt-worker-workflows", result_type=str
    )
    # What the UI sees: the encrypted input as Temporal stores it.
    history = await c.get_workflow_handle(wid).fetch_history()
    stored = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert b"hello codec" not in stored.data
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    body = json_format.MessageToJson(Payloads(payloads=[stored]))
    endpoint = next(ln for ln in running.output().splitlines() if "codec server http" in ln)
    url = endpoint.split("codec server ")[1].split()[0]
    headers = {"X-Namespace": "devt-dev-local", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as s:
        ui = {**headers, "Origin": f"http://127.0.0.1:{running.ui_port}"}
        async with s.post(f"{url}/decode", data=body, headers=ui) as resp:
            assert resp.status == 200
            decoded = json_format.Parse(await resp.text(), Payloads()).payloads[0]
            assert json.loads(decoded.data) == "hello codec"
        other = {**headers, "Origin": "http://evil.example"}
        async with s.post(f"{url}/decode", data=body, headers=other) as resp:
            assert resp.status == 401
            assert "hello codec" not in await resp.text()
        async with s.post(f"{url}/decode", data=body, headers=headers) as resp:
            assert resp.status == 401  # no origin, no token
        bearer = {**headers, "Authorization": f"Bearer {running.key()}"}
        async with s.post(f"{url}/decode", data=body, headers=bearer) as resp:
            assert resp.status == 200


async def test_killed_worker_is_restarted(running: Running) -> None:
    before = running.status()["pids"]["worker devt-worker"]
    os.kill(before, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        after = running.status()["pids"].get("worker devt-worker")
        if after and after != before and alive(after):
            break
        assert time.monotonic() < deadline, running.output()
        await asyncio.sleep(0.2)
    wait_for_line(running, f"restarted worker devt-worker (pid {after})")
    env = paved.RuntimeEnv(address=running.address, via_proxy=True, api_key=running.key())
    c = await paved.connect("devt", env=env, codec=None)
    assert (
        await c.execute_workflow(
            "ShoutFlow",
            "again",
            id=f"r-{uuid.uuid4().hex[:8]}",
            task_queue="devt-worker-workflows",
            result_type=str,
        )
        == "AGAIN!"
    )


def test_status_shows_specs_and_live_processes(running: Running) -> None:
    out = subprocess.run(
        [*PAVED, "status", "--project", str(running.project.root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "worker devt-worker: namespace devt" in text
    assert "devt-worker-workflows (" in text
    assert "paved dev: running" in text
    worker_pid = running.status()["pids"]["worker devt-worker"]
    assert f"worker devt-worker: pid {worker_pid} alive, healthy" in text
    assert "temporal: pid" in text and "DEAD" not in text


def test_status_shows_the_restarted_replica(running: Running) -> None:
    """After test_killed_worker_is_restarted: the replica set's view reaches `paved status`."""
    deadline = time.monotonic() + 30
    while True:
        (w,) = [r for r in running.status()["replicas"] if r["name"] == "worker devt-worker"]
        if w["state"] == "running" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert w["restarts"] == 1 and w["last_exit"] == -signal.SIGKILL and w["state"] == "running"
    out = subprocess.run(
        [*PAVED, "status", "--project", str(running.project.root)],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert f"worker devt-worker: running, 1 restarts, last exit {-signal.SIGKILL}" in out


def test_ctrl_c_stops_everything(running: Running) -> None:
    by_name = running.status()["pids"]
    pids = list(by_name.values())
    # temporal, proxy, codec server, worker; and observability (stuck detector, page,
    # Prometheus and Alertmanager when installed): all must stop.
    assert {
        "temporal",
        "proxy",
        "codec-server",
        "worker devt-worker",
        "stuck-detector",
        "page",
    } <= set(by_name)
    assert all(alive(p) for p in pids)
    running.proc.send_signal(signal.SIGINT)
    assert running.proc.wait(60) == 0, running.output()
    assert "stopped; nothing left running" in running.output()
    left = [p for p in pids if alive(p)]
    assert not left, f"still running: {left}"
    assert not (running.project.state_dir / "dev.json").exists()
    with socket.socket() as s:  # the public port is free again
        s.bind(("127.0.0.1", running.port))
    after = subprocess.run(
        [*PAVED, "status", "--project", str(running.project.root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "paved dev: not running" in after.stdout


def test_port_in_use_is_a_clear_error_and_starts_nothing(tmp_path: Path) -> None:
    project = generate(write_project(tmp_path / "proj", small_project(unique_pkg("devp"))))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(
            [
                *PAVED,
                "dev",
                "--project",
                str(project.root),
                "--port",
                str(port),
                "--ui-port",
                str(free_port()),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "PAVED-SETUP-PORT" in r.stderr and str(port) in r.stderr
    assert "Traceback" not in r.stderr
    root = str(project.root)
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if root in " ".join(p.info["cmdline"] or [])
    ]
    assert not leftovers


def test_project_policy_needs_the_developer_key(tmp_path: Path) -> None:
    project = generate(write_project(tmp_path / "proj", small_project(unique_pkg("devk"))))
    (project.root / "policy.yaml").write_text("version: 1\n")
    env = {k: v for k, v in os.environ.items() if k != "PAVED_API_KEY"}
    r = subprocess.run(
        [*PAVED, "dev", "--project", str(project.root), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 2
    assert "PAVED-AUTH-MISSING" in r.stderr and "PAVED_API_KEY" in r.stderr
