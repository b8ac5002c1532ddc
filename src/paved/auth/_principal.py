"""``Principal``: an authenticated caller, as ``Policy.authenticate_bearer`` returns it.

Made by ``_policy.py`` (from an API key's policy entry or a verified JWT) and
read by the one authorization decision (``_decide.py``), the proxy's access
log and the codec server. It holds nothing secret: ``credential_id`` is the
key's id or the JWT's ``jti``, never the token.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        name: the principal's name (policy entry or JWT subject).
        team: the team whose roles apply.
        kind: "service" or "human".
        region, environment: home region and environment; they select the
            physical namespace the proxy routes to.
        regions, environments: what it may reach (always includes its own).
        roles: if not None, only these of the team's roles apply.
        via: "api_key" or "jwt".
        credential_id: key id or JWT ``jti``/subject: safe to log.
        expires_at: Unix time the credential expires (None: it does not).
    """

    name: str
    team: str
    kind: str
    region: str
    environment: str
    regions: frozenset[str] = field(default_factory=frozenset)
    environments: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] | None = None
    via: str = "api_key"
    credential_id: str = ""
    expires_at: float | None = None
