"""Run the imagegen example as real processes for the end-to-end and chaos tests.

:class:`Stack` (a ``paved.testing.ProjectProcesses``) starts the fake GPU
service, the front end and the two managed workers (``paved worker run``) as
subprocesses against a given Temporal address and environment, exactly as
``paved dev`` would; tests kill and restart them by name. With ``via_proxy`` a ``paved proxy`` subprocess sits in front of
Temporal, as under ``paved dev``: every process connects to it with an API key
of a test policy and ``PAVED_CODEC=off``, so the proxy alone encrypts. Helpers submit bursts through the front end (with idempotency
keys, retrying while the platform is down) and count what completed in the
blob store and in Temporal's workflow list.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from temporalio.client import Client

from paved.auth import ROLES, new_api_key
from paved.dev import free_port, wait_for_port
from paved.testing import ProjectProcesses

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "examples" / "imagegen"
PAVED = Path(sys.executable).parent / "paved"
WORKERS = ("imagegen-worker", "imagegen-gpu")


@dataclass(kw_only=True)
class Stack(ProjectProcesses):
    """The example's processes, wired to one Temporal server and namespace.

    Process handling (environment, spawn, logs, ``kill -9``, drain) is
    ``paved.testing.ProjectProcesses``; this adds the example's own processes.
    """

    tmp: Path
    project: Path = PROJECT
    log_dir: Path = Path()  # set to ``tmp`` below
    environment: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")
    gpu_capacity: int = 8
    failure_rate: float = 0.1
    min_delay_ms: float = 50
    max_delay_ms: float = 150
    gpu_port: int = field(default_factory=free_port)
    frontend_port: int = field(default_factory=free_port)
    via_proxy: bool = False
    proxy_port: int = field(default_factory=free_port)
    api_key: str = ""

    def __post_init__(self) -> None:
        self.log_dir = self.tmp
        super().__post_init__()

    @property
    def physical_namespace(self) -> str:
        return f"imagegen-{self.environment}-local"

    @property
    def blob_dir(self) -> Path:
        return self.tmp / "images"

    @property
    def frontend_url(self) -> str:
        return f"http://127.0.0.1:{self.frontend_port}"

    @property
    def gpu_url(self) -> str:
        return f"http://127.0.0.1:{self.gpu_port}"

    @property
    def proxy_address(self) -> str:
        return f"127.0.0.1:{self.proxy_port}"

    @property
    def client_address(self) -> str:
        """Where workers and clients connect: the proxy, or Temporal itself."""
        return self.proxy_address if self.via_proxy else self.address

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            # An isolated environment the committed specs do not declare.
            PAVED_NAMESPACE=self.physical_namespace,
            IMAGEGEN_GPU_URL=self.gpu_url,
            IMAGEGEN_BLOB_DIR=str(self.blob_dir),
        )
        if self.via_proxy:
            env.update(
                PAVED_ADDRESS=self.proxy_address,
                PAVED_VIA_PROXY="1",
                PAVED_API_KEY=self.api_key,
                PAVED_CODEC="off",  # the proxy encrypts on the wire
            )
        return env

    def start_proxy(self) -> None:
        """``paved proxy`` in front of Temporal with a one-principal policy (as ``paved dev``).

        Called again after a kill, it restarts the proxy with the same config and
        key, so running workers and the front end reconnect with their credentials.
        """
        self.tmp.mkdir(parents=True, exist_ok=True)
        if (self.tmp / "proxy.yaml").exists():
            proc = self.spawn(
                "proxy", [str(PAVED), "proxy", "--config", str(self.tmp / "proxy.yaml")]
            )
            wait_for_port(self.proxy_port, timeout=30, proc=proc)
            return
        self.api_key, entry = new_api_key("stack")
        policy = {
            "version": 1,
            "teams": {"images": {"namespaces": {"imagegen": list(ROLES)}}},
            "principals": [
                {"name": "stack", "team": "images", "region": "local",
                 "environment": self.environment, "api_keys": [entry]}
            ],
        }  # fmt: skip
        (self.tmp / "policy.yaml").write_text(yaml.safe_dump(policy))
        config = {
            "listen": self.proxy_address,
            "upstream": {"address": self.address, "connections": 2},
            "policy": "policy.yaml",
            "routes": [
                {"logical": "imagegen", "physical": self.physical_namespace, "region": "local",
                 "environment": self.environment}
            ],
            "encryption": {"enabled": True, "keys_file": "proxy-keys.json"},
        }  # fmt: skip
        (self.tmp / "proxy.yaml").write_text(yaml.safe_dump(config))
        proc = self.spawn("proxy", [str(PAVED), "proxy", "--config", str(self.tmp / "proxy.yaml")])
        wait_for_port(self.proxy_port, timeout=30, proc=proc)

    def start_gpu(self) -> None:
        proc = self.spawn(
            "gpu",
            [
                *(sys.executable, "-m", "imagegen.gpu", "--port", str(self.gpu_port)),
                *("--capacity", str(self.gpu_capacity), "--failure-rate", str(self.failure_rate)),
                *(
                    "--min-delay-ms",
                    str(self.min_delay_ms),
                    "--max-delay-ms",
                    str(self.max_delay_ms),
                ),
            ],
        )
        wait_for_port(self.gpu_port, timeout=30, proc=proc)

    def start_frontend(self) -> None:
        proc = self.spawn(
            "frontend",
            [sys.executable, "-m", "imagegen.frontend", "--port", str(self.frontend_port)],
        )
        wait_for_port(self.frontend_port, timeout=30, proc=proc)

    def start_all(self) -> None:
        if self.via_proxy:
            self.start_proxy()
        self.start_gpu()
        for w in WORKERS:
            self.start_worker(w)
        self.start_frontend()

    def logs(self) -> str:
        """Tails of every log, for assertion messages."""
        return self.log_tails()

    def blob_keys(self) -> set[str]:
        if not self.blob_dir.exists():
            return set()
        return {
            p.name[: -len(".png")]
            for p in self.blob_dir.iterdir()
            if p.name.endswith(".png") and not p.name.startswith(".")
        }

    async def gpu_stats(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as s, s.get(f"{self.gpu_url}/stats") as r:
            return dict(await r.json())


async def submit(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], key: str, deadline: float
) -> str:
    """POST one request with an idempotency key, retrying until it is accepted.

    A client of the front end retries on 503 and connection errors with the
    same key; the key makes the retry attach to the same workflow.
    """
    while True:
        try:
            async with session.post(
                f"{url}/images", json=body, headers={"Idempotency-Key": key}
            ) as r:
                if r.status == 202:
                    return str((await r.json())["workflow_id"])
                if r.status not in (502, 503, 504):
                    raise AssertionError(f"front end answered {r.status}: {await r.text()}")
        except (TimeoutError, aiohttp.ClientError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"request {key} not accepted before the deadline")
        await asyncio.sleep(0.3)


def request_body(i: int) -> dict[str, Any]:
    return {
        "prompt": f"a lighthouse in the style of a watercolour, take {i}",
        "user": f"user-{i % 7}",
        "size": 32,
        "seed": i,
    }


async def count_closed(client: Client, status: str) -> int:
    q = f"WorkflowType='GenerateImage' AND ExecutionStatus='{status}'"
    return (await client.count_workflows(q)).count


async def wait_all_completed(client: Client, stack: Stack, ids: set[str], timeout: float) -> None:
    """Wait until every id has a blob and Temporal lists it as completed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the server may be restarting
            if ids <= stack.blob_keys() and await count_closed(client, "Completed") >= len(ids):
                return
        await asyncio.sleep(0.5)
    missing = ids - stack.blob_keys()
    raise AssertionError(
        f"{len(missing)} of {len(ids)} requests have no image after {timeout:.0f}s\n{stack.logs()}"
    )


async def listed_ids(client: Client) -> list[str]:
    """Every GenerateImage workflow id in the namespace (duplicates kept)."""
    return [w.id async for w in client.list_workflows("WorkflowType='GenerateImage'")]
