"""The one authorization decision: may this principal act with a role on a namespace, there?

Every service asks the same question the same way: the proxy for each call
(the method's roles on the logical namespace the call names, in the region and
environment it is routed to; ``write`` on another namespace a request names;
``admin`` on every namespace for cluster-wide methods; any role for a
``ListNamespaces`` entry) and the codec server for ``decode``/``write``. They
build one :class:`AccessRequest` and call :meth:`paved.auth.Policy.decide`,
which delegates to :func:`decide` here. The answer is a :class:`Decision` with a
reason that the caller puts in its access log and, when denied, in the message
the user sees (``PERMISSION_DENIED``, HTTP 403).

The decision is a pure function of the policy's grants and the request: no I/O,
no clock (the time comes in the request), so it is tested as a table
(``tests/auth/test_decide.py``). Deny by default, in this order:

1. the credential: a key revoked in the current policy, or a credential past
   its expiry, is refused (authentication already refuses both; this catches a
   principal held across a policy reload, such as a cached JWT or the codec
   server's local developer);
2. the role: one of ``roles`` must be held on ``namespace`` (``"*"`` asks for
   it on every namespace) by the principal's team, narrowed by the principal's
   own ``roles``;
3. residency: the environment must be the principal's own or one it lists; the
   region its own, one it lists, or one a residency rule opens to its region
   (for every team or for its team).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from paved.auth._principal import Principal

EVERY_NAMESPACE = "*"


@dataclass(frozen=True)
class AccessRequest:
    """One question for :func:`decide`.

    Attributes:
        principal: the authenticated caller.
        roles: the roles that would each suffice (a method's classification:
            ``{"read", "worker"}`` for a history fetch); empty = nobody may.
        namespace: the logical namespace, or ``"*"`` for "every namespace"
            (cluster-wide methods).
        region, environment: where the call goes; None when it goes nowhere
            physical (cluster-wide methods, the codec server), and residency is
            then not part of the decision.
        now: Unix time to judge credential expiry at (None: do not judge).
        action: what the caller tries, for the reason text (a method name).
    """

    principal: Principal
    roles: frozenset[str]
    namespace: str
    region: str | None = None
    environment: str | None = None
    now: float | None = None
    action: str = ""

    @classmethod
    def of(
        cls,
        principal: Principal,
        role: str | frozenset[str],
        namespace: str,
        region: str | None = None,
        environment: str | None = None,
        *,
        now: float | None = None,
        action: str = "",
    ) -> AccessRequest:
        """Build a request from one role name or a set of them."""
        roles = frozenset([role]) if isinstance(role, str) else role
        return cls(principal, roles, namespace, region, environment, now, action)


@dataclass(frozen=True)
class Decision:
    """The answer: ``allowed`` and why (safe to log and to show the caller)."""

    allowed: bool
    reason: str
    role: str = ""  # the role that granted it (allowed only)
    check: str = ""  # what refused it: "credential", "role" or "residency"

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class Grants:
    """The policy's grants, in the shape the decision reads (built once per policy)."""

    team_roles: Mapping[str, Mapping[str, frozenset[str]]]
    cross_regions: frozenset[tuple[str, str, str | None]]  # (from, to, team or None = all)
    revoked_keys: frozenset[str] = field(default_factory=frozenset)


def held_roles(grants: Grants, principal: Principal, namespace: str) -> frozenset[str]:
    """The roles ``principal`` holds on ``namespace`` (``"*"``: those held on every one)."""
    team = grants.team_roles.get(principal.team)
    if not team:
        return frozenset()
    every = team.get(EVERY_NAMESPACE, frozenset())
    held = every if namespace == EVERY_NAMESPACE else team.get(namespace, frozenset()) | every
    if principal.roles is not None:
        held &= principal.roles
    return held


def reachable(grants: Grants, principal: Principal, region: str, environment: str) -> bool:
    """Residency alone: may ``principal`` reach ``region``/``environment``?"""
    if environment != principal.environment and environment not in principal.environments:
        return False
    if region == principal.region or region in principal.regions:
        return True
    cross = grants.cross_regions
    return (principal.region, region, None) in cross or (
        principal.region,
        region,
        principal.team,
    ) in cross


def decide(grants: Grants, request: AccessRequest) -> Decision:
    """The authorization decision (see the module docstring for the rules)."""
    p = request.principal
    if p.via == "api_key" and p.credential_id in grants.revoked_keys:
        return Decision(False, f"API key {p.credential_id!r} is revoked", check="credential")
    if request.now is not None and p.expires_at is not None and p.expires_at <= request.now:
        return Decision(False, f"credential {p.credential_id!r} has expired", check="credential")
    ns = request.namespace
    where = "every namespace ('*')" if ns == EVERY_NAMESPACE else f"namespace {ns!r}"
    if not request.roles:
        return Decision(
            False, f"no role may do this on {where} (not allowed through Paved)", check="role"
        )
    held = held_roles(grants, p, ns)
    granted = sorted(held & request.roles)
    if not granted:
        need = " or ".join(sorted(request.roles))
        if p.roles is not None and not (p.roles & request.roles):
            has = f"{p.name}'s own roles are limited to {_names(p.roles)}"
        else:
            has = f"team {p.team} holds {_names(held)} there"
        return Decision(False, f"needs {need} on {where}; {has}", check="role")
    if request.region is not None and request.environment is not None:
        if not reachable(grants, p, request.region, request.environment):
            return Decision(
                False,
                f"residency: {p.name} ({p.region}/{p.environment}) may not reach "
                f"{request.region}/{request.environment}",
                check="residency",
            )
        there = f" in {request.region}/{request.environment}"
    else:
        there = ""
    return Decision(True, f"team {p.team} holds {granted[0]} on {where}{there}", role=granted[0])


def _names(roles: frozenset[str]) -> str:
    return ", ".join(sorted(roles)) if roles else "no role"
