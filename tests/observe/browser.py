"""Headless Chromium for page tests: the rendered DOM and a screenshot of a URL.

Tries ``--dump-dom``/``--screenshot`` first (fine for Paved's page: no script keeps
it busy); if Chromium hangs, drives it through the DevTools protocol instead
(``Page.navigate``, ``Page.loadEventFired``, ``Page.captureScreenshot``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

from paved.dev import free_port

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-dev-shm-usage"]  # fmt: skip


def chromium() -> str | None:
    return (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )


def dump_dom(url: str, timeout: float = 60) -> str:
    binary = chromium()
    assert binary
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    return r.stdout


def screenshot(
    url: str, out: Path, width: int = 1400, height: int = 1600, timeout: float = 60
) -> None:
    binary = chromium()
    assert binary
    with tempfile.TemporaryDirectory() as profile:
        try:
            subprocess.run(
                [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                 f"--screenshot={out}", url],
                capture_output=True, timeout=timeout, check=False,
            )  # fmt: skip
            if out.exists() and out.stat().st_size > 0:
                return
        except subprocess.TimeoutExpired:
            pass
    asyncio.run(_devtools_screenshot(binary, url, out, width, height, timeout))


async def _devtools_screenshot(
    binary: str, url: str, out: Path, width: int, height: int, timeout: float, settle: float = 3.0
) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/json/list", timeout=2
                    ) as r:
                        pages = [t for t in json.loads(r.read()) if t["type"] == "page"]
                    if pages:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "Chromium DevTools did not come up"
                await asyncio.sleep(0.2)
            async with (
                aiohttp.ClientSession() as s,
                s.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws,
            ):
                ids = iter(range(1, 1000))

                async def call(method: str, **params: object) -> dict[str, object]:
                    i = next(ids)
                    await ws.send_json({"id": i, "method": method, "params": params})
                    while True:
                        msg = json.loads((await ws.receive()).data)
                        if msg.get("id") == i:
                            return dict(msg.get("result", {}))

                await call("Page.enable")
                await call(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                await call("Page.navigate", url=url)
                await asyncio.sleep(settle)  # Paved's page has no script; an SPA needs longer
                shot = await call("Page.captureScreenshot", format="png")
                out.write_bytes(base64.b64decode(str(shot["data"])))
        finally:
            proc.terminate()
            proc.wait(10)
