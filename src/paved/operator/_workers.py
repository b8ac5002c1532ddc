"""Target: the local workers, as units of a ``ReplicaSet`` (``_replicas.py``).

Desired: one unit per worker of ``specs/workers.yaml`` with its replica count and
the fingerprint of its process template (``paved worker run NAME`` with the
environment the caller gives: ``paved dev``'s proxy address and credentials).
Apply: ``define`` (a new worker, or a changed template: its replicas restart one
by one), ``set_desired`` (a changed count), ``remove`` (a worker gone from the
specs: its replicas are drained: SIGTERM, in-flight activities finish, SIGKILL
only after the drain time). The replica set's own loop starts, restarts and
drains the processes; this target only states the wish, so a pass is cheap.

Ownership: only units this target defined are read back; the other units of
the same replica set (``paved dev``'s proxy, codec server, services) are not
the operator's and are never touched.

Autoscaling: once ``autoscaled(worker)`` says a worker's replicas are driven by
the autoscaler, the count is left out of the desired spec, so the operator
never writes it (the HPA-fight rule, kept locally too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from paved.operator._replicas import ProcessTemplate, ReplicaSet
from paved.operator._target import Change, Desired, Inputs, Observed, Op, Snapshot
from paved.specs import WorkerSpec

WORKER = "worker"


def fingerprint(template: ProcessTemplate) -> str:
    """A short digest of everything that makes a replica (argv, environment, cwd, ...)."""
    env = sorted(template.env.items())
    return hashlib.sha256(repr((template.argv, env, template.cwd, template.health_url,
                                template.drain_seconds)).encode()).hexdigest()[:16]  # fmt: skip


class WorkerReplicas:
    """The ``Target`` for local managed workers.

    Args:
        replicas: the replica set that runs them (its loop runs elsewhere: ``paved dev``).
        template: the process template of one replica of a worker; None leaves the
            worker out (e.g. its namespace does not exist in this environment).
        autoscaled: True for workers whose replica count someone else owns (the
            autoscaler; ``paved dev``'s crash watch while it holds a crash loop).
    """

    kinds = (WORKER,)
    deprecate_first: frozenset[str] = frozenset()

    def __init__(
        self,
        replicas: ReplicaSet,
        template: Callable[[WorkerSpec], ProcessTemplate | None],
        *,
        name: str = "workers",
        autoscaled: Callable[[str], bool] = lambda _w: False,
    ) -> None:
        self.name = name
        self.replicas = replicas
        self._template = template
        self._autoscaled = autoscaled
        self._templates: dict[str, ProcessTemplate] = {}
        self._owned: dict[str, str] = {}  # unit -> fingerprint of the template it runs
        self.writes = 0

    def desired(self, inputs: Inputs) -> list[Desired]:
        out = []
        for w in inputs.specs.workers.workers:
            t = self._template(w)
            if t is None:
                continue
            self._templates[w.name] = t
            spec: dict[str, object] = {"template": fingerprint(t)}
            if not self._autoscaled(w.name):
                spec["replicas"] = w.replicas
            out.append(Desired(WORKER, w.name, spec))
        return out

    async def observe(self, desired: Sequence[Desired]) -> Snapshot:
        counts = self.replicas.desired()
        states: dict[str, list[str]] = {}
        for s in self.replicas.status():
            states.setdefault(s.unit, []).append(s.state)
        objs = []
        for unit, fp in self._owned.items():
            if unit not in counts:
                continue  # removed and drained
            st = states.get(unit, [])
            objs.append(
                Observed(
                    WORKER,
                    unit,
                    {
                        "template": fp,
                        "replicas": counts[unit],
                        "running": st.count("running"),
                        "states": sorted(set(st)),
                    },
                    in_use=0,
                )
            )
        return Snapshot(objs)

    async def apply(self, change: Change) -> None:
        self.writes += 1
        unit = change.name
        if change.op == Op.DELETE:
            self.replicas.remove(unit)
            self._owned.pop(unit, None)
            return
        assert change.desired is not None
        spec = change.desired.spec
        template = self._templates[unit]
        replicas = spec.get("replicas")
        self.replicas.define(unit, template, int(str(replicas)) if replicas is not None else None)
        self._owned[unit] = str(spec["template"])
