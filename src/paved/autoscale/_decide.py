"""The autoscaling decision: one pure function of one input object.

``decide(DecisionInput) -> Decision``. No I/O, no clock, no randomness: the
loop (``_loop.py``), ``paved autoscale explain`` and the tests all ask it, and a
recorded trace replays to the same answer.

The default, per task queue of the worker (the busiest queue wins)::

    demand   = backlog + slots in use                       (what is there now)
    arriving = add rate x mean task time                    (Little's law: what keeps coming)
    replicas = max(demand, arriving) / (slots per replica x target utilisation)

clamped to ``[min_replicas, max_replicas]``. Up: at once, but at most
``max_scale_up_factor`` (x2) per step. Down: only after demand stayed below
the current replicas for ``scale_down_after_seconds`` (the quiet window); the
replica set drains the extra replicas (their in-flight activities finish).

It **holds** instead of scaling up when more replicas would not help, and says
why: the replicas are CPU-saturated while slots are free (a tuning problem),
the namespace is at its rate limit (a bigger namespace, not more workers), or
the dependency behind the activities refuses (429: more workers make it worse),
or demand exceeds the dependency's declared capacity (``workers.<name>.capacity``).
Missing or stale signals are named in the reason; the decision never scales
down on an incomplete picture and never invents a number.
"""

from __future__ import annotations

import math

from paved.autoscale._model import Action, Decision, DecisionInput, QueueSignals, Signals

_EPS = 1e-9


def decide(inp: DecisionInput) -> Decision:
    """Desired replicas and the reason, from signals, current replicas, policy and history."""
    s, p, cur = inp.signals, inp.policy, inp.current
    missing = s.missing
    note = f"; missing: {', '.join(missing)}" if missing else ""

    if cur < p.min_replicas or cur > p.max_replicas:
        target = min(max(cur, p.min_replicas), p.max_replicas)
        return Decision(
            desired=target,
            current=cur,
            action="up" if target > cur else "down",
            reason=f"{cur} replicas is outside the limits [{p.min_replicas}, {p.max_replicas}]: "
            f"set to {target}{note}",
            wanted=target,
            missing=missing,
        )

    rows = [(q, _replicas_for(q, p.target_utilization)) for q in s.queues]
    known = [(r[0], r[1], q) for q, r in rows if r is not None]
    details = tuple(_detail(q, r) for q, r in rows)
    if not known:
        return Decision(
            desired=cur,
            current=cur,
            action="hold",
            reason=f"no demand signal for any queue (backlog and slots unknown): keeping {cur} "
            f"replica(s), not guessing{note or '; missing: every queue signal'}",
            missing=missing,
            details=details,
        )
    raw, demand, q = max(known, key=lambda row: row[0])
    why = _why(q, demand, raw, p.target_utilization)
    capped = ""
    if (
        p.dependency_capacity is not None
        and q.kind == "activity"
        and demand > p.dependency_capacity
    ):
        # Beyond the dependency's declared concurrency, tasks wait on it, not on slots.
        uncapped = min(max(math.ceil(raw - _EPS), p.min_replicas), p.max_replicas)
        raw = p.dependency_capacity / (q.slots_per_replica * p.target_utilization)
        capped = (
            f"demand {demand:.0f} exceeds the dependency's declared capacity "
            f"{p.dependency_capacity} (workers.{s.worker}.capacity): more than {raw:.2f} "
            "replicas would only wait on it"
        )
        why += f"; capped at the declared capacity {p.dependency_capacity}"
    wanted = min(max(math.ceil(raw - _EPS), p.min_replicas), p.max_replicas)

    def decision(
        action: Action, desired: int, reason: str, holds: tuple[str, ...] = ()
    ) -> Decision:
        return Decision(desired=desired, current=cur, action=action, reason=reason + note,
                        wanted=wanted, demand=demand, holds=holds, missing=missing,
                        driver=q.task_queue, details=details)  # fmt: skip

    if wanted > cur:
        holds = hold_reasons(s, p.cpu_saturation, p.target_utilization, p.namespace_headroom)
        if holds:
            return decision(
                "hold", cur, f"hold at {cur} (demand asks for {wanted}): {holds[0]}", tuple(holds)
            )
        step_cap = max(cur + 1, math.floor(cur * p.max_scale_up_factor + _EPS))
        desired = min(wanted, step_cap)
        limited = (
            f" (step limited to x{p.max_scale_up_factor:g}; {wanted} wanted)"
            if desired < wanted
            else ""
        )
        return decision("up", desired, f"scale up {cur} -> {desired}{limited}: {why}")

    if capped and wanted <= cur < uncapped:
        return decision(
            "hold", cur, f"hold at {cur} (demand asks for {uncapped}): {capped}", (capped,)
        )

    if wanted < cur:
        incomplete = [x.task_queue for x in s.queues if x.backlog is None or x.slots_used is None]
        if incomplete:
            return decision(
                "wait",
                cur,
                f"not scaling down from {cur}: demand of {', '.join(incomplete)} is only partly known",
            )
        quiet_for = _quiet_for(inp, cur)
        window = p.scale_down_after_seconds
        if quiet_for + _EPS >= window:
            return decision(
                "down",
                wanted,
                f"scale down {cur} -> {wanted} (draining {cur - wanted}): {why}; "
                f"quiet for {quiet_for:.0f}s (window {window:.0f}s)",
            )
        return decision(
            "wait",
            cur,
            f"demand fits {wanted} replica(s): {why}; scaling down after the quiet window "
            f"({quiet_for:.0f}s of {window:.0f}s)",
        )

    return decision("steady", cur, f"steady at {cur}: {why}")


def hold_reasons(
    s: Signals, cpu_saturation: float, target_utilization: float, headroom: float
) -> list[str]:
    """Why more replicas would not help now (empty: they would)."""
    out: list[str] = []
    util = slot_utilization(s)
    if (
        s.cpu is not None
        and s.cpu >= cpu_saturation
        and util is not None
        and util < target_utilization
    ):
        out.append(
            f"CPU saturated ({s.cpu:.2f} cores per replica) while only {util:.0%} of slots are "
            "in use: the worker is CPU-starved, not short of replicas; tune it (fewer slots, "
            "blocking work off the event loop, more CPU per replica)"
        )
    limited_queues = [q.task_queue for q in s.queues if q.rate_limiting_active]
    if s.namespace_limited:
        out.append(
            "the namespace is at its rate limit (calls refused by the proxy's limiter): more "
            "workers only add calls; raise the namespace's rate_limit in paved.yaml (a bigger "
            "namespace), not the replicas"
        )
    elif s.namespace_usage is not None and s.namespace_usage >= headroom:
        out.append(
            f"the namespace uses {s.namespace_usage:.0%} of its rate limit (headroom ends at "
            f"{headroom:.0%}): raise the namespace's rate_limit before adding workers"
        )
    if limited_queues:
        out.append(
            f"Temporal is rate limiting dispatch on {', '.join(limited_queues)}: more pollers "
            "would wait on the same limit; raise the queue's or namespace's rate limit"
        )
    if s.dependency_refusals is not None and s.dependency_refusals > 0:
        out.append(
            f"the dependency behind the activities is refusing ({s.dependency_refusals:.2f} "
            "failures/s with a rate-limit marker, e.g. HTTP 429): more workers would add load "
            "where there is no capacity; let retries back off"
        )
    return out


def slot_utilization(s: Signals) -> float | None:
    """Used / (used + available) over the activity queues (else all queues); None if unknown."""
    qs = [q for q in s.queues if q.kind == "activity"] or list(s.queues)
    used = [q.slots_used for q in qs if q.slots_used is not None]
    avail = [q.slots_available for q in qs if q.slots_available is not None]
    if not used or not avail or sum(used) + sum(avail) == 0:
        return None
    return sum(used) / (sum(used) + sum(avail))


def _replicas_for(q: QueueSignals, target: float) -> tuple[float, float] | None:
    """(replicas, demand in slots) for one queue; None when neither backlog nor slots are known."""
    if q.backlog is None and q.slots_used is None:
        return None
    demand = float((q.backlog or 0) + (q.slots_used or 0))
    if q.add_rate is not None and q.mean_task_seconds is not None:
        demand = max(demand, q.add_rate * q.mean_task_seconds)
    return demand / (q.slots_per_replica * target), demand


def _why(q: QueueSignals, demand: float, raw: float, target: float) -> str:
    parts = [f"backlog {q.backlog if q.backlog is not None else '?'}",
             f"in use {q.slots_used if q.slots_used is not None else '?'}"]  # fmt: skip
    if q.add_rate is not None and q.mean_task_seconds is not None:
        parts.append(
            f"arriving {q.add_rate:.1f}/s x {q.mean_task_seconds:.1f}s = "
            f"{q.add_rate * q.mean_task_seconds:.1f}"
        )
    return (
        f"{q.task_queue}: demand {demand:.0f} slots ({', '.join(parts)}) / "
        f"({q.slots_per_replica} slots x {target:g}) = {raw:.2f} replicas"
    )


def _detail(q: QueueSignals, r: tuple[float, float] | None) -> str:
    if r is None:
        return f"{q.task_queue} ({q.kind}): no backlog or slot signal"
    return f"{q.task_queue} ({q.kind}): {r[1]:.0f} slots -> {r[0]:.2f} replicas"


def _quiet_for(inp: DecisionInput, current: int) -> float:
    """Seconds since demand last asked for ``current`` replicas or more (or since the
    history began); 0 without history (a fresh loop waits a full window)."""
    if not inp.history:
        return 0.0
    busy = [st.at for st in inp.history if st.wanted >= current or st.desired > current]
    since = max(busy) if busy else min(st.at for st in inp.history)
    return max(0.0, inp.now - since)
