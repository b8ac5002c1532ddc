"""Spec models and their generation from code (``paved gen``)."""

from paved.specs._defaults import (
    DEFAULT_RETENTION,
    DEFAULT_TIER,
    TIERS,
    WORKER_HTTP_PORT,
    WORKER_UID,
)
from paved.specs._model import (
    SPEC_VERSION,
    NamespaceConfig,
    NamespacesFile,
    NamespaceSpec,
    PhysicalNamespace,
    ProjectConfig,
    QueueSpec,
    RateLimit,
    ServiceConfig,
    TypeSpec,
    WorkerConfig,
    WorkersFile,
    WorkerSpec,
    WorkerTuning,
    WorkflowsFile,
    retention_days,
)
from paved.specs._project import PROJECT_FILE, SPEC_FILES, Project, Specs
from paved.specs._yamlio import dump, load_model

__all__ = [
    "DEFAULT_RETENTION",
    "DEFAULT_TIER",
    "PROJECT_FILE",
    "SPEC_FILES",
    "SPEC_VERSION",
    "TIERS",
    "WORKER_HTTP_PORT",
    "WORKER_UID",
    "NamespaceConfig",
    "NamespaceSpec",
    "NamespacesFile",
    "PhysicalNamespace",
    "Project",
    "ProjectConfig",
    "QueueSpec",
    "RateLimit",
    "ServiceConfig",
    "Specs",
    "TypeSpec",
    "WorkerConfig",
    "WorkerSpec",
    "WorkerTuning",
    "WorkersFile",
    "WorkflowsFile",
    "dump",
    "load_model",
    "retention_days",
]
