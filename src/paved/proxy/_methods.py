"""The RPC table: every method of Temporal's WorkflowService and OperatorService,
with its request/response classes and what the proxy requires to let it through.

Built once from the protobuf service descriptors of ``temporalio.api``, so a
method Temporal adds is known by name at once, and is denied until it is
classified here (deny by default: ``roles`` empty means nobody may call it).
``tests/proxy/test_methods.py`` fails when a method of the installed
``temporalio.api`` is left unclassified, so an upgrade cannot silently open or
close a door.

Kinds:
    namespaced  the request names a namespace; the caller needs one of ``roles`` on it.
    system      no namespace; any authenticated caller (GetSystemInfo, GetClusterInfo).
    global      no namespace, cluster-wide admin (remote clusters, Nexus endpoints):
                needs ``admin`` on every namespace (``"*"``).
    list_ns     ListNamespaces: any authenticated caller, response filtered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from temporalio.api.operatorservice.v1 import service_pb2 as operator_service
from temporalio.api.workflowservice.v1 import service_pb2 as workflow_service

WORKFLOW_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"
OPERATOR_SERVICE = "temporal.api.operatorservice.v1.OperatorService"
HEALTH_SERVICE = "grpc.health.v1.Health"

READ = frozenset({"read"})
WRITE = frozenset({"write"})
WORKER = frozenset({"worker"})
ADMIN = frozenset({"admin"})

# Explicit classification. Rules below cover the regular names; these win.
_EXPLICIT: dict[str, tuple[str, frozenset[str]]] = {
    # no namespace
    "GetSystemInfo": ("system", frozenset()),
    "GetClusterInfo": ("system", frozenset()),
    "ListNamespaces": ("list_ns", frozenset()),
    "GetSearchAttributes": ("global", ADMIN),
    "AddOrUpdateRemoteCluster": ("global", ADMIN),
    "RemoveRemoteCluster": ("global", ADMIN),
    "ListClusters": ("global", ADMIN),
    "GetNexusEndpoint": ("global", ADMIN),
    "CreateNexusEndpoint": ("global", ADMIN),
    "UpdateNexusEndpoint": ("global", ADMIN),
    "DeleteNexusEndpoint": ("global", ADMIN),
    "ListNexusEndpoints": ("global", ADMIN),
    # workers describe their namespace at start and page through long histories
    "DescribeNamespace": ("namespaced", frozenset({"read", "write", "worker", "admin"})),
    "GetWorkflowExecutionHistory": ("namespaced", frozenset({"read", "worker"})),
    "GetWorkflowExecutionHistoryReverse": ("namespaced", READ),
    # namespace operations
    "RegisterNamespace": ("namespaced", ADMIN),
    "UpdateNamespace": ("namespaced", ADMIN),
    "DeprecateNamespace": ("namespaced", ADMIN),
    "DeleteNamespace": ("namespaced", ADMIN),
    "AddSearchAttributes": ("namespaced", ADMIN),
    "RemoveSearchAttributes": ("namespaced", ADMIN),
    "ListSearchAttributes": ("namespaced", frozenset({"read", "admin"})),
    "UpdateWorkerBuildIdCompatibility": ("namespaced", ADMIN),
    "UpdateWorkerVersioningRules": ("namespaced", ADMIN),
    "UpdateTaskQueueConfig": ("namespaced", ADMIN),
    "UpdateWorkerConfig": ("namespaced", ADMIN),
    "SetCurrentDeployment": ("namespaced", ADMIN),
    "SetWorkerDeploymentCurrentVersion": ("namespaced", ADMIN),
    "SetWorkerDeploymentRampingVersion": ("namespaced", ADMIN),
    "SetWorkerDeploymentManager": ("namespaced", ADMIN),
    "CreateWorkerDeployment": ("namespaced", ADMIN),
    "CreateWorkerDeploymentVersion": ("namespaced", ADMIN),
    "DeleteWorkerDeployment": ("namespaced", ADMIN),
    "DeleteWorkerDeploymentVersion": ("namespaced", ADMIN),
    "UpdateWorkerDeploymentVersionComputeConfig": ("namespaced", ADMIN),
    "ValidateWorkerDeploymentVersionComputeConfig": ("namespaced", ADMIN),
    "UpdateWorkerDeploymentVersionMetadata": ("namespaced", ADMIN),
    "CreateWorkflowRule": ("namespaced", ADMIN),
    "DeleteWorkflowRule": ("namespaced", ADMIN),
    "TriggerWorkflowRule": ("namespaced", WRITE),
    # read: queries and waiting for results
    "QueryWorkflow": ("namespaced", READ),
    "PollWorkflowExecutionUpdate": ("namespaced", READ),
    "PollActivityExecution": ("namespaced", READ),
    "PollNexusOperationExecution": ("namespaced", READ),
    "PollWorkflowExecutionTimeSkipping": ("namespaced", READ),
    "ListScheduleMatchingTimes": ("namespaced", READ),
    "ScanWorkflowExecutions": ("namespaced", READ),
    "FetchWorkerConfig": ("namespaced", frozenset({"read", "worker"})),
    # worker: poll and respond
    "PollWorkflowTaskQueue": ("namespaced", WORKER),
    "PollActivityTaskQueue": ("namespaced", WORKER),
    "PollNexusTaskQueue": ("namespaced", WORKER),
    "ResetStickyTaskQueue": ("namespaced", WORKER),
    "ShutdownWorker": ("namespaced", WORKER),
    "RecordWorkerHeartbeat": ("namespaced", WORKER),
    # write
    "ExecuteMultiOperation": ("namespaced", WRITE),
    "UpdateWorkflowExecution": ("namespaced", WRITE),
    "UpdateWorkflowExecutionOptions": ("namespaced", WRITE),
    "UpdateActivityOptions": ("namespaced", WRITE),
    "UpdateActivityExecutionOptions": ("namespaced", WRITE),
    "CreateSchedule": ("namespaced", WRITE),
    "UpdateSchedule": ("namespaced", WRITE),
    "PatchSchedule": ("namespaced", WRITE),
    "DeleteSchedule": ("namespaced", WRITE),
    "StartBatchOperation": ("namespaced", WRITE),
    "StopBatchOperation": ("namespaced", WRITE),
}

_READ_PREFIXES = ("Describe", "Get", "List", "Count")
_WRITE_PREFIXES = (
    "Start",
    "Signal",
    "RequestCancel",
    "Terminate",
    "Reset",
    "Delete",
    "Pause",
    "Unpause",
)
_WORKER_PREFIXES = ("Respond", "RecordActivityTaskHeartbeat")

# Methods whose requests count as Temporal "actions" for actions-per-second limits.
_ACTION_ROLES = WRITE


@dataclass(frozen=True)
class Method:
    """One RPC the proxy serves."""

    service: str
    name: str
    path: str  # "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution"
    request_cls: Any
    response_cls: Any
    kind: str  # namespaced | system | global | list_ns
    roles: frozenset[str]
    has_task_token: bool
    long_poll: bool

    @property
    def is_action(self) -> bool:
        return bool(self.roles & _ACTION_ROLES) and self.kind == "namespaced"

    @property
    def is_worker(self) -> bool:
        return self.roles == WORKER or self.name.startswith(_WORKER_PREFIXES)


def classify(name: str, has_namespace: bool) -> tuple[str, frozenset[str]] | None:
    """(kind, roles) of a method name, or None when unclassified (denied)."""
    if name in _EXPLICIT:
        return _EXPLICIT[name]
    if not has_namespace:
        return None
    if name.startswith(_WORKER_PREFIXES):
        return ("namespaced", WORKER)
    if name.startswith(_READ_PREFIXES):
        return ("namespaced", READ)
    if name.startswith(_WRITE_PREFIXES):
        return ("namespaced", WRITE)
    return None


def _method(service: str, md: MethodDescriptor) -> Method:
    fields = {f.name for f in md.input_type.fields}
    cls = classify(md.name, "namespace" in fields)
    kind, roles = cls if cls is not None else ("namespaced", frozenset())
    return Method(
        service=service,
        name=md.name,
        path=f"/{service}/{md.name}",
        request_cls=message_factory.GetMessageClass(md.input_type),
        response_cls=message_factory.GetMessageClass(md.output_type),
        kind=kind,
        roles=roles,
        has_task_token="task_token" in fields,
        long_poll=md.name.startswith(
            ("PollWorkflowTaskQueue", "PollActivityTaskQueue", "PollNexusTaskQueue")
        )
        or md.name
        in ("PollWorkflowExecutionUpdate", "PollActivityExecution", "PollNexusOperationExecution"),
    )


def all_methods() -> dict[str, Method]:
    """Every method of both services, keyed by path."""
    out: dict[str, Method] = {}
    for mod, service in (
        (workflow_service, WORKFLOW_SERVICE),
        (operator_service, OPERATOR_SERVICE),
    ):
        sd = mod.DESCRIPTOR.services_by_name[service.rsplit(".", 1)[1]]
        for md in sd.methods:
            m = _method(service, md)
            out[m.path] = m
    return out


def unclassified() -> list[str]:
    """Methods the installed temporalio.api has that this table does not classify."""
    return sorted(m.path for m in all_methods().values() if not m.roles and m.kind == "namespaced")
