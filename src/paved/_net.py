"""Small socket and HTTP helpers shared by every layer: free ports, readiness and health checks."""

from __future__ import annotations

import socket
import subprocess
import time

from paved._errors import RuntimeSetupError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when ``GET url`` answers 200: the one health check (``/healthz``, ``/metrics``)."""
    try:
        import urllib.request  # on use: `paved status` without a running dev imports none

        with urllib.request.urlopen(url, timeout=timeout) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def wait_for_port(
    port: int,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_in_use(port, host):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeSetupError(
                f"process exited with code {proc.returncode} before listening on {host}:{port}"
            )
        time.sleep(0.05)
    raise RuntimeSetupError(f"nothing listened on {host}:{port} within {timeout:.0f}s")
