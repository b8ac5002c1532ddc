"""Autoscaling a project's workers: which are autoscaled, where their signals are, explain.

``autoscaled_workers`` and ``scaled_worker`` read the policy from ``paved.yaml``
(``workers.<name>.autoscaler`` or the project's ``autoscaler``; a ``kind`` other
than ``none`` means autoscaled: by ``paved dev``'s loop locally, by the HPA or
KEDA ScaledObject the operator renders in Kubernetes). ``explain`` is
``paved autoscale explain``: it reads a running ``paved dev`` (its
``.paved/dev.json``, as ``paved.connect`` does, and the loop's
``.paved/autoscale.json``), the worker's signals now, and asks :func:`decide`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from paved import sdk, specs
from paved._errors import RuntimeSetupError
from paved.autoscale._decide import decide
from paved.autoscale._explain import explain_lines
from paved.autoscale._loop import ScaledWorker
from paved.autoscale._model import DecisionInput, Policy, Step
from paved.autoscale._signals import Collector, Target

# How often managed workers heartbeat to Temporal under `paved dev` (slots per worker).
HEARTBEAT_SECONDS = 2.0
# The loop's last pass, under the project's .paved/.
STATE_FILE = "autoscale.json"


def autoscaled_workers(project: specs.Project) -> list[specs.WorkerSpec]:
    """The workers whose policy asks for autoscaling (``autoscaler.kind`` not ``none``)."""
    return [
        w
        for w in project.specs().workers.workers
        if project.config.autoscaler_of(w.name).kind != "none"
    ]


def scaled_worker(
    project: specs.Project,
    worker: specs.WorkerSpec,
    environment: str,
    *,
    via_proxy: bool,
    proxy_metrics_url: str | None,
) -> ScaledWorker | None:
    """The worker's signals target and policy; None when it has no namespace in ``environment``."""
    routes = [
        r for r in project.routes().routes_of(worker.namespace) if r.environment == environment
    ]
    if not routes:
        return None
    home = project.config.regions[0]
    route = next((r for r in routes if r.region == home), routes[0])
    ns = project.specs().namespace(worker.namespace)
    target = Target(
        worker=worker,
        namespace=worker.namespace if via_proxy else route.physical,
        proxy_metrics_url=proxy_metrics_url,
        physical_namespace=route.physical,
        rate_limit=ns.rate_limit,
    )
    policy = Policy.of(project.config.autoscaler_of(worker.name), worker.capacity)
    return ScaledWorker(target, policy)


def read_state(project: specs.Project) -> dict[str, Any] | None:
    """The running loop's last pass (``.paved/autoscale.json``), or None."""
    try:
        data: dict[str, Any] = json.loads((project.state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data


async def explain(
    project: specs.Project, worker: str, *, environment: str = "dev", sample_seconds: float = 2.0
) -> list[str]:
    """Signals of ``worker`` read now (twice, ``sample_seconds`` apart, for rates), the
    decision its policy gives and why; plus what the running loop last did.

    Needs a running ``paved dev`` (its ``.paved/dev.json``: the proxy's address and
    key, the replicas' metrics URLs).
    """
    try:
        spec = project.specs().worker(worker)
    except Exception as e:
        raise RuntimeSetupError(
            f"no worker {worker!r} in specs/workers.yaml ({e})",
            code="PAVED-AUTOSCALE-WORKER",
            fix="use a worker name from `paved status`, or run `paved gen`",
        ) from None
    dev_json = project.state_dir / "dev.json"
    try:
        dev = json.loads(dev_json.read_text())
    except (OSError, ValueError):
        raise RuntimeSetupError(
            f"no running `paved dev` for {project.root} ({dev_json} missing)",
            code="PAVED-AUTOSCALE-NO-DEV",
            fix="start `paved dev` in the project first (explain reads the live signals)",
        ) from None
    urls = [
        u
        for name, u in dev.get("urls", {}).items()
        if name == f"worker {worker}" or name.startswith(f"worker {worker}#")
    ]
    replicas = sum(
        1
        for r in dev.get("replicas", [])
        if (r["name"] == f"worker {worker}" or r["name"].startswith(f"worker {worker}#"))
        and r["state"] in ("starting", "running")
    )
    config = project.config.autoscaler_of(worker)
    sw = scaled_worker(
        project, spec, environment, via_proxy=bool(dev.get("via_proxy")),
        proxy_metrics_url=dev.get("proxy_metrics"),
    )  # fmt: skip
    if sw is None:
        raise RuntimeSetupError(
            f"worker {worker!r}: its namespace {spec.namespace!r} has no physical namespace "
            f"in environment {environment!r}",
            code="PAVED-AUTOSCALE-WORKER",
            fix="pass the environment `paved dev` runs (--env)",
        )
    target = Target(
        worker=spec, namespace=sw.target.namespace, metrics_urls=tuple(urls),
        proxy_metrics_url=sw.target.proxy_metrics_url,
        physical_namespace=sw.target.physical_namespace, rate_limit=sw.target.rate_limit,
    )  # fmt: skip
    local = sdk.RuntimeEnv.local_dev(project.root)
    env = (
        local[0]
        if local is not None
        else sdk.RuntimeEnv(address=str(dev.get("address")), namespace=sw.target.namespace)
    )
    client = await sdk.connect(spec.namespace, env=env, codec=None)
    collector = Collector(client, heartbeat_stale_seconds=max(10.0, 4 * HEARTBEAT_SECONDS))
    try:
        await collector.collect(target)  # first sample: counters need two for a rate
        await asyncio.sleep(sample_seconds)
        signals = await collector.collect(target)
    finally:
        await collector.close()
    state = read_state(project)
    loop = (state or {}).get("workers", {}).get(worker)
    history: tuple[Step, ...] = ()
    current = replicas
    if loop is not None:
        history = tuple(Step(**s) for s in loop.get("history", ()))
        current = int(loop["decision"]["desired"])
    decision = decide(DecisionInput(signals, current, sw.policy, history, signals.at))
    lines = explain_lines(signals, decision, sw.policy)
    if config.kind == "none":
        lines.insert(
            1,
            "  (not autoscaled: autoscaler.kind is none in paved.yaml; this is what its "
            "policy would decide)",
        )
    elif loop is None:
        lines.insert(1, "  (the autoscaler loop of `paved dev` has not decided for it yet)")
    else:
        age = time.time() - float((state or {}).get("at", 0))
        lines.append(
            f"  loop: last decision {age:.0f}s ago: {loop['decision']['action']} -> "
            f"{loop['decision']['desired']}: {loop['decision']['reason']}"
        )
        events = [ev for ev in (state or {}).get("events", []) if ev["worker"] == worker][-5:]
        for ev in events:
            when = time.strftime("%H:%M:%S", time.localtime(ev["at"]))
            lines.append(f"  scaled {ev['before']} -> {ev['after']} at {when}")
    return lines
