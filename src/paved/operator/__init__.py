"""The operator: a level-based control loop that turns specs into real resources.

Targets (Temporal namespaces, Temporal Cloud, the proxy policy, workers) implement
one small interface, ``Target``; the pure ``diff`` decides, the reconciler applies.
``render_k8s`` renders a worker's Kubernetes manifests from its spec.
"""

from paved.operator._diff import Rules, diff, field_changes
from paved.operator._manifests import MANIFEST_FILES, render_k8s
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

__all__ = [
    "MANIFEST_FILES",
    "WRITE_OPS",
    "Change",
    "Desired",
    "FieldChange",
    "Inputs",
    "Key",
    "Observed",
    "Op",
    "OperatorError",
    "Rules",
    "Snapshot",
    "Target",
    "TerminalError",
    "diff",
    "field_changes",
    "render_k8s",
]
