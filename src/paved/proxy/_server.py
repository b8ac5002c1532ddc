"""``ProxyServer``: the gRPC proxy in front of Temporal (``paved proxy``).

Started by ``paved proxy --config`` (see ``_config.py``), in-process by
``paved dev`` and the tests, or in a thread of its own. Each call goes through
the same stages, in this order:

1. authenticate the bearer token (``paved.auth.Policy``) -> UNAUTHENTICATED;
2. parse the request (malformed -> INVALID_ARGUMENT);
3. resolve the namespace: a logical name maps to the physical namespace of the
   caller's region and environment (or those asked for in ``paved-region`` /
   ``paved-environment`` metadata, or a physical name given directly), subject
   to residency rules -> PERMISSION_DENIED / NOT_FOUND;
4. RBAC: the method's roles on the logical namespace -> PERMISSION_DENIED;
5. rate limits of the physical namespace -> RESOURCE_EXHAUSTED + retry hint;
6. task tokens must belong to the physical namespace (no replay elsewhere);
7. rewrite: namespace names logical -> physical, payloads encrypted;
8. forward over the channel pool, with the caller's deadline;
9. rewrite the response: names physical -> logical, payloads decrypted,
   ListNamespaces filtered to what the caller may see.

Upstream errors are passed through with their trailing metadata (Temporal's
error details), so SDKs see exactly what Temporal said.

Constructor (for ``paved dev`` and embedding)::

    proxy = ProxyServer(
        policy=Policy.load("policy.yaml"),      # or a path: reloaded when it changes
        routes=Routes.from_specs(project.specs().namespaces.namespaces),
        upstream=Upstream(address=dev.address, connections=2),
        listen="127.0.0.1:7233",
        keyring=KeyRing(FileKeyProvider(".paved/keys.json")),  # None: no encryption
        limiter=MemoryLimiter(),                 # or RedisLimiter(url)
    )
    await proxy.start(); ...; await proxy.stop()
    # or, from synchronous code: proxy.start_in_thread(); ...; proxy.stop_thread()
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import ResourceExhaustedCause, ResourceExhaustedScope
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeNamespaceResponse

from paved import codec, sdk
from paved._errors import AuthError, PavedError, RuntimeSetupError
from paved.auth import Policy, Principal
from paved.proxy import _methods as methods
from paved.proxy import _observe as observe
from paved.proxy._limits import Limiter, LimitRequest, MemoryLimiter
from paved.proxy._upstream import MAX_MESSAGE, ChannelPool, Upstream
from paved.proxy._visitor import Job, Planner
from paved.specs import Route, Routes

log = logging.getLogger("paved.proxy")

REGION_HEADER = "paved-region"
ENVIRONMENT_HEADER = "paved-environment"
# never forwarded upstream: our own credentials and routing hints, and transport headers
_STRIP = frozenset(
    {"authorization", "user-agent", "temporal-namespace", REGION_HEADER, ENVIRONMENT_HEADER}
)
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"


class Reject(Exception):
    """A call refused by the proxy (or failed upstream): becomes a gRPC status."""

    def __init__(self, code: grpc.StatusCode, details: str, trailers: Any = None) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.trailers = trailers


@dataclass
class _Call:
    """What one call resolved to (also what the access log reports)."""

    principal: Principal | None = None
    name: str = ""  # the namespace as the caller sent it
    logical: str = ""
    physical: str = ""
    region: str = ""
    environment: str = ""


def _token_namespace_id(token: bytes) -> str:
    """Field 1 (``namespace_id``) of Temporal's task tokens (Task, QueryTask, NexusTask).

    The token is an opaque protobuf for clients, but all three server token
    messages put the namespace id in field 1 as a string; that is all we read.
    """
    if len(token) < 2 or token[0] != 0x0A:  # field 1, wire type 2
        raise ValueError("not a task token")
    n, shift, i = 0, 0, 1
    while True:
        if i >= len(token) or shift > 28:
            raise ValueError("bad length")
        b = token[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
    if i + n > len(token):
        raise ValueError("truncated")
    return token[i : i + n].decode("utf-8")


def _retry_trailers(retry_after: float, bucket: str) -> tuple[tuple[str, Any], ...]:
    delay = duration_pb2.Duration()
    delay.FromMilliseconds(max(1, round(retry_after * 1000)))
    status = status_pb2.Status(
        code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message="rate limited"
    )
    ref = ResourceExhaustedFailure(
        cause=ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_APS_LIMIT
        if bucket == "actions"
        else ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT,
        scope=ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE,
    )
    status.details.add().Pack(ref)
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return (
        ("grpc-status-details-bin", status.SerializeToString()),
        ("retry-after", f"{retry_after:.3f}"),
    )


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
    ) -> None:
        if isinstance(policy, Policy):
            self.policy = policy
            self._policy_path: Path | None = None
        else:
            self._policy_path = Path(policy)
            self.policy = Policy.load(self._policy_path)
        self._policy_mtime = self._mtime()
        self.routes = routes
        self.upstream = Upstream(address=upstream) if isinstance(upstream, str) else upstream
        self.listen = listen
        self.keyring = keyring
        self.limiter: Limiter = limiter or MemoryLimiter()
        self.max_request_bytes = max_request_bytes
        self.metrics_port = metrics_port
        self.policy_reload_seconds = policy_reload_seconds
        self.metrics = observe.Metrics()
        self.methods = methods.all_methods()
        self.planner = Planner()
        self.planner.add_roots(
            [m.request_cls.DESCRIPTOR for m in self.methods.values()]
            + [m.response_cls.DESCRIPTOR for m in self.methods.values()]
        )
        self._resp_relevant = {
            p: self.planner.plan(m.response_cls.DESCRIPTOR.full_name) is not None
            for p, m in self.methods.items()
        }
        self._namespace_ids: dict[str, str] = {}
        self.pool: ChannelPool | None = None
        self._server: grpc.aio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._metrics_server: Any = None

    # ----- lifecycle -------------------------------------------------------------------

    @property
    def address(self) -> str:
        host = self.listen.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    async def start(self) -> ProxyServer:
        """Bind, connect the upstream pool, and serve."""
        self.pool = ChannelPool(self.upstream)
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", self.max_request_bytes),
                ("grpc.max_send_message_length", MAX_MESSAGE),
                ("grpc.so_reuseport", 0),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
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
        if self._policy_path is not None and self.policy_reload_seconds > 0:
            self._tasks.append(asyncio.create_task(self._watch_policy()))
        if self.metrics_port is not None:
            from prometheus_client import start_http_server

            self._metrics_server, _ = start_http_server(
                self.metrics_port, addr="127.0.0.1", registry=self.metrics.registry
            )
        log.info("paved proxy listening on %s -> %s", self.address, self.upstream.address)
        return self

    async def stop(self, grace: float = 1.0) -> None:
        for t in self._tasks:
            t.cancel()
        self._tasks.clear()
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
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

    async def _watch_policy(self) -> None:
        while True:
            await asyncio.sleep(self.policy_reload_seconds)
            if self._mtime() != self._policy_mtime:
                self.reload_policy()

    # ----- the call path ------------------------------------------------------------------

    def _authenticate(self, md: dict[str, str]) -> Principal:
        token = md.get("authorization")
        if not token:
            raise Reject(
                grpc.StatusCode.UNAUTHENTICATED,
                "no credentials: send 'authorization: Bearer <api key or JWT>'",
            )
        try:
            return self.policy.authenticate_bearer(token)
        except AuthError as e:
            raise Reject(grpc.StatusCode.UNAUTHENTICATED, e.message) from None

    def _resolve(self, call: _Call, m: methods.Method, md: dict[str, str]) -> Route:
        p = call.principal
        assert p is not None
        name = call.name
        if not name:
            raise Reject(grpc.StatusCode.INVALID_ARGUMENT, f"{m.name}: namespace is required")
        route = self.routes.by_physical(name)
        if route is not None:
            logical, region, env = route.logical, route.region, route.environment
        else:
            logical = name
            region = md.get(REGION_HEADER) or p.region
            env = md.get(ENVIRONMENT_HEADER) or p.environment
        call.logical = logical
        held = self.policy.roles(p, logical)
        if not (held & m.roles):
            need = " or ".join(sorted(m.roles)) or "(no role: method not allowed through the proxy)"
            raise Reject(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{p.name} (team {p.team}) may not call {m.name} on namespace {logical!r}: needs {need}",
            )
        if not self.policy.may_reach(p, region, env):
            raise Reject(
                grpc.StatusCode.PERMISSION_DENIED,
                f"residency: {p.name} ({p.region}/{p.environment}) may not reach namespace "
                f"{logical!r} in {region}/{env}",
            )
        if route is None:
            route = self.routes.physical(logical, region, env)
            if route is None:
                raise Reject(
                    grpc.StatusCode.NOT_FOUND,
                    f"namespace {logical!r} has no physical namespace in {region}/{env}",
                )
        call.physical, call.region, call.environment = route.physical, region, env
        return route

    def _request_job(self, call: _Call) -> Job:
        p = call.principal
        assert p is not None
        policy, routes = self.policy, self.routes

        def key_ns(value: str) -> str:
            if value in routes:
                return value
            r = routes.by_physical(value)
            return r.logical if r is not None else call.logical

        def map_ns(value: str) -> str:
            if value == call.name or value == call.logical:
                return call.physical
            if value == call.physical:
                return value
            # another namespace named inside the request (a child workflow, an external signal)
            r = routes.by_physical(value)
            if r is None:
                r = routes.physical(value, call.region, call.environment)
            if r is None:
                raise Reject(
                    grpc.StatusCode.PERMISSION_DENIED, f"unknown namespace {value!r} in request"
                )
            if not (policy.roles(p, r.logical) & {"write"}) or not policy.may_reach(
                p, r.region, r.environment
            ):
                raise Reject(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{p.name} (team {p.team}) may not act on namespace {r.logical!r} from {call.logical!r}",
                )
            return r.physical

        ring = self.keyring
        encrypted = self.metrics.encrypted

        def encrypt(payload: Payload, ns: str) -> Payload:
            out = codec.encrypt_payload(payload, ring, ns)  # type: ignore[arg-type]
            if out is not payload:
                encrypted.inc()
            return out

        return Job(
            payload=encrypt if ring is not None else None,
            namespace=map_ns,
            key_namespace=key_ns,
            default_key_namespace=call.logical,
            encode_failures=ring is not None,
        )

    def _response_job(self, call: _Call) -> Job:
        routes = self.routes

        def key_ns(value: str) -> str:
            r = routes.by_physical(value)
            if r is not None:
                return r.logical
            return value if value in routes else call.logical

        def map_ns(value: str) -> str:
            if value == call.physical:
                return call.name
            r = routes.by_physical(value)
            if r is not None and r.region == call.region and r.environment == call.environment:
                return r.logical
            return value

        ring = self.keyring
        metrics = self.metrics

        def decrypt(payload: Payload, ns: str) -> Payload:
            if not codec.is_encrypted(payload):
                return payload
            try:
                out = codec.decrypt_payload(payload, ring, ns)  # type: ignore[arg-type]
            except codec.CodecError as e:
                metrics.undecryptable.inc()
                log.warning("payload of namespace %r left encrypted: %s", ns, e.code)
                return payload
            metrics.decrypted.inc()
            return out

        return Job(
            payload=decrypt if ring is not None else None,
            namespace=map_ns,
            key_namespace=key_ns,
            default_key_namespace=call.logical,
            decode_failures=ring is not None,
        )

    async def _namespace_id(self, physical: str, md: list[tuple[str, str]]) -> str:
        nid = self._namespace_ids.get(physical)
        if nid is None:
            assert self.pool is not None
            mc = self.pool.callable(
                "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace"
            )
            raw = await mc(
                DescribeNamespaceRequest(namespace=physical).SerializeToString(),
                timeout=10,
                metadata=md,
            )
            nid = DescribeNamespaceResponse.FromString(raw).namespace_info.id
            self._namespace_ids[physical] = nid
        return nid

    def _filter_namespaces(self, call: _Call, resp: Any) -> None:
        p = call.principal
        assert p is not None
        keep = []
        for d in resp.namespaces:
            r = self.routes.by_physical(d.namespace_info.name)
            if (
                r is None
                or not self.policy.roles(p, r.logical)
                or not self.policy.may_reach(p, r.region, r.environment)
            ):
                continue
            keep.append(d)
        del resp.namespaces[:]
        resp.namespaces.extend(keep)
        call.region, call.environment = p.region, p.environment

    async def handle(
        self, m: methods.Method, raw: bytes, ctx: grpc.aio.ServicerContext[bytes, bytes]
    ) -> bytes:
        """Serve one unary call (raw bytes in and out)."""
        t0 = time.perf_counter()
        call = _Call()
        code = "OK"
        reason = ""
        try:
            # Joins the caller's trace when it sent `traceparent` (paved.sdk tracing).
            with sdk.server_span(f"proxy {m.name}", ctx.invocation_metadata()):
                return await self._handle(m, raw, ctx, call)
        except Reject as r:
            code = r.code.name
            reason = r.details if r.code != grpc.StatusCode.UNKNOWN else ""
            await ctx.abort(r.code, r.details, trailing_metadata=r.trailers or ())
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except Exception:
            code = "INTERNAL"
            log.exception("proxy error in %s (namespace %r)", m.name, call.logical)
            await ctx.abort(grpc.StatusCode.INTERNAL, f"paved proxy: internal error in {m.name}")
        finally:
            dt = time.perf_counter() - t0
            self.metrics.observe(m.name, call.logical or "-", code, dt)
            observe.log_access(
                method=m.name,
                code=code,
                seconds=dt,
                principal=call.principal,
                namespace=call.logical,
                physical=call.physical,
                # peer() builds a string per call: only when the access log is on
                peer=ctx.peer() if observe.access_log.isEnabledFor(logging.INFO) else "",
                reason=reason if code != "OK" and not reason.startswith("upstream:") else "",
            )
        raise AssertionError("unreachable")  # pragma: no cover - abort raises

    async def _handle(self, m: methods.Method, raw: bytes, ctx: Any, call: _Call) -> bytes:
        md: dict[str, str] = {}
        forward: list[tuple[str, str]] = []
        for k, v in ctx.invocation_metadata() or ():
            if isinstance(v, bytes):
                if not k.endswith("-bin"):
                    continue
                forward.append((k, v))  # type: ignore[arg-type]
                continue
            md[k] = v
            if k not in _STRIP and not k.startswith(("grpc-", ":")):
                forward.append((k, v))
        call.principal = self._authenticate(md)
        try:
            req = m.request_cls.FromString(raw)
        except DecodeError:
            raise Reject(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{m.name}: request is not a valid protobuf message",
            ) from None
        assert self.pool is not None
        upstream_md = forward + list(self.pool.auth_metadata)
        route: Route | None = None
        if m.kind == "namespaced":
            call.name = req.namespace
            route = self._resolve(call, m, md)
            upstream_md.append(("temporal-namespace", route.physical))
            if not m.long_poll:
                lim = await self.limiter.acquire(
                    LimitRequest(
                        route.physical,
                        route.rate_limit.requests_per_second,
                        route.rate_limit.actions_per_second,
                        m.is_action,
                        m.is_worker,
                    )
                )
                if not lim.allowed:
                    self.metrics.rate_limited.labels(route.physical, lim.bucket).inc()
                    raise Reject(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"rate limit of namespace {call.logical!r} ({lim.bucket} per second) exceeded; "
                        f"retry in {lim.retry_after:.3f}s",
                        _retry_trailers(lim.retry_after, lim.bucket),
                    )
            if m.has_task_token and req.task_token:
                try:
                    token_ns = _token_namespace_id(req.task_token)
                except (ValueError, UnicodeDecodeError):
                    raise Reject(
                        grpc.StatusCode.INVALID_ARGUMENT, f"{m.name}: malformed task token"
                    ) from None
                if token_ns != await self._upstream_guard(
                    self._namespace_id(route.physical, list(self.pool.auth_metadata))
                ):
                    raise Reject(
                        grpc.StatusCode.PERMISSION_DENIED,
                        f"{m.name}: the task token belongs to another namespace than {call.logical!r}",
                    )
            try:
                self.planner.walk(req, self._request_job(call))
            except codec.CodecError as e:
                raise Reject(
                    grpc.StatusCode.FAILED_PRECONDITION, f"paved proxy cannot encrypt: {e.message}"
                ) from None
            raw = req.SerializeToString()
        elif (
            m.kind == "global" and self.policy.namespaces_with(call.principal, "admin") is not None
        ):
            raise Reject(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{call.principal.name} may not call {m.name}: needs admin on every namespace ('*')",
            )
        # system and list_ns: any authenticated principal
        timeout = ctx.time_remaining()
        mc = self.pool.callable(m.path)
        resp_raw: bytes = await self._upstream_guard(mc(raw, timeout=timeout, metadata=upstream_md))
        if m.kind == "list_ns":
            resp = m.response_cls.FromString(resp_raw)
            self._filter_namespaces(call, resp)
            call.logical = "-"
            self.planner.walk(resp, self._response_job(call))
            return bytes(resp.SerializeToString())
        if route is None or not self._resp_relevant[m.path]:
            return resp_raw
        resp = m.response_cls.FromString(resp_raw)
        self.planner.walk(resp, self._response_job(call))
        if m.name == "DescribeNamespace" and resp.namespace_info.id:
            self._namespace_ids[route.physical] = resp.namespace_info.id
        return bytes(resp.SerializeToString())

    async def _upstream_guard(self, aw: Any) -> Any:
        try:
            return await aw
        except grpc.aio.AioRpcError as e:
            raise Reject(e.code(), e.details() or "", tuple(e.trailing_metadata() or ())) from None

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
