"""The operator: a level-based control loop that turns specs into real resources.

Targets (Temporal namespaces, Temporal Cloud, the proxy policy, workers) implement
one small interface, ``Target``; the pure ``diff`` decides, the reconciler applies.
``render_k8s`` renders a worker's Kubernetes manifests from its spec.
``ReplicaSet`` runs managed workers locally (also what ``paved dev`` runs them
with): real ``paved worker run`` processes, restarted with backoff, scaled to a
desired count, drained on scale-down; ``worker_template`` starts one replica.
"""

import typing as _typing

from paved import _lazy

if _typing.TYPE_CHECKING:
    from paved.operator._cloud import CloudNamespaces, cloud_region_of
    from paved.operator._clusters import cluster_targets
    from paved.operator._diff import Rules, diff, field_changes
    from paved.operator._identity import PolicyTarget, desired_policy
    from paved.operator._lease import FileLease, Lease, RedisLease
    from paved.operator._manifests import MANIFEST_FILES, render_k8s
    from paved.operator._metrics import Metrics
    from paved.operator._operator import Operator, OperatorSettings, load_inputs
    from paved.operator._reconcile import (
        Backoff,
        ObjectStatus,
        PassResult,
        Reconciler,
        TargetResult,
    )
    from paved.operator._replicas import (
        ProcessTemplate,
        ReplicaSet,
        ReplicaStatus,
        RestartBackoff,
        Zygote,
        worker_template,
    )
    from paved.operator._status import read_status, status_lines, status_path, write_status
    from paved.operator._target import (
        WRITE_OPS,
        Change,
        Desired,
        FieldChange,
        Inputs,
        Key,
        Observed,
        Op,
        OperatorError,
        Snapshot,
        Target,
        TerminalError,
    )
    from paved.operator._temporal import TemporalNamespaces, namespace_objects
    from paved.operator._workers import WorkerReplicas

__all__ = [
    "MANIFEST_FILES",
    "WRITE_OPS",
    "Backoff",
    "Change",
    "CloudNamespaces",
    "Desired",
    "FieldChange",
    "FileLease",
    "Inputs",
    "Key",
    "Lease",
    "Metrics",
    "ObjectStatus",
    "Observed",
    "Op",
    "Operator",
    "OperatorError",
    "OperatorSettings",
    "PassResult",
    "PolicyTarget",
    "ProcessTemplate",
    "Reconciler",
    "RedisLease",
    "ReplicaSet",
    "ReplicaStatus",
    "RestartBackoff",
    "Rules",
    "Snapshot",
    "Target",
    "TargetResult",
    "TemporalNamespaces",
    "TerminalError",
    "WorkerReplicas",
    "Zygote",
    "cloud_region_of",
    "cluster_targets",
    "desired_policy",
    "diff",
    "field_changes",
    "load_inputs",
    "namespace_objects",
    "read_status",
    "render_k8s",
    "status_lines",
    "status_path",
    "worker_template",
    "write_status",
]

if not _typing.TYPE_CHECKING:  # type checkers see the imports above, exactly
    __getattr__, __dir__ = _lazy.exports(__name__, __file__)
