"""Leader election: only the operator holding the lease writes.

Chosen store: **Redis** (``RedisLease``). Paved already runs Redis for the
proxy's shared rate limits, so it adds no new service; ``SET NX PX`` gives an
atomic acquire with a time-to-live, so a holder killed with -9 loses the lease
by itself after ``ttl`` seconds, without anyone cleaning up; a small Lua script
renews or releases only if the value is still ours; and ``INCR`` on a second
key gives every new holder a strictly larger **fencing token**, which the
Temporal target writes into each namespace it touches (``paved.io/fence``) and
checks before writing, so an operator that stalled past its lease (GC pause,
suspended VM) and wakes up cannot overwrite what a newer holder wrote.

Why not a singleton Temporal workflow id: keeping it alive needs a worker or a
growing history of signals, and the lease would live in the cluster being
reconciled (one per region with several clusters). Why not a Kubernetes Lease:
there is no API server here, and ``paved dev`` runs without Kubernetes.

``FileLease`` (``flock`` on ``.paved/operator/lease``) is the fallback for one
machine (``paved dev``, a single VM): the kernel releases it when the holder
dies. Both answer ``held()`` from a local deadline without a round trip, so the
reconciler can ask before every write.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local t = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. t, 'PX', ARGV[2])
  return t
end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease(Protocol):
    holder: str
    token: int
    ttl: float

    def held(self) -> bool: ...

    async def try_acquire(self) -> bool: ...

    async def renew(self) -> bool: ...

    async def release(self) -> None: ...

    async def current_holder(self) -> str | None: ...


class RedisLease:
    """A lease in Redis with a fencing token.

    Args:
        url: ``redis://host:port/db``.
        name: what is being led (the project): one lease per project.
        ttl: seconds a holder keeps the lease without renewing (renew every ttl/3).
    """

    def __init__(
        self, url: str, name: str, *, ttl: float = 15.0, holder: str | None = None
    ) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.ttl = ttl
        self.holder = holder or holder_id()
        self.token = 0
        self.key = f"paved:operator:{name}:lease"
        self.fence_key = f"paved:operator:{name}:fence"
        self._redis: Any = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._value: str | None = None
        self._deadline = 0.0

    def held(self) -> bool:
        return self._value is not None and time.monotonic() < self._deadline

    def _extend(self, started: float) -> None:
        # Count from before the call, keep a margin: we stop writing before Redis expires us.
        self._deadline = started + self.ttl * 0.8

    async def try_acquire(self) -> bool:
        started = time.monotonic()
        token = int(
            await self._redis.eval(
                _ACQUIRE, 2, self.key, self.fence_key, self.holder, int(self.ttl * 1000)
            )
        )
        if token <= 0:
            return False
        self.token = token
        self._value = f"{self.holder}|{token}"
        self._extend(started)
        return True

    async def renew(self) -> bool:
        if self._value is None:
            return False
        started = time.monotonic()
        try:
            ok = await self._redis.eval(_RENEW, 1, self.key, self._value, int(self.ttl * 1000))
        except Exception:
            return self.held()  # transient: keep writing only until the local deadline
        if not ok:
            self._value = None
            return False
        self._extend(started)
        return True

    async def release(self) -> None:
        if self._value is not None:
            with contextlib.suppress(Exception):
                await self._redis.eval(_RELEASE, 1, self.key, self._value)
        self._value = None
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    async def current_holder(self) -> str | None:
        try:
            v = await self._redis.get(self.key)
        except Exception:
            return None
        return v.decode() if isinstance(v, bytes) else v


class FileLease:
    """An exclusive ``flock`` on a file: one operator per machine; freed when the holder dies."""

    def __init__(self, path: Path, *, holder: str | None = None) -> None:
        self.path = path
        self.ttl = 5.0
        self.holder = holder or holder_id()
        self.token = 0
        self._fd: int | None = None

    def held(self) -> bool:
        return self._fd is not None

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        prev = os.pread(fd, 256, 0).decode(errors="replace").split("|")
        self.token = (int(prev[1]) if len(prev) > 1 and prev[1].strip().isdigit() else 0) + 1
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self.holder}|{self.token}".encode(), 0)
        self._fd = fd
        return True

    async def renew(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    async def current_holder(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8").split("|")[0] or None
        except OSError:
            return None
