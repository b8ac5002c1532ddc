"""Small socket and HTTP helpers shared by every layer: free ports, readiness and health checks."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path

from paved._errors import RuntimeSetupError

_PICK = random.SystemRandom()  # not the `random` state a forked worker shares with its zygote
_BELOW_EPHEMERAL = 12_000  # how many ports under the ephemeral range free_port picks from


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for ``bind(0)`` and outgoing connections' local ports."""
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 49152, 65535  # macOS and the IANA range


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, for a process started next to listen on.

    Picked below the kernel's ephemeral range. A ``bind(0)`` port is in that range,
    and until the child binds it any outgoing connection on the machine can get it
    as its local port; the child then exits with "address already in use" (a
    ``paved dev`` start-up that fails now and then on a busy machine). Ports below
    the range are only ever taken by explicit binds.
    """
    lo, _ = ephemeral_ports()
    first = max(1024, lo - _BELOW_EPHEMERAL)
    for _ in range(100):
        port = _PICK.randrange(first, lo)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # a crowded range
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
