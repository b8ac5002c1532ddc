"""The one authorization decision, as a table: principal x method class x namespace x region.

Each row is a question a service asks (`Policy.decide(AccessRequest(...))`) and the answer
users rely on: allowed or not, and which check refused it (credential, role or residency),
with the reason text they will read in the proxy's PERMISSION_DENIED and the access log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paved.auth import EVERY_NAMESPACE, AccessRequest, Policy, Principal, new_api_key

# Method classes as the proxy's method table asks them (paved.proxy._methods): any one suffices.
CLASSES: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),  # Describe*/Get*/List*/Count*, QueryWorkflow
    "write": frozenset({"write"}),  # Start*/Signal*/Terminate*, updates, schedules
    "worker": frozenset({"worker"}),  # Poll*TaskQueue, Respond*, heartbeats
    "history": frozenset({"read", "worker"}),  # GetWorkflowExecutionHistory
    "describe-ns": frozenset({"read", "write", "worker", "admin"}),  # DescribeNamespace
    "admin": frozenset({"admin"}),  # namespace and deployment operations
    "decode": frozenset({"decode"}),  # the codec server's /decode
    "unclassified": frozenset(),  # a method Paved does not know: nobody
}

KEYS = {n: new_api_key(f"{n}-key") for n in ("writer", "gone", "brief")}


def _policy(*, revoke: str | None = None) -> Policy:
    def key(name: str, **extra: object) -> dict[str, object]:
        entry: dict[str, object] = dict(KEYS[name][1])
        if revoke == name:
            entry["revoked"] = True
        return {**entry, **extra}

    later = datetime.now(UTC) + timedelta(hours=1)
    return Policy.from_dict(
        {
            "teams": {
                "apps": {"namespaces": {"alpha": ["read", "write"], "shared": ["read"]}},
                "runners": {"namespaces": {"alpha": ["worker"]}},
                "platform": {"namespaces": {"*": ["read", "admin"]}},
                "decoders": {"namespaces": {"alpha": ["decode"]}},
            },
            "principals": [
                {"name": "writer", "team": "apps", "region": "eu", "environment": "prod"},
                {"name": "viewer", "team": "apps", "region": "eu", "environment": "prod"}
                | {"kind": "human", "roles": ["read"]},
                {"name": "runner", "team": "runners", "region": "eu", "environment": "prod"},
                {"name": "ops", "team": "platform", "region": "us", "environment": "prod"},
                {"name": "decoder", "team": "decoders", "region": "eu", "environment": "prod"},
                {"name": "traveller", "team": "apps", "region": "eu", "environment": "prod"}
                | {"regions": ["us"], "environments": ["staging"]},
                {"name": "stager", "team": "apps", "region": "eu", "environment": "staging"},
                {"name": "asia", "team": "apps", "region": "ap", "environment": "prod"},
                {"name": "us-app", "team": "apps", "region": "us", "environment": "prod"},
                {"name": "keyed", "team": "apps", "region": "eu", "environment": "prod"}
                | {"api_keys": [key("writer"), key("gone"), key("brief", expires=later)]},
            ],
            "residency": {
                "allow": [
                    {"from": "ap", "to": "eu"},  # every team in ap may reach eu
                    {"from": "us", "to": "eu", "teams": ["platform"]},  # only platform from us
                ]
            },
        }
    )


POLICY = _policy()


def _who(name: str) -> Principal:
    p = POLICY.principal(name, via="api_key")
    assert p is not None
    return p


# (principal, method class, namespace, region, environment, allowed, refused by)
TABLE: list[tuple[str, str, str, str | None, str | None, bool, str]] = [
    # the team's roles on its namespace, at home
    ("writer", "read", "alpha", "eu", "prod", True, ""),
    ("writer", "write", "alpha", "eu", "prod", True, ""),
    ("writer", "worker", "alpha", "eu", "prod", False, "role"),
    ("writer", "history", "alpha", "eu", "prod", True, ""),
    ("writer", "describe-ns", "alpha", "eu", "prod", True, ""),
    ("writer", "admin", "alpha", "eu", "prod", False, "role"),
    ("writer", "decode", "alpha", "eu", "prod", False, "role"),
    ("writer", "unclassified", "alpha", "eu", "prod", False, "role"),
    # another namespace: only what the team holds there
    ("writer", "read", "shared", "eu", "prod", True, ""),
    ("writer", "write", "shared", "eu", "prod", False, "role"),
    ("writer", "read", "beta", "eu", "prod", False, "role"),
    # a person narrowed to read by their own roles
    ("viewer", "read", "alpha", "eu", "prod", True, ""),
    ("viewer", "write", "alpha", "eu", "prod", False, "role"),
    ("viewer", "history", "alpha", "eu", "prod", True, ""),
    # a worker identity: poll and respond, fetch history, describe; no starts
    ("runner", "worker", "alpha", "eu", "prod", True, ""),
    ("runner", "history", "alpha", "eu", "prod", True, ""),
    ("runner", "describe-ns", "alpha", "eu", "prod", True, ""),
    ("runner", "write", "alpha", "eu", "prod", False, "role"),
    ("runner", "read", "alpha", "eu", "prod", False, "role"),
    # platform: "*" grants on every namespace, and cluster-wide admin
    ("ops", "admin", "beta", "us", "prod", True, ""),
    ("ops", "admin", EVERY_NAMESPACE, None, None, True, ""),
    ("ops", "write", "beta", "us", "prod", False, "role"),
    ("writer", "admin", EVERY_NAMESPACE, None, None, False, "role"),
    ("writer", "read", EVERY_NAMESPACE, None, None, False, "role"),
    # decode is its own role, held by nobody else
    ("decoder", "decode", "alpha", "eu", "prod", True, ""),
    ("decoder", "read", "alpha", "eu", "prod", False, "role"),
    # residency: other regions are closed unless the principal lists them ...
    ("writer", "read", "alpha", "us", "prod", False, "residency"),
    ("traveller", "write", "alpha", "us", "prod", True, ""),
    ("traveller", "write", "alpha", "ap", "prod", False, "residency"),
    # ... or a residency rule opens them, for every team or for some
    ("asia", "write", "alpha", "eu", "prod", True, ""),
    ("asia", "write", "alpha", "us", "prod", False, "residency"),
    ("us-app", "write", "alpha", "eu", "prod", False, "residency"),
    ("ops", "admin", "alpha", "eu", "prod", True, ""),
    # environments: own, or listed; no rule opens another environment
    ("writer", "write", "alpha", "eu", "staging", False, "residency"),
    ("stager", "write", "alpha", "eu", "prod", False, "residency"),
    ("traveller", "write", "alpha", "eu", "staging", True, ""),
    # the role check comes first: no residency hint to someone without a role
    ("writer", "admin", "alpha", "us", "prod", False, "role"),
    # no region given (codec server, cluster-wide methods): residency is not asked
    ("writer", "write", "alpha", None, None, True, ""),
]


@pytest.mark.parametrize(("who", "cls", "ns", "region", "env", "allowed", "check"), TABLE)
def test_decision_table(
    who: str, cls: str, ns: str, region: str | None, env: str | None, allowed: bool, check: str
) -> None:
    d = POLICY.decide(AccessRequest(_who(who), CLASSES[cls], ns, region, env))
    assert d.allowed is allowed and bool(d) is allowed, d.reason
    assert d.check == check, d.reason
    if allowed:
        assert d.role in CLASSES[cls] and f"holds {d.role}" in d.reason
    else:
        assert d.reason and not d.role


def test_reasons_say_what_was_needed_and_what_is_held() -> None:
    d = POLICY.decide(AccessRequest.of(_who("runner"), "write", "alpha", "eu", "prod"))
    assert d.reason == "needs write on namespace 'alpha'; team runners holds worker there"
    d = POLICY.decide(AccessRequest.of(_who("viewer"), "write", "alpha"))
    assert d.reason == "needs write on namespace 'alpha'; viewer's own roles are limited to read"
    d = POLICY.decide(AccessRequest.of(_who("writer"), "admin", EVERY_NAMESPACE))
    assert d.reason.startswith("needs admin on every namespace ('*')")
    d = POLICY.decide(AccessRequest.of(_who("writer"), "read", "alpha", "us", "prod"))
    assert d.reason == "residency: writer (eu/prod) may not reach us/prod"
    d = POLICY.decide(AccessRequest.of(_who("asia"), "write", "alpha", "eu", "prod"))
    assert d.allowed and d.reason == "team apps holds write on namespace 'alpha' in eu/prod"


def test_a_key_revoked_by_a_reload_is_refused_even_for_a_principal_already_held() -> None:
    p = POLICY.authenticate_bearer(KEYS["gone"][0])
    request = AccessRequest.of(p, "write", "alpha", "eu", "prod")
    assert POLICY.decide(request)
    reloaded = _policy(revoke="gone")
    d = reloaded.decide(request)
    assert not d and d.check == "credential" and "'gone-key' is revoked" in d.reason
    # other keys of the same principal are untouched
    other = reloaded.authenticate_bearer(KEYS["writer"][0])
    assert reloaded.decide(AccessRequest.of(other, "write", "alpha", "eu", "prod"))


def test_an_expired_credential_is_refused_at_the_time_given() -> None:
    p = POLICY.authenticate_bearer(KEYS["brief"][0])
    assert p.expires_at is not None
    before = AccessRequest.of(p, "write", "alpha", "eu", "prod", now=p.expires_at - 1)
    after = AccessRequest.of(p, "write", "alpha", "eu", "prod", now=p.expires_at + 1)
    assert POLICY.decide(before)
    d = POLICY.decide(after)
    assert not d and d.check == "credential" and "'brief-key' has expired" in d.reason


def test_the_decision_is_pure() -> None:
    """Same question, same answer: no clock, no state kept between calls."""
    request = AccessRequest.of(_who("traveller"), "write", "alpha", "us", "prod", now=0.0)
    answers = {POLICY.decide(request) for _ in range(3)}
    assert len(answers) == 1
