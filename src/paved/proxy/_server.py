"""``ProxyServer``: the gRPC proxy in front of Temporal (``paved proxy``): lifecycle, threads, policy reload.

Started by ``paved proxy --config`` (see ``_config.py``), in-process by
``paved dev`` and the tests, or in a thread of its own. Each call is served by
the pipeline (``_pipeline.py``): authenticate, parse, route, authorize,
rate-limit, guard the task token, rewrite, forward, rewrite back, log, over
one call context (``_context.py``); the rewriting of names and payloads in both
directions is ``_rewrite.py``.

Upstream errors are passed through with their trailing metadata (Temporal's
error details), so SDKs see exactly what Temporal said.

Running proxies follow changes without a restart: the policy file (principals,
teams, roles) and, when the proxy was given a ``routes_source`` (``paved proxy
--config`` with ``project:``), the routes (``specs/namespaces.yaml``: namespaces
added or removed, rate limits). Both are checked every ``policy_reload_seconds``
by file modification time; a bad edit is logged and the last good version
stays. Clusters (one upstream pool each) are read once: changing them needs a
restart, and the reload says so.

Constructor (for ``paved dev`` and embedding)::

    proxy = ProxyServer(
        policy=Policy.load("policy.yaml"),      # or a path: reloaded when it changes
        routes=Routes.from_specs(project.specs().namespaces.namespaces),
        upstream=Upstream(address=dev.address, connections=2),
        listen="127.0.0.1:7233",
        keyring=KeyRing(FileKeyProvider(".paved/keys.json")),  # None: no encryption
        limiter=MemoryLimiter(),                 # or RedisLimiter(url)
        clusters=project.config.clusters,        # optional: one upstream per region's cluster
    )
    await proxy.start(); ...; await proxy.stop()
    # or, from synchronous code: proxy.start_in_thread(); ...; proxy.stop_thread()
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from paved import codec, sdk
from paved._errors import PavedError, RuntimeSetupError
from paved.auth import Policy
from paved.proxy import _methods as methods
from paved.proxy import _observe as observe
from paved.proxy import _polls as polls
from paved.proxy._context import CallContext, Reject
from paved.proxy._limits import Limiter, MemoryLimiter
from paved.proxy._pipeline import Pipeline
from paved.proxy._upstream import MAX_MESSAGE, ChannelPool, Upstream, Upstreams
from paved.specs import ClusterConfig, Routes

log = logging.getLogger("paved.proxy")

_HEALTH_CHECK = "/grpc.health.v1.Health/Check"


class ProxyServer:
    """The Paved proxy (see module docstring for the constructor)."""

    def __init__(
        self,
        *,
        policy: Policy | Path | str,
        routes: Routes,
        upstream: Upstream | str,
        listen: str = "127.0.0.1:0",
        keyring: codec.KeyRing | None = None,
        limiter: Limiter | None = None,
        max_request_bytes: int = 4 * 1024 * 1024,
        metrics_port: int | None = None,
        policy_reload_seconds: float = 2.0,
        clusters: Mapping[str, ClusterConfig] | None = None,
        routes_source: Callable[[], tuple[Routes, Mapping[str, ClusterConfig]]] | None = None,
        routes_files: Sequence[Path] = (),
        peer_keepalive_seconds: float = 20.0,
    ) -> None:
        """``routes_source`` loads the routes (and the clusters, to notice a change that
        needs a restart) again when one of ``routes_files`` changes.

        ``peer_keepalive_seconds``: how often the proxy pings a caller's connection; one
        that does not answer within half that is closed and its calls cancelled (a worker
        whose host died or whose network went away, with no FIN: see ``_polls.py``)."""
        if isinstance(policy, Policy):
            self._policy_path: Path | None = None
        else:
            self._policy_path = Path(policy)
            policy = Policy.load(self._policy_path)
        self._policy_mtime = self._mtime()
        self.upstream = Upstream(address=upstream) if isinstance(upstream, str) else upstream
        # one channel pool per cluster (paved.yaml `clusters:`); API keys are read now
        self.upstreams = Upstreams(self.upstream, clusters)
        # physical names as each cluster knows them (Temporal Cloud: <name>.<account>)
        routes = self.upstreams.qualify(routes)
        self._routes_source = routes_source
        self._routes_files = tuple(Path(f) for f in routes_files)
        self._routes_mtimes = self._file_mtimes()
        self.listen = listen
        self.keyring = keyring
        self.limiter: Limiter = limiter or MemoryLimiter()
        self.max_request_bytes = max_request_bytes
        self.metrics_port = metrics_port
        self.policy_reload_seconds = policy_reload_seconds
        self.peer_keepalive_seconds = peer_keepalive_seconds
        self.metrics = observe.Metrics()
        self.methods = methods.all_methods()
        self.pipeline = Pipeline(
            policy=policy,
            routes=routes,
            limiter=self.limiter,
            keyring=keyring,
            metrics=self.metrics,
            methods=self.methods,
        )
        self.pool: ChannelPool | None = None
        self._tracing = sdk.tracing_enabled()  # read once: PAVED_TRACING is set per process
        self._server: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._giving_back: set[asyncio.Task[None]] = set()
        self.port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._metrics_server: Any = None

    @property
    def routes(self) -> Routes:
        """The routes in force, physical names as the clusters know them."""
        return self.pipeline.routes

    def set_routes(self, routes: Routes) -> None:
        """Replace the routing table of a running proxy (calls under way finish on the old)."""
        self.pipeline.routes = self.upstreams.qualify(routes)

    @property
    def policy(self) -> Policy:
        """The policy in force (a reload replaces it; calls under way keep theirs)."""
        return self.pipeline.policy

    @policy.setter
    def policy(self, policy: Policy) -> None:
        self.pipeline.policy = policy

    # ----- lifecycle -------------------------------------------------------------------

    @property
    def address(self) -> str:
        host = self.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    async def start(self) -> ProxyServer:
        """Bind, connect the upstream pool, and serve."""
        self.upstreams.open()
        self.pool = self.upstreams.default_pool
        self.pipeline.upstreams = self.upstreams
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", self.max_request_bytes),
                ("grpc.max_send_message_length", MAX_MESSAGE),
                ("grpc.so_reuseport", 0),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
                # A caller that vanished without closing its connection (host down,
                # network cut) would keep its upstream polls open for up to 70 s, and
                # Temporal would hand them tasks; pings find it out sooner.
                ("grpc.keepalive_time_ms", int(self.peer_keepalive_seconds * 1000)),
                ("grpc.keepalive_timeout_ms", int(self.peer_keepalive_seconds * 500)),
                # grpc-core 1.85 waits `ping_timeout_ms` (default 60 s) for the ack
                ("grpc.http2.ping_timeout_ms", int(self.peer_keepalive_seconds * 500)),
                ("grpc.http2.max_pings_without_data", 0),  # a long poll sends no data
            ]
        )
        self._server.add_generic_rpc_handlers((_Handler(self),))
        try:
            self.port = self._server.add_insecure_port(self.listen)
        except RuntimeError as e:
            raise RuntimeSetupError(
                f"proxy cannot listen on {self.listen}: {e}",
                code="PAVED-SETUP-PORT",
                fix="choose another --listen address or stop what uses the port",
            ) from None
        if self.port == 0:
            raise RuntimeSetupError(
                f"proxy cannot listen on {self.listen} (address in use?)",
                code="PAVED-SETUP-PORT",
                fix="choose another listen address or stop what uses the port",
            )
        await self._server.start()
        watched = self._policy_path is not None or self._routes_source is not None
        if watched and self.policy_reload_seconds > 0:
            self._tasks.append(asyncio.create_task(self._watch_files()))
        if self.metrics_port is not None:
            from prometheus_client import start_http_server

            self._metrics_server, _ = start_http_server(
                self.metrics_port, addr="127.0.0.1", registry=self.metrics.registry
            )
        log.info("paved proxy listening on %s -> %s", self.address, self.upstreams.describe())
        return self

    async def stop(self, grace: float = 1.0) -> None:
        for t in self._tasks:
            t.cancel()
        self._tasks.clear()
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        if self._giving_back:  # tasks of polls cut short by the stop, handed back
            await asyncio.wait(self._giving_back, timeout=10)
        if self.pool is not None:
            await self.upstreams.close()
            self.pool = self.pipeline.upstreams = None
        await self.limiter.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server = None

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    def start_in_thread(self, timeout: float = 10.0) -> ProxyServer:
        """Run the proxy on its own event loop in a daemon thread (for sync callers)."""
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as e:
                errors.append(e)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="paved-proxy", daemon=True)
        self._thread.start()
        started.wait(timeout)
        if errors:
            raise errors[0]
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._thread = None
            self._loop = None

    # ----- policy reload ------------------------------------------------------------------

    def _mtime(self) -> float:
        if self._policy_path is None:
            return 0.0
        try:
            return self._policy_path.stat().st_mtime
        except OSError:
            return 0.0

    def reload_policy(self) -> bool:
        """Load the policy file again; on error keep the last good policy. Returns success."""
        if self._policy_path is None:
            return False
        self._policy_mtime = self._mtime()
        try:
            new = Policy.load(self._policy_path)
        except PavedError as e:
            self.metrics.policy_reloads.labels("error").inc()
            log.error("policy reload failed, keeping the last good policy: %s", e)
            return False
        self.policy = new
        self.metrics.policy_reloads.labels("ok").inc()
        log.info("policy reloaded from %s", self._policy_path)
        return True

    def _file_mtimes(self) -> tuple[float, ...]:
        out = []
        for f in self._routes_files:
            try:
                out.append(f.stat().st_mtime)
            except OSError:
                out.append(0.0)
        return tuple(out)

    def reload_routes(self) -> bool:
        """Load the routes again from ``routes_source``; on error keep the last good ones."""
        if self._routes_source is None:
            return False
        self._routes_mtimes = self._file_mtimes()
        try:
            routes, clusters = self._routes_source()
        except Exception as e:  # PavedError names file and line; anything else: keep serving
            self.metrics.routes_reloads.labels("error").inc()
            log.error("routes reload failed, keeping the last good routes: %s", e)
            return False
        if dict(clusters) != self.upstreams.clusters:
            log.warning(
                "the clusters changed: restart the proxy to apply them (routes reloaded, "
                "upstreams kept: %s)",
                self.upstreams.describe(),
            )
        before = self.routes
        self.set_routes(routes)
        self.metrics.routes_reloads.labels("ok").inc()
        if self.routes != before:
            log.info("routes reloaded: %d physical namespaces", len(self.routes))
        return True

    async def _watch_files(self) -> None:
        while True:
            await asyncio.sleep(self.policy_reload_seconds)
            if self._policy_path is not None and self._mtime() != self._policy_mtime:
                self.reload_policy()
            if self._routes_source is not None and self._file_mtimes() != self._routes_mtimes:
                self.reload_routes()

    # ----- one call -------------------------------------------------------------------------

    async def handle(
        self, m: methods.Method, raw: bytes, ctx: grpc.aio.ServicerContext[bytes, bytes]
    ) -> bytes:
        """Serve one unary call (raw bytes in and out) through the pipeline."""
        t0 = time.perf_counter()
        pipeline = self.pipeline
        call = CallContext(m, raw, ctx, pipeline.policy, time.time())
        refused: Reject
        try:
            if self._tracing:
                # Joins the caller's trace when it sent `traceparent` (paved.sdk tracing).
                with sdk.server_span(f"proxy {m.name}", ctx.invocation_metadata()):
                    return await pipeline.run(call)
            return await pipeline.run(call)
        except Reject as r:
            refused = r
            call.code = r.code.name
            # Temporal's own error details can quote workflow data: not logged
            call.reason = "" if r.upstream else r.details
        except asyncio.CancelledError:
            # the caller left (cancelled, disconnected) or the proxy stops
            call.code = "CANCELLED"
            if m.long_poll:
                self._caller_left(call)
            raise
        except Exception:
            call.code = "INTERNAL"
            log.exception("proxy error in %s (namespace %r)", m.name, call.logical)
            refused = Reject(grpc.StatusCode.INTERNAL, f"paved proxy: internal error in {m.name}")
        finally:
            # logged before the caller hears the outcome
            pipeline.log(call, time.perf_counter() - t0)
        await ctx.abort(refused.code, refused.details, trailing_metadata=refused.trailers or ())
        raise AssertionError("unreachable")  # pragma: no cover - abort raises

    def _caller_left(self, call: CallContext) -> None:
        """A long poll's caller left: give back a task that came for it (``_polls.py``)."""
        up = call.upstream_call
        if not call.response_raw and (up is None or not up.done() or up.cancelled()):
            return  # the upstream poll was cancelled with the call: no task was in it
        t = asyncio.create_task(self._give_back(call), name=f"give back {call.method.name}")
        self._giving_back.add(t)
        t.add_done_callback(self._giving_back.discard)

    async def _give_back(self, call: CallContext) -> None:
        raw = call.response_raw
        if not raw:
            try:  # the upstream answer was in, but the caller's cancellation came first
                raw = await call.upstream_call
            except (grpc.aio.AioRpcError, asyncio.CancelledError):
                return
        await polls.give_back(self.pipeline.pool(call), call, raw, self.metrics)

    async def health(self, raw: bytes, ctx: Any) -> bytes:
        """grpc.health.v1 Check: answered by Temporal through the pool (no credentials needed)."""
        assert self.pool is not None
        try:
            out: bytes = await self.pool.callable(_HEALTH_CHECK)(
                raw, timeout=ctx.time_remaining() or 5
            )
            return out
        except grpc.aio.AioRpcError as e:
            await ctx.abort(e.code(), e.details() or "upstream unavailable")
            raise


class _Handler(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Maps method paths to the proxy's raw-bytes handlers; unknown paths -> UNIMPLEMENTED."""

    def __init__(self, proxy: ProxyServer) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        for path, m in proxy.methods.items():
            self._handlers[path] = grpc.unary_unary_rpc_method_handler(_bind(proxy, m))
        self._handlers[_HEALTH_CHECK] = grpc.unary_unary_rpc_method_handler(proxy.health)

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        return self._handlers.get(handler_call_details.method)  # type: ignore[attr-defined,no-any-return]


def _bind(proxy: ProxyServer, m: methods.Method) -> Callable[[bytes, Any], Any]:
    async def handler(raw: bytes, ctx: Any) -> bytes:
        return await proxy.handle(m, raw, ctx)

    return handler
