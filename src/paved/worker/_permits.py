"""Where a worker fleet's capacity permits live: slot files on one host, a leased set in Redis.

A declared ``capacity`` is a promise to the dependency: at most N activity
bodies at once *from the whole fleet* (every replica of the worker), whatever the
replica count the autoscaler chose. A replica's own semaphore cannot keep that
promise once there is more than one replica, so the permits live outside the
process, in a store all the replicas share (``paved.worker.SharedCapacityGate``
asks it). Two stores, both crash-safe:

- :class:`FileSlots` (``PAVED_CAPACITY_DIR``, set by ``paved dev`` and every local
  replica set: all the replicas are processes of this machine): N files
  ``slot-<i>.lock``; a permit is an exclusive ``flock`` on one of them, taken
  without blocking. The kernel drops a process's locks when it dies, so a replica
  killed with -9 frees its permits at once. A permit costs two system calls and no
  round trip; who holds what is in ``/proc/locks``.
- :class:`RedisSlots` (``PAVED_CAPACITY_REDIS_URL``, for replicas on several hosts:
  the Kubernetes Deployments the operator renders): the holders are members of a
  sorted set scored by their lease's expiry (Redis's clock). One Lua script
  acquires, renews and releases atomically, and first drops every expired lease,
  so the permit of a replica killed with -9 comes back after at most one lease
  (``lease_seconds``, 10 s; the gate renews every held lease every third of that).
  A lease that expired while its body still ran (a stalled process, a Redis that
  restarted empty) is taken back on the next renewal if there is room, else it is
  reported lost (``PAVED-CAPACITY-LEASE-LOST``).

A store that cannot answer raises :class:`CapacityStoreError`
(``PAVED-CAPACITY-STORE``); the gate then **fails closed** (see
``paved.worker._capacity``). Same library and conventions as the proxy's
``RedisLimiter`` and the operator's ``RedisLease``: ``redis.asyncio``, short
socket timeouts, one script, keys under ``paved:``.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import random
import re
import socket
import uuid
from pathlib import Path
from typing import Any, Protocol

from paved._errors import RuntimeSetupError

LEASE_SECONDS = 10.0


class CapacityStoreError(RuntimeSetupError):
    """The shared capacity store cannot be reached (or used)."""

    code = "PAVED-CAPACITY-STORE"


class PermitStore(Protocol):
    """Permits shared by a worker fleet: tokens taken without waiting, given back."""

    capacity: int
    poll: float  # seconds between two tries of a task waiting at the gate
    lease_seconds: float | None  # None: permits need no renewal
    where: str  # for messages: the directory or the (redacted) URL

    async def try_acquire(self) -> str | None: ...

    async def release(self, token: str) -> None: ...

    async def renew(self, tokens: list[str]) -> list[str]:
        """Renew ``tokens``; return those that were lost."""
        ...

    async def close(self) -> None: ...


class FileSlots:
    """``capacity`` slot files in ``directory``; a permit is a ``flock`` on one (this host only)."""

    lease_seconds: float | None = None

    def __init__(self, directory: Path, capacity: int, *, poll: float = 0.01) -> None:
        self.directory = directory
        self.capacity = capacity
        self.poll = poll
        self.where = str(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CapacityStoreError(
                f"capacity slot directory {directory} cannot be created ({e.strerror})",
                fix="make PAVED_CAPACITY_DIR a writable directory on a local file system "
                "(flock does not work across hosts)",
            ) from None
        self._fds: dict[int, int] = {}
        self._held: set[int] = set()

    def _fd(self, i: int) -> int:
        fd = self._fds.get(i)
        if fd is None:
            try:
                fd = os.open(self.directory / f"slot-{i}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as e:
                raise CapacityStoreError(
                    f"capacity slot file {self.directory}/slot-{i}.lock cannot be opened "
                    f"({e.strerror})",
                    fix="make PAVED_CAPACITY_DIR a writable directory on a local file system",
                ) from None
            self._fds[i] = fd
        return fd

    async def try_acquire(self) -> str | None:
        # From a random slot: replicas starting together do not all try slot 0 first.
        start = random.randrange(self.capacity)
        for k in range(self.capacity):
            i = (start + k) % self.capacity
            if i in self._held:  # a second flock on our own descriptor would succeed
                continue
            try:
                fcntl.flock(self._fd(i), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            self._held.add(i)
            return str(i)
        return None

    async def release(self, token: str) -> None:
        i = int(token)
        if i in self._held:
            self._held.discard(i)
            fcntl.flock(self._fds[i], fcntl.LOCK_UN)

    async def renew(self, tokens: list[str]) -> list[str]:
        return []  # a lock lives as long as the process

    async def close(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)  # drops its lock
        self._fds.clear()
        self._held.clear()


# KEYS[1]: the fleet's holders (a sorted set: member -> lease expiry, ms of Redis's clock)
# ARGV: op (acquire | renew | release), capacity, lease ms, member...
# Returns, per member: 1 held (acquired or renewed), 2 taken back after it had expired,
# 0 not held (no room; for renew: lost).
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op, cap, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {}
if op == 'release' then
  for i = 4, #ARGV do out[#out + 1] = redis.call('ZREM', KEYS[1], ARGV[i]) end
  return out
end
local n = redis.call('ZCARD', KEYS[1])
for i = 4, #ARGV do
  local m = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], m) then
    redis.call('ZADD', KEYS[1], now + ttl, m)
    out[#out + 1] = 1
  elseif n < cap then
    redis.call('ZADD', KEYS[1], now + ttl, m)
    n = n + 1
    out[#out + 1] = (op == 'renew') and 2 or 1
  else
    out[#out + 1] = 0
  end
end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return out
"""


def redact(url: str) -> str:
    """``redis://user:secret@host/0`` -> ``redis://***@host/0`` (URLs go into logs)."""
    return re.sub(r"//[^@/]*@", "//***@", url)


class RedisSlots:
    """``capacity`` leased permits in Redis, shared by every replica of one fleet.

    Args:
        url: ``redis://host:port/db`` (``rediss://`` for TLS).
        fleet: what shares the permits: ``<project>:<worker>:<region>:<environment>``.
        capacity: permits in the fleet.
        lease_seconds: a holder that stops renewing loses its permit after this.
    """

    def __init__(
        self,
        url: str,
        fleet: str,
        capacity: int,
        *,
        lease_seconds: float = LEASE_SECONDS,
        poll: float = 0.05,
        holder: str | None = None,
    ) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.where = redact(url)
        self.key = f"paved:capacity:{fleet}"
        self.capacity = capacity
        self.lease_seconds: float | None = lease_seconds
        self.poll = poll
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._redis: Any = aioredis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        self._script: Any = self._redis.register_script(_LUA)
        self._seq = itertools.count()
        self._orphans: list[str] = []  # acquired or held, answer or release lost: give back

    async def _call(self, op: str, members: list[str]) -> list[int]:
        assert self.lease_seconds is not None
        args = [op, self.capacity, int(self.lease_seconds * 1000), *members]
        try:
            out = await self._script(keys=[self.key], args=args)
        except Exception as e:  # connection refused, timeout, auth, OOM...
            raise CapacityStoreError(
                f"capacity store Redis at {self.where} did not answer ({type(e).__name__}: {e})",
                fix="start Redis or fix PAVED_CAPACITY_REDIS_URL (clusters.<name>.kubernetes."
                "capacity_redis_url in paved.yaml); until it answers no new activity starts",
            ) from None
        return [int(x) for x in out]

    async def try_acquire(self) -> str | None:
        if self._orphans:
            await self._call("release", self._orphans)
            self._orphans.clear()
        member = f"{self.holder}:{next(self._seq)}"
        try:
            (got,) = await self._call("acquire", [member])
        except BaseException:
            self._orphans.append(member)  # it may have been added before the answer was lost
            raise
        return member if got else None

    async def release(self, token: str) -> None:
        try:
            await self._call("release", [token])
        except CapacityStoreError:
            self._orphans.append(token)  # else it would hold the permit until its lease ends
            raise

    async def renew(self, tokens: list[str]) -> list[str]:
        if not tokens:
            return []
        got = await self._call("renew", tokens)
        return [t for t, g in zip(tokens, got, strict=True) if g == 0]

    async def holders(self) -> int:
        """Permits held now (expired leases not counted)."""
        assert self.lease_seconds is not None
        await self._call("renew", [])  # drops the expired leases
        return int(await self._redis.zcard(self.key))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._redis.aclose()
