"""The managed worker: ``paved worker run NAME`` bootstraps from the specs alone.

It reads ``specs/workers.yaml``, imports the modules listed for the worker, and
registers every workflow and activity the specs name for its queues: nobody
writes (or forgets) a registration list. A spec that names a type the code no
longer defines is an error at start, not a task that never gets polled.

One temporalio ``Worker`` runs per queue (workflow and activity queues are split
by default, so each scales on its own), with Paved's tuned defaults: poller
autoscaling, slot limits and cache size from the spec, ``paved`` and
``pydantic`` passed through the workflow sandbox. SIGTERM drains: workers stop
polling, in-flight activities get ``graceful_shutdown_seconds`` to finish.

Health and metrics are served over HTTP (see :mod:`paved.worker._http`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    FixedSizeSlotSupplier,
    PollerBehaviorAutoscaling,
    PollerBehaviorSimpleMaximum,
    Worker,
    WorkerTuner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from paved import sdk, specs
from paved._errors import ProjectError
from paved._net import free_port
from paved._proc import stop_on_signals
from paved.worker import _capacity, _permits, _prefetch
from paved.worker._refusals import RefusalCounter

log = logging.getLogger("paved.worker")

SANDBOX_PASSTHROUGH = ("paved", "pydantic", "pydantic_core", "annotated_types")


@dataclass
class Bootstrap:
    """What a managed worker registers, resolved from the specs and the code."""

    spec: specs.WorkerSpec
    namespace: specs.NamespaceSpec
    workflows: dict[str, list[type]] = field(default_factory=dict)  # queue -> classes
    activities: dict[str, list[Any]] = field(default_factory=dict)  # queue -> callables
    # queue -> activities its workflows run as local activities (Paved's local rule)
    local_activities: dict[str, list[Any]] = field(default_factory=dict)
    # temporalio plugins every Worker of this process carries (agent frameworks' integrations)
    plugins: list[Any] = field(default_factory=list)
    build_id: str = "dev"  # in the worker identity, /metrics and every call-site header
    # activity failures with a rate-limit marker (the autoscaler's "dependency refuses" signal)
    refusals: RefusalCounter = field(default_factory=RefusalCounter)
    # where a declared capacity's permits live (None: no capacity, or decided from the
    # spec alone by build_workers); the gate itself once build_workers made it
    capacity: _capacity.GatePlan | None = None
    gate: _capacity.CapacityGate | _capacity.SharedCapacityGate | None = None
    # queue -> adaptive activity slots of a worker with a declared capacity (/metrics)
    capacity_slots: dict[str, _prefetch.PrefetchSlots] = field(default_factory=dict)


def build_id(project: specs.Project) -> str:
    """``PAVED_BUILD_ID`` (set by CI or the image), else the project's git sha, else ``dev``.

    Replay reports name the build that recorded a history with it.
    """
    if os.environ.get("PAVED_BUILD_ID"):
        return os.environ["PAVED_BUILD_ID"]
    import subprocess

    try:
        r = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "dev"
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else "dev"


def bootstrap(project: specs.Project, name: str, env: sdk.RuntimeEnv | None = None) -> Bootstrap:
    """Import the worker's modules and resolve every type its queues serve.

    With ``env`` (where the process runs), also decide its capacity gate
    (:func:`capacity_plan`)."""
    loaded = project.specs()
    spec = loaded.worker(name)
    root = str(project.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    with sdk.project_scope(project.config.namespaces, project.config.packages):
        for module in spec.modules:
            try:
                importlib.import_module(module)
            except ImportError as e:
                raise ProjectError(
                    f"worker {name!r}: module {module!r} from specs/workers.yaml cannot be imported: {e}",
                    code="PAVED-WORKER-IMPORT",
                    fix="run `paved gen` if the code moved, and check the worker's image has the code",
                ) from e
    boot = Bootstrap(
        spec=spec, namespace=loaded.namespace(spec.namespace), build_id=build_id(project)
    )
    for q in spec.queues:
        boot.workflows[q.name] = _resolve(name, "workflow", q.workflows)
        boot.activities[q.name] = _resolve(name, "activity", q.activities)
        boot.local_activities[q.name] = _resolve(name, "activity", q.local_activities)
    _check_tiers(boot)
    if env is not None:
        boot.capacity = capacity_plan(project, spec, env)
    for warning in unlisted(project, spec):
        log.warning("%s", warning)
    return boot


def unlisted(project: specs.Project, spec: specs.WorkerSpec) -> list[ProjectError]:
    """Types the worker's imported code declares for it that its spec does not list.

    They are not registered: their tasks would fail with "not registered" until
    ``paved gen`` runs and the worker restarts. Said at start (a warning per type,
    with its ``file:line`` and the fix), not discovered in a stuck workflow.
    """
    listed = {
        (kind, n)
        for q in spec.queues
        for kind, names in (
            ("workflow", q.workflows),
            ("activity", q.activities),
            ("activity", q.local_activities),
        )
        for n in names
    }
    prefixes = tuple(project.config.packages)
    out = []
    for p in sdk.placements():
        in_project = p.module in prefixes or p.module.startswith(tuple(x + "." for x in prefixes))
        if p.worker != spec.name or not in_project or (p.kind, p.name) in listed:
            continue
        out.append(
            ProjectError(
                f"{p.source}: {p.kind} {p.name!r} is declared for worker {spec.name!r} but "
                f"{project.config.specs_dir}/workers.yaml does not list it: it is NOT registered "
                "(its tasks fail with 'not registered')",
                code="PAVED-WORKER-UNLISTED",
                fix="run `paved gen` and restart the worker (`paved dev` does both on save)",
            )
        )
    return out


def _check_tiers(boot: Bootstrap) -> None:
    """The code must read the specs' tier for its namespace (the same paved.yaml), or say why not.

    Workflows compute their activities' timeouts and retries from the tier the
    decorators read next to the code; refuse to start rather than run with another.
    """
    for objs in [*boot.workflows.values(), *boot.activities.values()]:
        for obj in objs:
            p = sdk.placement_of(obj)
            if p.tier is not None or p.namespace != boot.namespace.name:
                continue
            if p.namespace_tier != boot.namespace.tier:
                read = sdk.tier_of(p)  # PAVED-TIER-MISSING when the code found no tier
                raise ProjectError(
                    f"worker {boot.spec.name!r}: {p.kind} {p.name!r} reads tier {read} for namespace "
                    f"{p.namespace!r} from {p.project_file}, the specs say tier {boot.namespace.tier}",
                    code="PAVED-WORKER-TIER",
                    fix="run `paved gen` and commit specs/ (the specs are older than paved.yaml)",
                )


def _resolve(worker: str, kind: str, names: list[str]) -> list[Any]:
    """The decorated objects behind ``names``; a name the code lost is an error at start."""
    out = []
    for type_name in names:
        entry = sdk.definitions(kind).get(type_name)
        if entry is None:
            raise ProjectError(
                f"worker {worker!r}: {kind} {type_name!r} is in the specs but not in the code",
                code="PAVED-WORKER-STALE",
                fix="run `paved gen` and commit specs/",
            )
        out.append(entry[1])
    return out


def make_runtime(metrics_port: int | None) -> Runtime | None:
    """A temporalio Runtime exporting Core SDK metrics on loopback (scraped by /metrics).

    ``PAVED_WORKER_HEARTBEAT_SECONDS`` sets how often the worker heartbeats to
    Temporal (slots used/available per worker, read back with ``ListWorkers`` by
    the autoscaler); ``paved dev`` sets it low, temporalio's default is 60 s.
    """
    if metrics_port is None:
        return None
    extra: dict[str, Any] = {}
    beat = os.environ.get("PAVED_WORKER_HEARTBEAT_SECONDS")
    if beat:
        extra["worker_heartbeat_interval"] = timedelta(seconds=float(beat))
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"127.0.0.1:{metrics_port}", durations_as_seconds=True
            )
        ),
        **extra,
    )


def build_workers(client: Client, boot: Bootstrap, *, identity: str | None = None) -> list[Worker]:
    """One tuned temporalio Worker per queue of ``boot``."""
    tuning = boot.spec.tuning
    poller = PollerBehaviorAutoscaling(
        minimum=tuning.poller_min, maximum=tuning.poller_max, initial=tuning.poller_initial
    )
    gate = capacity_gate(boot)
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
    )
    workers = []
    for q in boot.spec.queues:
        wfs = boot.workflows.get(q.name, [])
        acts = boot.activities.get(q.name, [])
        local = [a for a in boot.local_activities.get(q.name, []) if a not in acts]
        kwargs: dict[str, Any] = {
            "task_queue": q.name,
            "workflows": wfs,
            "activities": acts + local,
            "workflow_runner": runner,
            "graceful_shutdown_timeout": timedelta(seconds=tuning.graceful_shutdown_seconds),
            "max_cached_workflows": tuning.max_cached_workflows if wfs else 0,
            "max_concurrent_workflow_tasks": tuning.max_concurrent_workflow_tasks,
            # with a declared capacity: the capacity + the prefetch (paved gen)
            "max_concurrent_activities": tuning.max_concurrent_activities,
            "workflow_task_poller_behavior": poller,
            "activity_task_poller_behavior": poller,
            "interceptors": [sdk.CallSiteInterceptor(boot.build_id), boot.refusals],
        }
        if local:
            kwargs["max_concurrent_local_activities"] = tuning.max_concurrent_activities
            if not acts:
                # A workflow queue: its local activities run inside workflow tasks; it
                # polls no activity tasks.
                kwargs["no_remote_activities"] = True
        if gate is not None and acts:
            # the activity slots follow rate x transit latency (_prefetch.py); they time
            # each task's stay in the gate and body, so they sit just before the gate
            kwargs["tuner"], slots = capacity_tuner(kwargs, gate.permits)
            boot.capacity_slots[q.name] = slots
            kwargs["interceptors"] += [slots, gate]
            if slots.ceiling > slots.floor:
                # Poll with every free slot: the slots, not Core's poller autoscaler, decide
                # how many tasks are in transit (measured: the autoscaler kept ~4 polls out
                # while a burst's starts slowed dispatch, however many slots were free).
                kwargs["activity_task_poller_behavior"] = PollerBehaviorSimpleMaximum(
                    slots.gate + slots.ceiling
                )
        if identity:
            kwargs["identity"] = f"{identity}@{q.name}"
        if boot.plugins:
            kwargs["plugins"] = boot.plugins
        # Sync activities need an executor; async ones do not.
        if any(not asyncio.iscoroutinefunction(a) for a in acts + local):
            from concurrent.futures import ThreadPoolExecutor

            kwargs["activity_executor"] = ThreadPoolExecutor(
                max_workers=tuning.max_concurrent_activities
            )
        workers.append(Worker(client, **kwargs))
    return workers


def capacity_tuner(
    kwargs: dict[str, Any], permits: int
) -> tuple[WorkerTuner, _prefetch.PrefetchSlots]:
    """Replace the fixed slot counts in ``kwargs`` by a tuner with adaptive activity slots.

    The floor is what ``paved gen`` wrote (``max_concurrent_activities`` = gate +
    ``specs.capacity_prefetch``); the ceiling is ``specs.capacity_prefetch_ceiling``,
    or the floor itself with ``PAVED_CAPACITY_PREFETCH=fixed`` (the slots as written, and
    Core's poller autoscaler: the worker as it was before the adaptive prefetch)."""
    slots = kwargs.pop("max_concurrent_activities")
    floor = max(0, slots - permits)
    mode = os.environ.get("PAVED_CAPACITY_PREFETCH", "adaptive")
    if mode not in ("adaptive", "fixed"):
        raise ProjectError(
            f"PAVED_CAPACITY_PREFETCH={mode!r} is not a prefetch mode",
            fix="set it to 'adaptive' (the default) or 'fixed', or unset it",
        )
    ceiling = floor if mode == "fixed" else max(floor, specs.capacity_prefetch_ceiling(permits))
    supplier = _prefetch.PrefetchSlots(permits, floor, ceiling)
    tuner = WorkerTuner.create_composite(
        workflow_supplier=FixedSizeSlotSupplier(kwargs.pop("max_concurrent_workflow_tasks")),
        activity_supplier=supplier,
        local_activity_supplier=FixedSizeSlotSupplier(
            kwargs.pop("max_concurrent_local_activities", 100)
        ),
        nexus_supplier=FixedSizeSlotSupplier(100),
    )
    return tuner, supplier


def capacity_plan(
    project: specs.Project, spec: specs.WorkerSpec, env: sdk.RuntimeEnv
) -> _capacity.GatePlan | None:
    """Where the permits of ``spec``'s declared capacity live (``paved.worker._capacity``).

    ``PAVED_CAPACITY_REDIS_URL`` (the operator renders it into the Deployment from
    ``clusters.<name>.kubernetes.capacity_redis_url``) shares them across hosts;
    ``PAVED_CAPACITY_DIR`` (set by ``paved dev``'s replica set) across the
    processes of this host; without either a lone replica keeps them in-process.
    The fleet is the worker in this project, region and environment.
    """
    auto = project.config.autoscaler_of(spec.name)
    return _capacity.plan_gate(
        _capacity.GateInput(
            worker=spec.name,
            capacity=spec.capacity,
            max_replicas=auto.max_replicas if auto.kind != "none" else spec.replicas,
            fleet=f"{project.config.project}:{spec.name}:{env.region}:{env.environment}",
            redis_url=os.environ.get(specs.CAPACITY_REDIS_ENV) or None,
            slot_dir=os.environ.get(specs.CAPACITY_DIR_ENV) or None,
        )
    )


def capacity_gate(boot: Bootstrap) -> _capacity.CapacityGate | _capacity.SharedCapacityGate | None:
    """The one gate of the process (kept on ``boot``), from ``boot.capacity``; without a
    plan, from the spec alone (its replicas, no shared store)."""
    if boot.gate is not None:
        return boot.gate
    plan = boot.capacity or _capacity.plan_gate(
        _capacity.GateInput(boot.spec.name, boot.spec.capacity, boot.spec.replicas)
    )
    if plan is None:
        return None
    if plan.warning is not None:
        log.warning("%s", plan.warning)
    boot.gate = _capacity.make_gate(plan)
    where = f" in {plan.where}" if plan.store == "files" else ""
    if plan.store == "redis":
        where = f" in Redis {_permits.redact(plan.where)} ({plan.fleet})"
    log.info(
        "worker %s: capacity gate of %d permit(s), %s%s",
        boot.spec.name,
        plan.permits,
        {"memory": "in-process", "files": "shared by this host's replicas (slot files)",
         "redis": "shared by the fleet"}[plan.store],
        where,
    )  # fmt: skip
    return boot.gate


async def connect_for(
    project: specs.Project, boot: Bootstrap, env: sdk.RuntimeEnv, runtime: Runtime | None
) -> Client:
    codec = sdk.default_codec(boot.namespace.name, project.state_dir)
    extra: dict[str, Any] = {}
    if runtime is not None:
        extra["runtime"] = runtime
    # Agent runtimes (paved.agents, imported by the worker's own modules when they
    # declare agents) say which payload converter and plugins this worker needs.
    agents = sys.modules.get("paved.agents")
    if agents is not None:
        setup = agents.worker_setup(boot.namespace.name, boot.spec.name, codec)
        boot.plugins = list(setup.plugins)
        if setup.data_converter is not None:
            extra["data_converter"] = setup.data_converter
    # The namespace is settled here, from the specs; the SDK then sends it as is.
    env = dataclasses.replace(env, namespace=namespace_for(boot, env))
    return await sdk.connect(boot.namespace.name, env=env, codec=codec, **extra)


def namespace_for(boot: Bootstrap, env: sdk.RuntimeEnv) -> str:
    """The namespace the worker polls: the logical name behind the proxy (which maps
    it), else the physical one the specs declare for this region and environment
    (``Routes``: read, never re-derived), else an explicit ``PAVED_NAMESPACE``."""
    logical = boot.namespace.name
    if env.via_proxy:
        return logical
    if env.namespace:
        return env.namespace
    routes = specs.Routes.from_specs([boot.namespace])
    return routes.require(logical, env.region, env.environment).physical


async def run(
    project: specs.Project,
    name: str,
    *,
    http_port: int | None = 0,
    env: sdk.RuntimeEnv | None = None,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run worker ``name`` until SIGTERM/SIGINT (or ``stop`` is set), then drain."""
    from paved.worker import _http

    env = env or sdk.RuntimeEnv.from_env()
    boot = bootstrap(project, name, env)
    metrics_port = free_port() if http_port is not None else None
    runtime = make_runtime(metrics_port)
    client = await connect_for(project, boot, env, runtime)
    workers = build_workers(client, boot, identity=f"{name}-{os.getpid()}@{boot.build_id}")
    stop = stop_on_signals(stop)
    server = None
    if http_port is not None:
        server, bound = await _http.serve(boot, workers, http_port, metrics_port)
        log.info("worker %s health and metrics on port %d", name, bound)
    tasks = [asyncio.create_task(w.run(), name=f"worker:{w.task_queue}") for w in workers]
    log.info(
        "worker %s polling %s in namespace %s at %s",
        name,
        ", ".join(w.task_queue for w in workers),
        client.namespace,
        env.address,
    )
    if ready is not None:
        ready.set()
    stop_task = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stop_task], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not stop_task and t.exception() is not None]
    log.info("worker %s draining (%d in-flight tasks allowed to finish)", name, len(workers))
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    stop_task.cancel()
    if server is not None:
        await server.cleanup()
    if failed:
        raise failed[0].exception()  # type: ignore[misc]


def serve_forever(project: specs.Project, name: str, *, http_port: int, log_level: str) -> None:
    """``paved worker run NAME``: log, run until SIGTERM, drain, exit the process.

    ``http_port`` 0 picks a free port, -1 serves no health/metrics. Never returns:
    exits without interpreter finalisation once drained (the Core SDK's native
    threads can still call into Python while it tears down, which crashes the
    process, exit -6, after a perfectly clean shutdown).
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(run(project, name, http_port=None if http_port < 0 else http_port))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
