"""Plain-text rendering of signals and a decision (``paved autoscale explain``)."""

from __future__ import annotations

from paved.autoscale._decide import slot_utilization
from paved.autoscale._model import Decision, Policy, Signals


def _num(v: float | int | None, fmt: str = "{:.2f}") -> str:
    return "missing" if v is None else fmt.format(v)


def explain_lines(signals: Signals, decision: Decision, policy: Policy) -> list[str]:
    """What was measured, what the policy is, what was decided and why."""
    out = [
        f"worker {signals.worker}: {decision.action.upper()} {decision.current} -> {decision.desired}"
    ]
    out.append(f"  reason: {decision.reason}")
    for h in decision.holds[1:]:
        out.append(f"  also holding: {h}")
    out.append(
        f"  policy: replicas {policy.min_replicas}..{policy.max_replicas}, target utilisation "
        f"{policy.target_utilization:g}, up at most x{policy.max_scale_up_factor:g} per step, "
        f"down after {policy.scale_down_after_seconds:g}s quiet, CPU saturation "
        f"{policy.cpu_saturation:g} core"
    )
    out.append("  signals:")
    for q in signals.queues:
        out.append(
            f"    {q.task_queue} ({q.kind}, {q.slots_per_replica} slots/replica): "
            f"backlog {_num(q.backlog, '{}')}, oldest {_num(q.backlog_age_seconds, '{:.1f}s')}, "
            f"add {_num(q.add_rate, '{:.2f}/s')}, dispatch {_num(q.dispatch_rate, '{:.2f}/s')}, "
            f"slots used {_num(q.slots_used, '{}')} / free {_num(q.slots_available, '{}')}, "
            f"mean task {_num(q.mean_task_seconds, '{:.2f}s')}"
            + (", RATE LIMITED by Temporal" if q.rate_limiting_active else "")
        )
    util = slot_utilization(signals)
    out.append(
        f"    replicas reporting {signals.replicas_reporting}; CPU {_num(signals.cpu, '{:.2f} cores')} "
        f"per replica; slot utilisation {_num(util, '{:.0%}')}"
    )
    limited = {None: "unknown (no proxy)", True: "yes", False: "no"}[signals.namespace_limited]
    out.append(
        f"    namespace rate-limited: {limited}; usage {_num(signals.namespace_usage, '{:.0%}')} "
        f"of its request limit; dependency refusals {_num(signals.dependency_refusals, '{:.2f}/s')}"
    )
    for src in signals.sources:
        out.append(f"    source: {src}")
    for m in signals.missing:
        out.append(f"    MISSING: {m}")
    for d in decision.details:
        out.append(f"    demand: {d}")
    return out
