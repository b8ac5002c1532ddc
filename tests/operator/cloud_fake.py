"""A small in-process implementation of Temporal Cloud's ``CloudService`` (namespaces only).

No Temporal Cloud is reachable here, so the Cloud target is tested at the request
level: the real ``CloudOperationsClient`` and protos talk gRPC to this server,
which keeps namespaces in memory and enforces what the real API does that the
operator relies on: API-key authentication, ``resource_version`` on update and
delete (stale -> FAILED_PRECONDITION), ``async_operation_id`` as an idempotency
key, namespaces named ``<name>.<account>``, and async operations (a namespace is
ACTIVATING/UPDATING until ``settle()``). Every request is recorded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc
from temporalio.api.cloud.cloudservice.v1 import (
    CreateNamespaceResponse,
    DeleteNamespaceResponse,
    GetNamespaceResponse,
    GetNamespacesResponse,
    UpdateNamespaceResponse,
    UpdateNamespaceTagsResponse,
)
from temporalio.api.cloud.cloudservice.v1 import service_pb2_grpc as svc
from temporalio.api.cloud.namespace.v1 import Namespace
from temporalio.api.cloud.operation.v1 import AsyncOperation
from temporalio.api.cloud.resource.v1 import ResourceState

ACCOUNT = "acct1"


@dataclass
class FakeCloud(svc.CloudServiceServicer):  # type: ignore[misc]
    api_key: str = "cloud-key"
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    requests: list[tuple[str, Any]] = field(default_factory=list)
    operations: set[str] = field(default_factory=set)
    async_ops: bool = True

    def _auth(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        self.requests.append((method, request))
        md = dict(context.invocation_metadata() or ())
        if md.get("authorization") != f"Bearer {self.api_key}":
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "bad API key")

    def settle(self) -> None:
        """Finish every async operation (what Cloud does in the background)."""
        for ns in self.namespaces.values():
            if ns.state in (
                ResourceState.RESOURCE_STATE_ACTIVATING,
                ResourceState.RESOURCE_STATE_UPDATING,
            ):
                ns.state = ResourceState.RESOURCE_STATE_ACTIVE

    def _op(self, op_id: str) -> AsyncOperation:
        return AsyncOperation(id=op_id or uuid.uuid4().hex)

    def _find(self, namespace: str) -> Namespace:
        ns = self.namespaces.get(namespace)
        if ns is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"namespace {namespace} not found")
        return ns

    def _busy(self) -> ResourceState.ValueType:
        return (
            ResourceState.RESOURCE_STATE_UPDATING
            if self.async_ops
            else ResourceState.RESOURCE_STATE_ACTIVE
        )

    async def GetNamespaces(self, request: Any, context: Any) -> GetNamespacesResponse:
        return await _guard(context, self._get_namespaces, request, context)

    def _get_namespaces(self, request: Any, context: Any) -> GetNamespacesResponse:
        self._auth("GetNamespaces", request, context)
        names = sorted(self.namespaces)
        start = int(request.page_token or 0)
        size = request.page_size or 100
        page = names[start : start + size]
        token = str(start + size) if start + size < len(names) else ""
        return GetNamespacesResponse(
            namespaces=[self.namespaces[n] for n in page], next_page_token=token
        )

    async def GetNamespace(self, request: Any, context: Any) -> GetNamespaceResponse:
        return await _guard(context, self._get_namespace, request, context)

    def _get_namespace(self, request: Any, context: Any) -> GetNamespaceResponse:
        self._auth("GetNamespace", request, context)
        return GetNamespaceResponse(namespace=self._find(request.namespace))

    async def CreateNamespace(self, request: Any, context: Any) -> CreateNamespaceResponse:
        return await _guard(context, self._create, request, context)

    def _create(self, request: Any, context: Any) -> CreateNamespaceResponse:
        self._auth("CreateNamespace", request, context)
        ns_id = f"{request.spec.name}.{ACCOUNT}"
        if request.async_operation_id and request.async_operation_id in self.operations:
            return CreateNamespaceResponse(
                namespace=ns_id, async_operation=self._op(request.async_operation_id)
            )
        if ns_id in self.namespaces:
            raise _Abort(grpc.StatusCode.ALREADY_EXISTS, f"namespace {ns_id} exists")
        if not request.spec.regions or request.spec.retention_days < 1:
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT, "regions and retention_days are required"
            )
        self.operations.add(request.async_operation_id)
        self.namespaces[ns_id] = Namespace(
            namespace=ns_id,
            resource_version=uuid.uuid4().hex,
            spec=request.spec,
            state=ResourceState.RESOURCE_STATE_ACTIVATING
            if self.async_ops
            else ResourceState.RESOURCE_STATE_ACTIVE,
            tags=dict(request.tags),
        )
        return CreateNamespaceResponse(
            namespace=ns_id, async_operation=self._op(request.async_operation_id)
        )

    async def UpdateNamespace(self, request: Any, context: Any) -> UpdateNamespaceResponse:
        return await _guard(context, self._update, request, context)

    def _update(self, request: Any, context: Any) -> UpdateNamespaceResponse:
        self._auth("UpdateNamespace", request, context)
        ns = self._find(request.namespace)
        if request.resource_version != ns.resource_version:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, "resource_version is stale")
        removed = set(ns.spec.search_attributes) - set(request.spec.search_attributes)
        if removed:
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"search attributes cannot be removed: {removed}"
            )
        ns.spec.CopyFrom(request.spec)
        ns.resource_version = uuid.uuid4().hex
        ns.state = self._busy()
        return UpdateNamespaceResponse(async_operation=self._op(request.async_operation_id))

    async def UpdateNamespaceTags(self, request: Any, context: Any) -> UpdateNamespaceTagsResponse:
        return await _guard(context, self._tags, request, context)

    def _tags(self, request: Any, context: Any) -> UpdateNamespaceTagsResponse:
        self._auth("UpdateNamespaceTags", request, context)
        ns = self._find(request.namespace)
        for k in request.tags_to_remove:
            ns.tags.pop(k, None)
        for k, v in request.tags_to_upsert.items():
            if not v:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"tag {k} has an empty value")
            ns.tags[k] = v
        return UpdateNamespaceTagsResponse(async_operation=self._op(request.async_operation_id))

    async def DeleteNamespace(self, request: Any, context: Any) -> DeleteNamespaceResponse:
        return await _guard(context, self._delete, request, context)

    def _delete(self, request: Any, context: Any) -> DeleteNamespaceResponse:
        self._auth("DeleteNamespace", request, context)
        ns = self._find(request.namespace)
        if request.resource_version != ns.resource_version:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, "resource_version is stale")
        del self.namespaces[request.namespace]
        return DeleteNamespaceResponse(async_operation=self._op(request.async_operation_id))

    def calls(self, *methods: str) -> list[str]:
        return [m for m, _ in self.requests if not methods or m in methods]


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code, self.details = code, details


async def _guard(context: grpc.aio.ServicerContext, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except _Abort as e:
        await context.abort(e.code, e.details)


async def serve(fake: FakeCloud) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    svc.add_CloudServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"
