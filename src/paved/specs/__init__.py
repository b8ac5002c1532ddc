"""Spec models, their generation from code (``paved gen``), and ``Routes``: the one
logical <-> physical namespace map."""

import typing as _typing

from paved import _lazy

if _typing.TYPE_CHECKING:
    from paved._paths import PROJECT_FILE
    from paved.specs._clusters import (
        AutoscalerConfig,
        ClusterConfig,
        KubernetesEndpoint,
        TemporalEndpoint,
        cluster_for,
    )
    from paved.specs._defaults import (
        CAPACITY_DIR_ENV,
        CAPACITY_REDIS_ENV,
        DEFAULT_RETENTION,
        WORKER_HTTP_PORT,
        WORKER_UID,
    )
    from paved.specs._model import (
        SPEC_VERSION,
        CloudMetricsConfig,
        LoadStep,
        LoadTestConfig,
        NamespaceConfig,
        NamespacesFile,
        NamespaceSpec,
        ObservabilityConfig,
        OwnerRoute,
        PhysicalNamespace,
        ProjectConfig,
        QueueSpec,
        RateLimit,
        ReadinessConfig,
        ServiceConfig,
        StuckConfig,
        TypeSpec,
        WorkerConfig,
        WorkersFile,
        WorkerSpec,
        WorkerTuning,
        WorkflowsFile,
        capacity_prefetch_ceiling,
        retention_days,
    )
    from paved.specs._project import SPEC_FILES, Project, Specs
    from paved.specs._routes import Route, Routes
    from paved.specs._yamlio import dump, line_of, load_model

__all__ = [
    "CAPACITY_DIR_ENV",
    "CAPACITY_REDIS_ENV",
    "DEFAULT_RETENTION",
    "PROJECT_FILE",
    "SPEC_FILES",
    "SPEC_VERSION",
    "WORKER_HTTP_PORT",
    "WORKER_UID",
    "AutoscalerConfig",
    "CloudMetricsConfig",
    "ClusterConfig",
    "KubernetesEndpoint",
    "LoadStep",
    "LoadTestConfig",
    "NamespaceConfig",
    "NamespaceSpec",
    "NamespacesFile",
    "ObservabilityConfig",
    "OwnerRoute",
    "PhysicalNamespace",
    "Project",
    "ProjectConfig",
    "QueueSpec",
    "RateLimit",
    "ReadinessConfig",
    "Route",
    "Routes",
    "ServiceConfig",
    "Specs",
    "StuckConfig",
    "TemporalEndpoint",
    "TypeSpec",
    "WorkerConfig",
    "WorkerSpec",
    "WorkerTuning",
    "WorkersFile",
    "WorkflowsFile",
    "capacity_prefetch_ceiling",
    "cluster_for",
    "dump",
    "line_of",
    "load_model",
    "retention_days",
]

if not _typing.TYPE_CHECKING:  # type checkers see the imports above, exactly
    __getattr__, __dir__ = _lazy.exports(__name__, __file__)
