"""Target: identity and permissions, the policy file every running proxy loads.

Desired: the hand-written ``policy.yaml`` (teams, principals, JWT, residency)
plus what the specs imply:

- each namespace's owner team holds ``read``, ``write``, ``worker`` and
  ``decode`` on it (added to whatever the hand-written policy grants);
- each worker gets one service principal per region and environment of its
  namespace, ``<worker>-<region>-<environment>``, of the owner team, narrowed to
  the ``worker`` role, with that home region and environment (the proxy routes
  its calls there). Keys are never generated here: a worker authenticates with
  a JWT whose subject is that name, or a key added to the hand-written policy.

Written to ``policy_out`` atomically (tmp + rename); running proxies reload a
changed policy file within ``policy_reload_seconds`` (2 s by default) and keep
the last good one if it were ever invalid, so no restart. Every intermediate
file is valid: teams are written before the principals that name them and
removed after them, and each write is validated with ``Policy`` first.

Ownership: the file starts with a header naming the operator's project; a
policy file without it (written by hand) is never overwritten.

The file is JSON, which is YAML: about 100x faster to write than block YAML for
hundreds of principals, and the proxy's YAML loader reads it unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from paved.auth import Policy
from paved.operator._target import (
    Change,
    Desired,
    Inputs,
    Observed,
    Op,
    Snapshot,
    TerminalError,
)

SETTINGS, TEAM, PRINCIPAL = "policy-settings", "team", "principal"
OWNER_ROLES = ["read", "write", "worker", "decode"]
_HEADER = "# Written by `paved operator` for project {project}: edit policy.yaml, not this file.\n"


def desired_policy(inputs: Inputs) -> dict[str, Any]:
    """The effective policy document ``inputs`` ask for (pure)."""
    src: Mapping[str, Any] = inputs.policy or {}
    teams: dict[str, dict[str, list[str]]] = {}
    for tname, t in (src.get("teams") or {}).items():
        teams[tname] = {
            ns: list(roles) for ns, roles in ((t or {}).get("namespaces") or {}).items()
        }
    for ns in inputs.specs.namespaces.namespaces:
        held = teams.setdefault(ns.owner, {}).setdefault(ns.name, [])
        held.extend(r for r in OWNER_ROLES if r not in held)
    principals: dict[str, dict[str, Any]] = {}
    for p in src.get("principals") or []:
        principals[str(p["name"])] = _plain(p)
    by_ns = {ns.name: ns for ns in inputs.specs.namespaces.namespaces}
    for w in inputs.specs.workers.workers:
        owner_ns = by_ns.get(w.namespace)
        if owner_ns is None:
            continue
        for phys in owner_ns.physical:
            name = f"{w.name}-{phys.region}-{phys.environment}"
            principals.setdefault(
                name,
                {
                    "name": name,
                    "team": w.owner if w.owner in teams else owner_ns.owner,
                    "kind": "service",
                    "region": phys.region,
                    "environment": phys.environment,
                    "roles": ["worker"],
                },
            )
    settings: dict[str, Any] = {"residency": _plain(src.get("residency") or {"allow": []})}
    jwt = src.get("jwt")
    if jwt:
        jwks = Path(jwt["jwks_file"])
        settings["jwt"] = {
            **jwt,
            "jwks_file": str(jwks if jwks.is_absolute() else inputs.root / jwks),
        }
    return {
        "settings": settings,
        "teams": {
            t: {"namespaces": {k: sorted(v) for k, v in sorted(n.items())}}
            for t, n in sorted(teams.items())
        },
        "principals": dict(sorted(principals.items())),
    }


def _plain(v: Any) -> Any:
    """As it reads back from the JSON file (dates become strings), so equal compares equal."""
    return json.loads(json.dumps(v, default=str))


class PolicyTarget:
    """The ``Target`` writing the proxies' policy file at ``path``."""

    kinds = (SETTINGS, TEAM, PRINCIPAL)
    deprecate_first: frozenset[str] = frozenset()
    cache_desired = True  # desired() reads the inputs only

    def __init__(self, path: Path, *, name: str = "policy") -> None:
        self.name = name
        self.path = path
        self.writes = 0
        self._project = ""
        self._doc: dict[str, Any] | None = None  # the file as last read or written

    def desired(self, inputs: Inputs) -> list[Desired]:
        self._project = inputs.project
        doc = desired_policy(inputs)
        out = [Desired(SETTINGS, "policy", doc["settings"])]
        out += [Desired(TEAM, n, t) for n, t in doc["teams"].items()]
        out += [Desired(PRINCIPAL, n, p) for n, p in doc["principals"].items()]
        return out

    async def observe(self, desired: Sequence[Desired]) -> Snapshot:
        if not self.path.exists():
            self._doc = {"version": 1, "teams": {}, "principals": []}
            return Snapshot(())
        text = self.path.read_text(encoding="utf-8")
        owned = text.startswith(_HEADER.format(project=self._project))
        body = "".join(line for line in text.splitlines(True) if not line.startswith("#"))
        try:
            doc = json.loads(body) if body.strip() else {}  # what this target writes
        except ValueError:
            import yaml  # a hand-written YAML policy (it is held, not parsed for writing)

            doc = yaml.safe_load(text) or {}
        if not owned:  # written by hand (or another project): everything in it is held
            self._doc = None
            return Snapshot([Observed(d.kind, d.name, {}, owned=False) for d in desired])
        self._doc = doc
        objs: list[Observed] = []
        settings = {k: doc[k] for k in ("residency", "jwt") if k in doc}
        settings.setdefault("residency", {"allow": []})
        objs.append(Observed(SETTINGS, "policy", settings))
        objs += [Observed(TEAM, n, t) for n, t in (doc.get("teams") or {}).items()]
        objs += [Observed(PRINCIPAL, str(p["name"]), p) for p in doc.get("principals") or []]
        return Snapshot(objs)

    async def apply(self, change: Change) -> None:
        if self._doc is None:
            raise TerminalError(
                f"{self.path} was not written by this operator; not overwritten",
                code="PAVED-OPERATOR-POLICY-OWNER",
                fix="move it away (the operator then writes it), or point --policy-out elsewhere",
            )
        doc = json.loads(json.dumps(self._doc))
        teams: dict[str, Any] = doc.setdefault("teams", {})
        principals: list[dict[str, Any]] = doc.setdefault("principals", [])
        spec = dict(change.desired.spec) if change.desired else {}
        if change.kind == SETTINGS:
            doc.pop("jwt", None)
            doc.update(spec)
        elif change.kind == TEAM:
            if change.op == Op.DELETE:
                teams.pop(change.name, None)
            else:
                teams[change.name] = spec
        elif change.kind == PRINCIPAL:
            principals[:] = [p for p in principals if p.get("name") != change.name]
            if change.op != Op.DELETE:
                principals.append(spec)
                principals.sort(key=lambda p: str(p.get("name")))
        try:
            Policy.from_dict({k: v for k, v in doc.items() if k != "version"} | {"version": 1})
        except Exception as e:
            raise TerminalError(
                f"policy after {change.op.value} {change.kind} {change.name} would be invalid: {e}",
                code="PAVED-OPERATOR-POLICY",
                fix="correct policy.yaml (the proxies keep the last good policy meanwhile)",
            ) from None
        self._write(doc)
        self._doc = doc

    def _write(self, doc: dict[str, Any]) -> None:
        self.writes += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        body = json.dumps(
            {"version": 1, **{k: v for k, v in doc.items() if k != "version"}},
            indent=1,
            sort_keys=True,
        )
        tmp.write_text(_HEADER.format(project=self._project) + body + "\n", encoding="utf-8")
        tmp.replace(self.path)
