"""The per-call pipeline: the stages every RPC through the proxy goes through, in order.

``ProxyServer`` (``_server.py``) owns the lifecycle and hands each call to
:meth:`Pipeline.run`, which runs the stages planned for the call's method over
one :class:`~paved.proxy._context.CallContext`, then logs it:

1. ``authenticate``: the bearer token -> ``Principal`` (UNAUTHENTICATED);
2. ``parse``: the request message (INVALID_ARGUMENT);
3. ``route``: the namespace the caller named -> logical name, region and
   environment (the caller's own, or ``paved-region`` / ``paved-environment``
   metadata, or those of a physical name given directly), and its route;
4. ``authorize``: the one authorization decision (``Policy.decide``) for the
   method's roles there (PERMISSION_DENIED, with the decision's reason); then a
   namespace with no physical namespace there is NOT_FOUND; for Updates
   (``_updates.py``): the principal stamped into each Update's header, and an
   approval Update needs the ``approve`` role too;
5. ``rate_limit``: the physical namespace's buckets (RESOURCE_EXHAUSTED and a
   retry hint; long polls are not counted);
6. ``guard_task_token``: a task token must belong to the physical namespace;
7. ``rewrite``: names logical -> physical, payloads encrypted (``_rewrite.py``);
8. ``forward``: over the channel pool, with the caller's deadline; Temporal's
   errors pass through with their trailing metadata;
9. ``rewrite_back``: names physical -> logical, payloads decrypted.

``ListNamespaces`` has a stage of its own, ``list_namespaces``: it asks every
cluster that serves a route (concurrently, every page), keeps the namespaces the
caller holds a role on and may reach, and names each one as the caller addresses
it: the logical name in the caller's own region and environment, the physical
name (Temporal Cloud: ``<name>.<account>``) elsewhere, since a logical name would
route to the caller's region. Only clusters holding a namespace the caller may
see are asked. The merged list is one page. A cluster that does not answer is
left out (logged); when none answers, its error is the caller's.

The routes can be replaced while calls run (``Pipeline.routes``, set by the
proxy's routes reload): a call reads the table once per stage.

The stages of a method are chosen once (``plan``), so a call runs only those
that apply: a long poll skips the rate limiter, a response that holds no
payload and no namespace name is passed back as bytes without being parsed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeNamespaceResponse,
    ListNamespacesRequest,
    ListNamespacesResponse,
)

from paved import codec
from paved._errors import AuthError
from paved.auth import EVERY_NAMESPACE, ROLES, AccessRequest, Policy
from paved.proxy import _observe as observe
from paved.proxy import _updates as updates
from paved.proxy._context import (
    ENVIRONMENT_HEADER,
    REGION_HEADER,
    CallContext,
    Reject,
    retry_trailers,
    split_metadata,
    token_namespace_id,
)
from paved.proxy._limits import Limiter, LimitRequest
from paved.proxy._methods import Method
from paved.proxy._rewrite import Rewriter
from paved.proxy._upstream import ChannelPool, Upstreams
from paved.proxy._visitor import Planner
from paved.specs import Routes

log = logging.getLogger("paved.proxy")

Stage = Callable[[CallContext], "Awaitable[None] | None"]
_ANY_ROLE = frozenset(ROLES)


class Pipeline:
    """The stages and what they share: policy, routes, limiter, rewriter, upstream pool."""

    def __init__(
        self,
        *,
        policy: Policy,
        routes: Routes,
        limiter: Limiter,
        keyring: codec.KeyRing | None,
        metrics: observe.Metrics,
        methods: dict[str, Method],
    ) -> None:
        self.policy = policy  # replaced on reload; each call keeps the one it started with
        self._routes = routes
        self.limiter = limiter
        self.metrics = metrics
        self.rewriter = Rewriter(routes, keyring, metrics)
        self.upstreams: Upstreams | None = None  # set by ProxyServer.start
        self.planner = Planner()
        self.planner.add_roots(
            [m.request_cls.DESCRIPTOR for m in methods.values()]
            + [m.response_cls.DESCRIPTOR for m in methods.values()]
        )
        self._namespace_ids: dict[str, str] = {}
        self._mapped_names: dict[tuple[str, str], tuple[bytes, ...]] = {}
        self.stages: dict[str, tuple[Stage, ...]] = {p: self.plan(m) for p, m in methods.items()}

    @property
    def routes(self) -> Routes:
        """The routing table in force (replaced whole by a routes reload)."""
        return self._routes

    @routes.setter
    def routes(self, routes: Routes) -> None:
        self._routes = routes
        self.rewriter.routes = routes
        self._mapped_names = {}

    def plan(self, m: Method) -> tuple[Stage, ...]:
        """The stages a call of ``m`` goes through, in order."""
        out: list[Stage] = [self.authenticate, self.parse]
        if m.kind == "namespaced":
            out += [self.route, self.authorize]
            if m.name in updates.UPDATE_METHODS:
                out.append(updates.authorize_updates)
            if not m.long_poll:
                out.append(self.rate_limit)
            if m.has_task_token:
                out.append(self.guard_task_token)
            out += [self.rewrite, self.forward]
            if self.planner.plan(m.response_cls.DESCRIPTOR.full_name) is not None:
                out.append(self.rewrite_back)
        elif m.kind == "global":
            out += [self.authorize, self.forward]
        elif m.kind == "list_ns":
            out.append(self.list_namespaces)
        else:  # system: any authenticated caller
            out.append(self.forward)
        return tuple(out)

    async def run(self, call: CallContext) -> bytes:
        """Run the call's stages; the response bytes for the caller. Raises ``Reject``."""
        for stage in self.stages[call.method.path]:
            pending = stage(call)
            if pending is not None:
                await pending
        return call.response_raw

    def log(self, call: CallContext, seconds: float) -> None:
        """The last stage, always run: metrics and one access-log line."""
        self.metrics.observe(call.method.name, call.logical or "-", call.code, seconds)
        if not observe.access_log.isEnabledFor(logging.INFO):
            return
        observe.log_access(
            method=call.method.name,
            code=call.code,
            seconds=seconds,
            principal=call.principal,
            namespace=call.logical,
            physical=call.physical,
            peer=call.grpc.peer(),
            reason=call.reason,
            decision=call.decision.reason if call.decision is not None else "",
        )

    # ----- the stages, in order ---------------------------------------------------------

    def authenticate(self, call: CallContext) -> None:
        split_metadata(call)
        token = call.metadata.get("authorization")
        if not token:
            raise Reject(
                grpc.StatusCode.UNAUTHENTICATED,
                "no credentials: send 'authorization: Bearer <api key or JWT>'",
            )
        try:
            call.principal = call.policy.authenticate_bearer(token)
        except AuthError as e:
            raise Reject(grpc.StatusCode.UNAUTHENTICATED, e.message) from None

    def parse(self, call: CallContext) -> None:
        m = call.method
        try:
            call.request = m.request_cls.FromString(call.raw)
        except DecodeError:
            raise Reject(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{m.name}: request is not a valid protobuf message",
            ) from None

    def route(self, call: CallContext) -> None:
        p = call.who()
        name = call.name = call.request.namespace
        if not name:
            raise Reject(
                grpc.StatusCode.INVALID_ARGUMENT, f"{call.method.name}: namespace is required"
            )
        route = self.routes.by_physical(name)
        if route is not None:
            call.logical, call.region, call.environment = (
                route.logical,
                route.region,
                route.environment,
            )
        else:
            md = call.metadata
            call.logical = name
            call.region = md.get(REGION_HEADER) or p.region
            call.environment = md.get(ENVIRONMENT_HEADER) or p.environment
            route = self.routes.physical(name, call.region, call.environment)
        call.route = route
        if route is not None:
            call.physical = route.physical

    def authorize(self, call: CallContext) -> None:
        p, m = call.who(), call.method
        if m.kind == "global":
            req = AccessRequest.of(p, "admin", EVERY_NAMESPACE, now=call.now, action=m.name)
            where = ""
        else:
            req = AccessRequest(
                p, m.roles, call.logical, call.region, call.environment, call.now, m.name
            )
            where = f" on namespace {call.logical!r}"
        decision = call.decision = call.policy.decide(req)
        if not decision:
            raise Reject(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{p.name} (team {p.team}) may not call {m.name}{where}: {decision.reason}",
            )
        if m.kind == "namespaced" and call.route is None:
            raise Reject(
                grpc.StatusCode.NOT_FOUND,
                f"namespace {call.logical!r} has no physical namespace in "
                f"{call.region}/{call.environment}",
            )
        if call.route is not None:
            call.upstream_metadata.append(("temporal-namespace", call.physical))

    async def rate_limit(self, call: CallContext) -> None:
        route, m = call.route, call.method
        assert route is not None
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
                retry_trailers(lim.retry_after, lim.bucket),
            )

    async def guard_task_token(self, call: CallContext) -> None:
        token = call.request.task_token
        if not token:
            return
        try:
            token_ns = token_namespace_id(token)
        except (ValueError, UnicodeDecodeError):
            raise Reject(
                grpc.StatusCode.INVALID_ARGUMENT, f"{call.method.name}: malformed task token"
            ) from None
        if token_ns != await self._namespace_id(call.physical):
            raise Reject(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{call.method.name}: the task token belongs to another namespace than "
                f"{call.logical!r}",
            )

    def rewrite(self, call: CallContext) -> None:
        try:
            self.planner.walk(call.request, self.rewriter.job(call, inbound=True))
        except codec.CodecError as e:
            raise Reject(
                grpc.StatusCode.FAILED_PRECONDITION, f"paved proxy cannot encrypt: {e.message}"
            ) from None
        call.raw = call.request.SerializeToString()

    def pool(self, call: CallContext) -> ChannelPool:
        """The upstream of this call: the cluster of the physical namespace it routes to;
        without a namespace, the caller's home cluster (the default upstream without clusters)."""
        assert self.upstreams is not None, "ProxyServer.start() first"
        if call.route is not None:
            return self.upstreams.pool(call.route.region, call.route.environment)
        p = call.principal
        return self.upstreams.pool(p.region if p else None, p.environment if p else None)

    async def forward(self, call: CallContext) -> None:
        pool = self.pool(call)
        m = call.method
        pending = pool.callable(m.path)(
            call.raw,
            timeout=call.grpc.time_remaining(),
            metadata=call.upstream_metadata + list(pool.auth_metadata),
        )
        if not m.long_poll:
            call.response_raw = await _upstream(pending)
            return
        # The caller leaving cancels this coroutine, which cancels `pending`: Temporal
        # stops offering tasks to the poll. An answer already in when that happens is
        # read from `upstream_call` and given back (ProxyServer.handle, _polls.py).
        call.upstream_call = pending
        in_flight = self.metrics.long_poll(m.name)
        in_flight.inc()
        try:
            call.response_raw = await _upstream(pending)
        finally:
            in_flight.dec()

    def rewrite_back(self, call: CallContext) -> None:
        m = call.method
        raw = call.response_raw
        if m.kind == "namespaced" and not self._needs_rewrite_back(call, raw):
            return  # nothing in it to decrypt or rename: passed back as Temporal sent it
        resp = call.response = m.response_cls.FromString(raw)
        self.planner.walk(resp, self.rewriter.job(call, inbound=False))
        if m.name == "DescribeNamespace" and resp.namespace_info.id:
            self._namespace_ids[call.physical] = resp.namespace_info.id
        call.response_raw = resp.SerializeToString()

    async def list_namespaces(self, call: CallContext) -> None:
        """ListNamespaces across every cluster, merged (see the module docstring)."""
        assert self.upstreams is not None, "ProxyServer.start() first"
        p = call.who()
        call.region, call.environment, call.logical = p.region, p.environment, "-"
        routes, upstreams = self.routes, self.upstreams
        visible = Routes(
            r
            for r in routes.all()
            if call.policy.decide(
                AccessRequest(p, _ANY_ROLE, r.logical, r.region, r.environment, call.now)
            )
        )
        if not len(visible):
            call.response_raw = b""  # an empty ListNamespacesResponse
            return
        # only the clusters holding a namespace the caller may see are asked
        pools = upstreams.pools_for(visible)
        timeout = call.grpc.time_remaining()
        page_size = call.request.page_size or 1000
        answers = await asyncio.gather(
            *(_list_all(pool, call, page_size, timeout) for pool in pools),
            return_exceptions=True,
        )
        out = ListNamespacesResponse()
        failed: list[BaseException] = []
        for pool, answer in zip(pools, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Reject):
                    raise answer
                failed.append(answer)
                log.warning(
                    "ListNamespaces: %s did not answer (%s): its namespaces are left out",
                    pool.upstream.address,
                    answer.code.name,
                )
                continue
            for d in answer:
                r = visible.by_physical(d.namespace_info.name)
                if r is None or upstreams.pool(r.region, r.environment) is not pool:
                    continue  # not ours or not the caller's, or a namesake on another cluster
                home = r.region == p.region and r.environment == p.environment
                d.namespace_info.name = r.logical if home else r.physical
                out.namespaces.append(d)
        if failed and len(failed) == len(pools):
            raise failed[0]
        call.response = out
        call.response_raw = out.SerializeToString()

    # ----- helpers of the stages ----------------------------------------------------------

    def _needs_rewrite_back(self, call: CallContext, raw: bytes) -> bool:
        """Whether a response can hold anything the way back changes, read from its bytes.

        Parsing, walking and re-serialising a response (a poll answer carries history
        events) is the proxy's largest own cost, and most answers need none of it.
        The way back changes only (a) payloads in Paved's encrypted format, whose
        metadata holds the encoding marker verbatim, and failures moved into such a
        payload, and (b) namespace names that are physical names of the caller's
        region and environment. Protobuf stores strings and bytes as they are, nested
        messages and ``Any`` bodies included, so when none of these byte strings
        occurs in the response, the walk would change nothing. A false alarm (the
        marker inside user data) only costs the walk.
        """
        if self.rewriter.keyring is not None and codec.ENCODING in raw:
            return True
        key = (call.region, call.environment)
        names = self._mapped_names.get(key)
        if names is None:
            names = self._mapped_names[key] = tuple(
                r.physical.encode()
                for r in self.routes.all()
                if r.region == call.region and r.environment == call.environment
            )
        return call.physical.encode() in raw or any(n in raw for n in names)

    async def _namespace_id(self, physical: str) -> str:
        nid = self._namespace_ids.get(physical)
        if nid is None:
            assert self.upstreams is not None
            route = self.routes.by_physical(physical)
            pool = (
                self.upstreams.pool(route.region, route.environment)
                if route is not None
                else self.upstreams.default_pool
            )
            mc = pool.callable("/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace")
            raw = await _upstream(
                mc(
                    DescribeNamespaceRequest(namespace=physical).SerializeToString(),
                    timeout=10,
                    metadata=list(pool.auth_metadata),
                )
            )
            nid = DescribeNamespaceResponse.FromString(raw).namespace_info.id
            self._namespace_ids[physical] = nid
        return nid


async def _list_all(
    pool: ChannelPool, call: CallContext, page_size: int, timeout: float | None
) -> list[Any]:
    """Every namespace one cluster lists (all pages), with the caller's filter."""
    mc = pool.callable("/temporal.api.workflowservice.v1.WorkflowService/ListNamespaces")
    req = ListNamespacesRequest()
    req.CopyFrom(call.request)
    req.page_size = page_size
    req.next_page_token = b""
    out: list[Any] = []
    while True:
        raw = await _upstream(
            mc(
                req.SerializeToString(),
                timeout=timeout,
                metadata=call.upstream_metadata + list(pool.auth_metadata),
            )
        )
        page = ListNamespacesResponse.FromString(raw)
        out.extend(page.namespaces)
        if not page.next_page_token:
            return out
        req.next_page_token = page.next_page_token


async def _upstream(aw: Awaitable[Any]) -> Any:
    """Await an upstream call; Temporal's error becomes a ``Reject`` carrying its trailers."""
    try:
        return await aw
    except grpc.aio.AioRpcError as e:
        raise Reject(
            e.code(), e.details() or "", tuple(e.trailing_metadata() or ()), upstream=True
        ) from None
