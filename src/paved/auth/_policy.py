"""Authentication and authorization: ``Policy`` turns a bearer token into a
``Principal`` and answers "may this principal do <role> on <namespace>?".

Called by the proxy on every RPC (so both paths are cheap: an API key is one
SHA-256 and a dict look-up, a verified JWT is cached until it expires) and by
the codec server for the ``decode`` role. Deny by default: a role is granted
only when the principal's team lists it for the logical namespace (or ``"*"``)
and the principal's own ``roles`` (when set) include it.

Errors are ``AuthError`` with stable codes; messages name the key id or the
JWT problem, never the token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import yaml

from paved._errors import AuthError, ProjectError
from paved.auth import _decide
from paved.auth import _model as model
from paved.auth._decide import AccessRequest, Decision
from paved.auth._principal import Principal
from paved.specs import line_of, load_model

# Codes users and tests match on.
MISSING = "PAVED-AUTH-MISSING"
UNKNOWN_KEY = "PAVED-AUTH-UNKNOWN-KEY"
REVOKED = "PAVED-AUTH-REVOKED"
EXPIRED = "PAVED-AUTH-EXPIRED"
BAD_JWT = "PAVED-AUTH-BAD-JWT"
DENIED = "PAVED-AUTH-DENIED"
POLICY = "PAVED-AUTH-POLICY"

_JWT_CACHE_MAX = 10_000
_HEX64 = re.compile(r"[0-9a-f]{64}")


def hash_api_key(key: str) -> str:
    """The policy-file form of ``key``: ``"sha256:<hex>"``.

    A plain SHA-256 is enough because Paved's keys are 256-bit random strings
    (see ``new_api_key``): there is nothing to brute-force, and the proxy can
    hash on every call without a cache.
    """
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key(key_id: str) -> tuple[str, dict[str, str]]:
    """A fresh random API key and its policy entry ``{"id": ..., "hash": ...}``.

    Give the key to the caller once; store only the entry in ``policy.yaml``.
    """
    import secrets

    key = f"pvd_{secrets.token_urlsafe(32)}"
    return key, {"id": key_id, "hash": hash_api_key(key)}


def _looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2


@dataclass
class _KeyRecord:
    principal: Principal
    entry: model.ApiKeyEntry


class Policy:
    """A loaded, validated policy. Immutable: reload by loading a new one."""

    def __init__(
        self, config: model.PolicyFile, *, base_dir: Path | None = None, source: str = "<memory>"
    ) -> None:
        self.config = config
        self.source = source
        self._keys: dict[str, _KeyRecord] = {}
        for pc in config.principals:
            p = _principal_of(pc, via="api_key")
            for entry in pc.api_keys:
                self._keys[entry.hash.split(":", 1)[1]] = _KeyRecord(
                    replace(p, credential_id=entry.id, expires_at=_timestamp(entry.expires)),
                    entry,
                )
        cross: set[tuple[str, str, str | None]] = set()
        for rule in config.residency.allow:
            teams: list[str | None] = list(rule.teams) if rule.teams else [None]
            for team in teams:
                cross.add((rule.from_region, rule.to_region, team))
        self.grants = _decide.Grants(
            team_roles={
                team: {ns: frozenset(roles) for ns, roles in tc.namespaces.items()}
                for team, tc in config.teams.items()
            },
            cross_regions=frozenset(cross),
            revoked_keys=frozenset(
                k.id for pc in config.principals for k in pc.api_keys if k.revoked
            ),
        )
        self._jwks: dict[str, jwt.PyJWK] = {}
        self._jwks_default: jwt.PyJWK | None = None
        if config.jwt is not None:
            self._load_jwks(config.jwt, base_dir or Path.cwd())
        self._jwt_cache: dict[str, tuple[float, Principal]] = {}

    # ----- loading ---------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | str) -> Policy:
        """Load and validate ``policy.yaml``.

        Raises:
            ProjectError: the file is missing, not YAML, or invalid; the
                message names the file and line.
        """
        path = Path(path)
        try:
            config = load_model(path, model.PolicyFile, what="policy file")
        except ProjectError as e:
            raise ProjectError(e.message, code=e.code, fix="correct the entries above") from None
        _check_consistency(config, path)
        return cls(config, base_dir=path.parent, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_dir: Path | None = None) -> Policy:
        """Build a policy from plain data (tests, embedding)."""
        config = model.PolicyFile.model_validate(data)
        _check_consistency(config, None)
        return cls(config, base_dir=base_dir)

    def _load_jwks(self, jc: model.JwtConfig, base_dir: Path) -> None:
        p = Path(jc.jwks_file)
        if not p.is_absolute():
            p = base_dir / p
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            keyset = jwt.PyJWKSet.from_dict(data)
        except (OSError, ValueError, jwt.PyJWTError) as e:
            raise ProjectError(
                f"{p}: JWKS file cannot be read: {type(e).__name__}: {e}",
                code=POLICY,
                fix='point jwt.jwks_file at a JSON Web Key Set ({"keys": [...]})',
            ) from None
        for k in keyset.keys:
            if k.key_id:
                self._jwks[k.key_id] = k
        if len(keyset.keys) == 1:
            self._jwks_default = keyset.keys[0]

    # ----- authentication -----------------------------------------------------------

    def authenticate_bearer(self, token: str) -> Principal:
        """The principal of an API key or a JWT (``Bearer`` prefix optional).

        Raises:
            AuthError: missing token, unknown/revoked/expired key, or a JWT
                that is malformed, badly signed, expired or has wrong claims.
        """
        token = token.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise AuthError(
                "no credentials: send 'authorization: Bearer <api key or JWT>'", code=MISSING
            )
        if _looks_like_jwt(token):
            return self._authenticate_jwt(token)
        return self._authenticate_key(token)

    def _authenticate_key(self, key: str) -> Principal:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        rec = self._keys.get(digest)
        # compare_digest: the dict look-up already matched, but keep the final check constant-time
        if rec is None or not hmac.compare_digest(rec.entry.hash.split(":", 1)[1], digest):
            raise AuthError(
                "unknown API key", code=UNKNOWN_KEY, fix="create one with `paved policy new-key`"
            )
        if rec.entry.revoked:
            raise AuthError(
                f"API key {rec.entry.id!r} of {rec.principal.name!r} is revoked", code=REVOKED
            )
        if rec.entry.expires is not None:
            exp = (
                rec.entry.expires
                if rec.entry.expires.tzinfo
                else rec.entry.expires.replace(tzinfo=UTC)
            )
            if exp <= datetime.now(UTC):
                raise AuthError(
                    f"API key {rec.entry.id!r} of {rec.principal.name!r} has expired", code=EXPIRED
                )
        return rec.principal

    def _authenticate_jwt(self, token: str) -> Principal:
        now = time.time()
        hit = self._jwt_cache.get(token)
        if hit is not None:
            if hit[0] > now:
                return hit[1]
            del self._jwt_cache[token]
        jc = self.config.jwt
        if jc is None:
            raise AuthError("JWTs are not accepted by this policy (no jwt section)", code=BAD_JWT)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed JWT", code=BAD_JWT) from None
        kid = header.get("kid")
        key = self._jwks.get(kid) if kid else self._jwks_default
        if key is None:
            raise AuthError(f"JWT key id {kid!r} is not in the JWKS file", code=BAD_JWT)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=jc.algorithms,
                audience=jc.audience,
                issuer=jc.issuer,
                leeway=jc.leeway_seconds,
                options={"require": ["exp"], "verify_aud": jc.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("JWT has expired", code=EXPIRED, fix="get a fresh token") from None
        except jwt.PyJWTError as e:
            raise AuthError(f"JWT rejected: {type(e).__name__}: {e}", code=BAD_JWT) from None
        p = replace(self._principal_from_claims(jc, claims), expires_at=float(claims["exp"]))
        if len(self._jwt_cache) >= _JWT_CACHE_MAX:
            self._jwt_cache.clear()
        self._jwt_cache[token] = (float(claims["exp"]), p)
        return p

    def _principal_from_claims(self, jc: model.JwtConfig, claims: dict[str, Any]) -> Principal:
        c = jc.claims

        def claim(name: str, default: str | None) -> str:
            v = claims.get(name, default)
            if not isinstance(v, str) or not v:
                raise AuthError(f"JWT lacks the {name!r} claim", code=BAD_JWT)
            return v

        kind = claim(c.kind, jc.default_kind)
        if kind not in ("service", "human"):
            raise AuthError(f"JWT claim {c.kind!r} must be 'service' or 'human'", code=BAD_JWT)
        region = claim(c.region, jc.default_region)
        env = claim(c.environment, jc.default_environment)
        name = claim(c.name, None)
        # A JWT subject that is also a policy principal gets that entry's limits.
        known = next((pc for pc in self.config.principals if pc.name == name), None)
        if known is not None:
            base = _principal_of(known, via="jwt")
            return replace(base, credential_id=str(claims.get("jti", name)))
        return Principal(
            name=name,
            team=claim(c.team, None),
            kind=kind,
            region=region,
            environment=env,
            regions=frozenset([region]),
            environments=frozenset([env]),
            via="jwt",
            credential_id=str(claims.get("jti", name)),
        )

    # ----- authorization --------------------------------------------------------------

    def decide(self, request: AccessRequest) -> Decision:
        """The authorization decision every service asks (see ``paved.auth._decide``)."""
        return _decide.decide(self.grants, request)

    # The helpers below answer parts of that question for tests and tools; services ask
    # ``decide`` so that the roles, residency and credential checks stay together.

    def roles(self, principal: Principal, logical_namespace: str) -> frozenset[str]:
        """The roles ``principal`` holds on ``logical_namespace``."""
        return _decide.held_roles(self.grants, principal, logical_namespace)

    def allowed(self, principal: Principal, role: str, logical_namespace: str) -> bool:
        """Whether ``principal`` holds ``role`` on ``logical_namespace`` (deny by default)."""
        return self.decide(AccessRequest.of(principal, role, logical_namespace)).allowed

    def namespaces_with(self, principal: Principal, role: str) -> set[str] | None:
        """Logical namespaces where ``principal`` holds ``role``; None means every one ("*")."""
        if role in _decide.held_roles(self.grants, principal, _decide.EVERY_NAMESPACE):
            return None
        team = self.grants.team_roles.get(principal.team, {})
        return {ns for ns in team if role in _decide.held_roles(self.grants, principal, ns)}

    def may_reach(self, principal: Principal, region: str, environment: str) -> bool:
        """Residency: may ``principal`` reach a physical namespace in ``region``/``environment``?"""
        return _decide.reachable(self.grants, principal, region, environment)

    def principal(self, name: str, *, via: str = "local") -> Principal | None:
        """The configured principal ``name`` (None if absent), as if authenticated via ``via``."""
        for pc in self.config.principals:
            if pc.name == name:
                return _principal_of(pc, via=via)
        return None

    def principal_names(self) -> Iterable[str]:
        return (pc.name for pc in self.config.principals)


def _timestamp(when: datetime | None) -> float | None:
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _principal_of(pc: model.PrincipalConfig, *, via: str) -> Principal:
    return Principal(
        name=pc.name,
        team=pc.team,
        kind=pc.kind,
        region=pc.region,
        environment=pc.environment,
        regions=frozenset([pc.region, *(pc.regions or [])]),
        environments=frozenset([pc.environment, *(pc.environments or [])]),
        roles=frozenset(pc.roles) if pc.roles is not None else None,
        via=via,
        credential_id=pc.name,
    )


def _check_consistency(config: model.PolicyFile, path: Path | None) -> None:
    """Cross-entry checks Pydantic cannot do per field; errors name the line."""
    problems: list[tuple[tuple[int | str, ...], str]] = []
    seen_names: set[str] = set()
    seen_hashes: set[str] = set()
    seen_ids: set[str] = set()
    for i, pc in enumerate(config.principals):
        if pc.name in seen_names:
            problems.append((("principals", i, "name"), f"principal {pc.name!r} is listed twice"))
        seen_names.add(pc.name)
        if pc.team not in config.teams:
            problems.append(
                (("principals", i, "team"), f"team {pc.team!r} is not defined under teams:")
            )
        for j, k in enumerate(pc.api_keys):
            digest = k.hash.removeprefix("sha256:")
            if not k.hash.startswith("sha256:") or not _HEX64.fullmatch(digest):
                problems.append(
                    (
                        ("principals", i, "api_keys", j, "hash"),
                        f"key {k.id!r}: hash must be 'sha256:<64 hex digits>' (store the hash, never the key)",
                    )
                )
            if k.hash in seen_hashes:
                problems.append(
                    (("principals", i, "api_keys", j, "hash"), "the same key hash is used twice")
                )
            if k.id in seen_ids:
                problems.append(
                    (("principals", i, "api_keys", j, "id"), f"key id {k.id!r} is used twice")
                )
            seen_hashes.add(k.hash)
            seen_ids.add(k.id)
    if not problems:
        return
    node = None
    if path is not None:
        try:
            node = yaml.compose(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            node = None
    lines = []
    for loc, msg in problems:
        line = line_of(node, loc)
        where = f"{path}:{line}" if path is not None and line else str(path or "<policy>")
        lines.append(f"{where}: {msg}")
    raise ProjectError(
        f"policy file {path or '<policy>'} is invalid:\n  " + "\n  ".join(lines),
        code=POLICY,
        fix="correct the entries above",
    )
