"""The policy file's schema (``policy.yaml``), validated by Pydantic.

The policy is what the proxy and the codec server enforce: who the callers are
(API keys stored hashed, JWTs verified against a JWKS file), which roles each
team holds on which logical namespaces, and which regions and environments a
caller may reach besides its own. It is loaded with
``paved.specs.load_model`` so that a mistake is reported with its file and
line. Every model forbids unknown keys: a typo is an error, not a silent
default (in a policy, a silent default would be a hole).

Example::

    version: 1
    teams:
      imagegen:
        namespaces:
          imagegen: [read, write, worker, decode]
          shared: [read]
      platform:
        namespaces:
          "*": [read, write, worker, admin, decode]
    principals:
      - name: imagegen-worker-eu
        team: imagegen
        kind: service
        region: eu
        environment: prod
        api_keys:
          - id: k1
            hash: "sha256:9f86d0..."
      - name: alice
        team: imagegen
        kind: human
        region: us
        environment: prod
        roles: [read]             # narrows the team's roles for this person
        regions: [us, eu]         # may reach these regions (default: own region)
    jwt:
      jwks_file: jwks.json        # relative to the policy file
      issuer: https://sso.example
      audience: paved
    residency:
      allow:
        - {from: eu, to: us}      # any EU caller may reach US namespaces
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["read", "write", "worker", "admin", "decode", "approve"]
ROLES: tuple[str, ...] = ("read", "write", "worker", "admin", "decode", "approve")
Kind = Literal["service", "human"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiKeyEntry(_Strict):
    """One API key, stored as a hash of the whole key (never the key itself)."""

    id: str = Field(
        min_length=1, description="a name for the key, shown in logs instead of the key"
    )
    hash: str = Field(description="'sha256:<64 hex>' of the key; see `paved policy new-key`")
    revoked: bool = False
    expires: datetime | None = None
    # The hash format is checked in _policy._check_consistency, not here: a
    # Pydantic error would echo the value, and a key pasted by mistake must not
    # be printed back.


class PrincipalConfig(_Strict):
    """A named caller: a service (worker, front end) or a human."""

    name: str = Field(min_length=1)
    team: str = Field(min_length=1)
    kind: Kind = "service"
    region: str = "local"
    environment: str = "dev"
    roles: list[Role] | None = Field(
        default=None, description="if set, only these of the team's roles apply to this principal"
    )
    regions: list[str] | None = Field(
        default=None, description="regions it may reach (default: its own)"
    )
    environments: list[str] | None = Field(
        default=None, description="environments it may reach (default: its own)"
    )
    api_keys: list[ApiKeyEntry] = Field(default_factory=list)


class TeamConfig(_Strict):
    """Roles a team holds, per logical namespace (``"*"`` = every namespace)."""

    namespaces: dict[str, list[Role]] = Field(default_factory=dict)


class JwtClaims(_Strict):
    """Which JWT claims give the principal's fields."""

    name: str = "sub"
    team: str = "team"
    kind: str = "kind"
    region: str = "region"
    environment: str = "environment"


class JwtConfig(_Strict):
    """JWT verification: keys from a JWKS file, optional issuer and audience."""

    jwks_file: str
    issuer: str | None = None
    audience: str | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "EdDSA"], min_length=1)
    claims: JwtClaims = JwtClaims()
    default_kind: Kind = "human"
    default_region: str | None = None
    default_environment: str | None = None
    leeway_seconds: float = Field(default=0, ge=0)

    @field_validator("algorithms")
    @classmethod
    def _no_symmetric_none(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a.lower() == "none" or a.upper().startswith("HS")]
        if bad:
            raise ValueError(
                f"algorithms {bad} are not allowed: use asymmetric keys (RS*, ES*, PS*, EdDSA)"
            )
        return v


class ResidencyRule(_Strict):
    """Callers from region ``from`` may reach namespaces in region ``to``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_region: str = Field(alias="from")
    to_region: str = Field(alias="to")
    teams: list[str] | None = Field(
        default=None, description="only these teams (default: every team)"
    )


class ResidencyConfig(_Strict):
    allow: list[ResidencyRule] = Field(default_factory=list)


class PolicyFile(_Strict):
    """``policy.yaml``."""

    version: Literal[1] = 1
    teams: dict[str, TeamConfig] = Field(default_factory=dict)
    principals: list[PrincipalConfig] = Field(default_factory=list)
    jwt: JwtConfig | None = None
    residency: ResidencyConfig = ResidencyConfig()
