"""Rate limits per physical namespace: token buckets for requests and actions.

The proxy asks ``limiter.acquire(LimitRequest(...))`` before forwarding a call.
Each physical namespace has two buckets, filled at the rates of its spec
(``rate_limit.requests_per_second`` and ``actions_per_second``) and holding
one second's worth (the burst):

* every call except long polls takes a token from the request bucket;
* actions (start, signal, update, cancel, terminate, reset, ...) also take one
  from the action bucket;
* worker calls (respond, heartbeat) are *priority*: they are counted but never
  refused, so a burst of starts cannot stall the workers that drain it; long
  polls are not counted at all (they are the workers' way to wait).

A refused call gets RESOURCE_EXHAUSTED with the time until a token is free.

``MemoryLimiter`` keeps the buckets in the process. ``RedisLimiter`` keeps them
in Redis, one hash per bucket, updated by one Lua script per call (atomic,
Redis's clock), so several proxy replicas share one budget. If Redis is
unreachable the Redis limiter fails open (counts a metric, logs once a
minute): a rate limiter must not become an outage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("paved.proxy")


@dataclass(frozen=True)
class LimitRequest:
    """One call to account for."""

    physical_namespace: str
    requests_per_second: float
    actions_per_second: float
    is_action: bool
    priority: bool  # counted but never refused


@dataclass(frozen=True)
class LimitResult:
    allowed: bool
    retry_after: float = 0.0
    bucket: str = ""  # "requests" or "actions" when refused


class Limiter(Protocol):
    async def acquire(self, req: LimitRequest) -> LimitResult: ...

    async def close(self) -> None: ...


class _Bucket:
    __slots__ = ("burst", "rate", "tokens", "ts")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.tokens = self.burst
        self.ts = time.monotonic()

    def refill(self, now: float, rate: float) -> None:
        if rate != self.rate:  # the spec changed (policy/routes reload)
            self.rate = rate
            self.burst = max(1.0, rate)
        self.tokens = min(self.burst, self.tokens + (now - self.ts) * self.rate)
        self.ts = now


class MemoryLimiter:
    """Token buckets in this process (the default)."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def _bucket(self, ns: str, kind: str, rate: float) -> _Bucket:
        b = self._buckets.get((ns, kind))
        if b is None:
            b = self._buckets[(ns, kind)] = _Bucket(rate)
        return b

    async def acquire(self, req: LimitRequest) -> LimitResult:
        now = time.monotonic()
        rb = self._bucket(req.physical_namespace, "requests", req.requests_per_second)
        rb.refill(now, req.requests_per_second)
        ab = None
        if req.is_action:
            ab = self._bucket(req.physical_namespace, "actions", req.actions_per_second)
            ab.refill(now, req.actions_per_second)
        if not req.priority:
            if rb.tokens < 1:
                return LimitResult(False, (1 - rb.tokens) / rb.rate, "requests")
            if ab is not None and ab.tokens < 1:
                return LimitResult(False, (1 - ab.tokens) / ab.rate, "actions")
        rb.tokens -= 1
        if ab is not None:
            ab.tokens -= 1
        return LimitResult(True)

    async def close(self) -> None:
        return None


# KEYS: requests bucket, actions bucket (may be "")
# ARGV: rps, aps, is_action (0/1), priority (0/1)
# returns {allowed, retry_after_ms, which}
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function load(key, rate)
  local burst = math.max(1, rate)
  local v = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(v[1]) or burst
  local ts = tonumber(v[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
  return tokens, burst
end
local rps = tonumber(ARGV[1])
local aps = tonumber(ARGV[2])
local is_action = ARGV[3] == '1'
local priority = ARGV[4] == '1'
local rt, rburst = load(KEYS[1], rps)
local at, aburst = 0, 0
if is_action then at, aburst = load(KEYS[2], aps) end
if not priority then
  if rt < 1 then return {0, math.ceil((1 - rt) / rps * 1000), 'requests'} end
  if is_action and at < 1 then return {0, math.ceil((1 - at) / aps * 1000), 'actions'} end
end
rt = rt - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(rt), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(rburst / rps * 1000) + 60000)
if is_action then
  at = at - 1
  redis.call('HSET', KEYS[2], 'tokens', tostring(at), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[2], math.ceil(aburst / aps * 1000) + 60000)
end
return {1, 0, ''}
"""


class RedisLimiter:
    """Token buckets in Redis, shared by every proxy replica that uses the same prefix."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "paved:rl:") -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.prefix = prefix
        self._redis: Any = aioredis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self._script: Any = self._redis.register_script(_LUA)
        self._last_warning = 0.0
        self.failures = 0

    async def acquire(self, req: LimitRequest) -> LimitResult:
        keys = [
            f"{self.prefix}{req.physical_namespace}:requests",
            f"{self.prefix}{req.physical_namespace}:actions",
        ]
        args = [
            req.requests_per_second,
            req.actions_per_second,
            int(req.is_action),
            int(req.priority),
        ]
        try:
            allowed, retry_ms, which = await self._script(keys=keys, args=args)
        except Exception as e:  # Redis down or slow: fail open, but say so
            self.failures += 1
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                log.warning(
                    "rate limiter: Redis at %s unavailable (%s); allowing calls",
                    self.url,
                    type(e).__name__,
                )
            return LimitResult(True)
        if int(allowed):
            return LimitResult(True)
        w = which.decode() if isinstance(which, bytes) else str(which)
        return LimitResult(False, int(retry_ms) / 1000.0, w)

    async def close(self) -> None:
        await self._redis.aclose()
