"""Managed workers carry a build id (PAVED_BUILD_ID or the git sha) in their identity,
their /metrics and every call-site header, so a replay report names the recording build."""

from __future__ import annotations

import subprocess
from pathlib import Path

import aiohttp
import pytest
from temporalio.client import Client

from paved import sdk, specs, worker

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "imagegen"


async def test_build_id_in_identity_metrics_and_interceptor(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAVED_BUILD_ID", "ci-1234")
    boot = worker.bootstrap(specs.Project.load(EXAMPLE), "imagegen-worker")
    assert boot.build_id == "ci-1234"
    workers = worker.build_workers(client, boot, identity=f"imagegen-worker-7@{boot.build_id}")
    for w in workers:
        cfg = w.config()
        assert "@ci-1234@" in str(cfg["identity"])
        interceptors = [i for i in cfg["interceptors"] if isinstance(i, sdk.CallSiteInterceptor)]
        assert interceptors and interceptors[0].build_id == "ci-1234"
    from paved.worker import serve_http

    runner, port = await serve_http(boot, workers, 0, None)
    try:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
            text = await r.text()
    finally:
        await runner.cleanup()
    assert 'paved_worker_build_info{worker="imagegen-worker",build_id="ci-1234"} 1' in text


def test_build_id_defaults_to_the_git_sha(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAVED_BUILD_ID", raising=False)
    sha = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=EXAMPLE, capture_output=True, text=True
    ).stdout.strip()
    assert worker.build_id(specs.Project.load(EXAMPLE)) == (sha or "dev")
