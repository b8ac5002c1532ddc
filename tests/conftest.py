"""Shared fixtures: a real Temporal dev server for the whole session.

The server is ``paved.testing``'s (the pytest plugin Paved ships to product
teams): ``paved_server`` starts it once, on free ports; ``dev_server`` is its
``DevServer`` under the name Paved's own tests use. Every test that needs
Temporal talks to this server (never a mock). Tests that kill the server start
their own with ``DevServer`` directly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from paved.dev import DevServer, ensure_namespaces, free_port
from paved.testing import PavedServer, ServerOptions

os.environ.setdefault("PAVED_LOG_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def paved_server_options() -> ServerOptions:
    """Paved's own tests search on ``PavedMarker`` (the plugin's fixture reads this)."""
    return ServerOptions(search_attributes={"PavedMarker": "Keyword"})


@pytest.fixture(scope="session")
def dev_server(paved_server: PavedServer) -> DevServer:
    """One real ``temporal server start-dev`` (SQLite, WAL) for the session."""
    return paved_server.server


@pytest.fixture(scope="session")
async def client(dev_server: DevServer) -> AsyncIterator[Client]:
    """A plain temporalio client on the ``default`` namespace."""
    yield await Client.connect(dev_server.address)


@pytest.fixture
async def namespace(client: Client) -> str:
    """A fresh physical namespace for one test."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    await ensure_namespaces(client, [name])
    return name


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write a small Paved project (paved.yaml + code) under ``root``."""
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def make_project(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Factory: ``make_project(files) -> root``; package names must be unique per test
    (modules are process-global)."""

    def make(files: dict[str, str]) -> Path:
        return write_project(tmp_path / "proj", files)

    return make


def unique_pkg(prefix: str = "pkg") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: the one on 127.0.0.1:6379 if it answers, else a private
    ``redis-server`` on a free port if the binary is installed, else skip."""
    import shutil
    import socket
    import subprocess
    import time

    def answers(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    if answers(6379):
        yield "redis://127.0.0.1:6379/0"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(
            "no Redis on 127.0.0.1:6379 and no redis-server binary (apt-get install redis-server)"
        )
    port = free_port()
    d = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(d),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not answers(port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
