"""paved.auth: API keys, JWTs against a JWKS file, roles, residency, policy file errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from paved import AuthError, ProjectError
from paved.auth import (
    BAD_JWT,
    EXPIRED,
    REVOKED,
    UNKNOWN_KEY,
    Policy,
    hash_api_key,
    new_api_key,
)

KEY, ENTRY = new_api_key("svc-key")
OLD_KEY, OLD_ENTRY = new_api_key("old-key")


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def policy_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwk["kid"] = "k1"
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    p = tmp_path / "policy.yaml"
    p.write_text(
        f"""
version: 1
teams:
  imagegen:
    namespaces:
      imagegen: [read, write, worker, decode]
      shared: [read]
  platform:
    namespaces:
      "*": [read, admin]
principals:
  - name: imagegen-worker
    team: imagegen
    region: eu
    environment: prod
    api_keys:
      - {{id: svc-key, hash: "{ENTRY["hash"]}"}}
      - {{id: old-key, hash: "{OLD_ENTRY["hash"]}", revoked: true}}
  - name: alice
    team: imagegen
    kind: human
    region: us
    environment: prod
    roles: [read]
    regions: [eu]
jwt:
  jwks_file: jwks.json
  issuer: https://sso.test
  audience: paved
residency:
  allow:
    - {{from: eu, to: us, teams: [platform]}}
"""
    )
    return p


def _token(key: rsa.RSAPrivateKey, **claims: object) -> str:
    base: dict[str, object] = {
        "iss": "https://sso.test",
        "aud": "paved",
        "exp": int(time.time()) + 300,
        "team": "platform",
        "region": "eu",
        "environment": "prod",
    }
    base.update(claims)
    return jwt.encode(base, key, algorithm="RS256", headers={"kid": "k1"})


def test_api_key_maps_to_principal_and_roles(policy_file: Path) -> None:
    policy = Policy.load(policy_file)
    p = policy.authenticate_bearer(f"Bearer {KEY}")
    assert (p.name, p.team, p.kind, p.region, p.environment) == (
        "imagegen-worker",
        "imagegen",
        "service",
        "eu",
        "prod",
    )
    assert p.credential_id == "svc-key"
    assert policy.allowed(p, "worker", "imagegen")
    assert policy.allowed(p, "read", "shared")
    assert not policy.allowed(p, "write", "shared")
    assert not policy.allowed(p, "admin", "imagegen")
    assert not policy.allowed(p, "read", "other")


def test_unknown_and_revoked_keys(policy_file: Path) -> None:
    policy = Policy.load(policy_file)
    with pytest.raises(AuthError) as e:
        policy.authenticate_bearer("pvd_not-a-key")
    assert e.value.code == UNKNOWN_KEY
    assert "pvd_not-a-key" not in str(e.value)
    with pytest.raises(AuthError) as e:
        policy.authenticate_bearer(OLD_KEY)
    assert e.value.code == REVOKED
    assert OLD_KEY not in str(e.value)


def test_jwt_principal_roles_and_residency(policy_file: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    policy = Policy.load(policy_file)
    p = policy.authenticate_bearer(_token(rsa_key, sub="bob"))
    assert (p.name, p.team, p.kind, p.via) == ("bob", "platform", "human", "jwt")
    assert policy.allowed(p, "admin", "anything")
    assert not policy.allowed(p, "write", "anything")
    # residency rule: platform's EU callers may reach US; imagegen's may not
    assert policy.may_reach(p, "us", "prod")
    worker = policy.authenticate_bearer(KEY)
    assert not policy.may_reach(worker, "us", "prod")
    assert policy.may_reach(worker, "eu", "prod")
    assert not policy.may_reach(worker, "eu", "staging")
    # a JWT subject that is a policy principal gets that entry's narrowed roles
    alice = policy.authenticate_bearer(_token(rsa_key, sub="alice"))
    assert policy.allowed(alice, "read", "imagegen")
    assert not policy.allowed(alice, "decode", "imagegen")
    assert policy.may_reach(alice, "eu", "prod")


def test_bad_jwts(policy_file: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    policy = Policy.load(policy_file)
    with pytest.raises(AuthError) as e:
        policy.authenticate_bearer(_token(rsa_key, sub="bob", exp=int(time.time()) - 10))
    assert e.value.code == EXPIRED
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for bad in (
        _token(other, sub="bob"),  # wrong signature
        _token(rsa_key, sub="bob", aud="someone-else"),
        _token(rsa_key, sub="bob", iss="https://evil"),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",  # alg none
        "eyJ.garbage.x",
    ):
        with pytest.raises(AuthError) as e:
            policy.authenticate_bearer(bad)
        assert e.value.code in (BAD_JWT, EXPIRED), bad


def test_policy_errors_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "policy.yaml"
    p.write_text("version: 1\nteams:\n  a:\n    namespaces:\n      ns: [read, fly]\n")
    with pytest.raises(ProjectError) as e:
        Policy.load(p)
    assert f"{p}:5" in str(e.value)
    p.write_text(
        "version: 1\nteams: {a: {}}\nprincipals:\n  - name: x\n    team: a\n  - name: y\n    team: nope\n"
    )
    with pytest.raises(ProjectError) as e:
        Policy.load(p)
    assert f"{p}:7" in str(e.value) and "nope" in str(e.value)
    p.write_text(f"principals:\n  - name: x\n    team: a\n    api_keys: [{{id: k, hash: {KEY}}}]\n")
    with pytest.raises(ProjectError) as e:
        Policy.load(p)
    assert KEY not in str(e.value)  # a pasted key is never echoed back


def test_hash_is_stable() -> None:
    assert (
        hash_api_key("abc")
        == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
