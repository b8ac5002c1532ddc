"""Helpers of the proxy tests: a proxy in front of the session's real dev server, with a policy of several teams.

Namespaces (unique per session, physical names from ``paved.sdk.physical_namespace``):
``alpha`` in eu/prod and us/prod, ``beta`` in eu/prod. Principals:

    writer      team apps      read+write on alpha                 eu/prod
    reader      team viewers   read on alpha                       eu/prod
    worker      team runners   worker on alpha                     eu/prod
    us-worker   team runners   worker on alpha                     us/prod
    admin       team platform  admin+read on every namespace       eu/prod
    decoder     team decoders  decode on alpha (no RPC at all)     eu/prod
    beta        team betas     every role on beta                  eu/prod
    multi       team multi     worker+write on alpha and beta      eu/prod
    traveller   team apps      read+write on alpha, may reach us   eu/prod
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client

from paved import codec
from paved.auth import new_api_key
from paved.dev import DevServer
from paved.proxy import ProxyServer
from paved.sdk import physical_namespace
from paved.specs import RateLimit, Route, Routes

PRINCIPALS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # name: (team, region, extra fields)
    "writer": ("apps", "eu", {}),
    "reader": ("viewers", "eu", {}),
    "worker": ("runners", "eu", {}),
    "us-worker": ("runners", "us", {}),
    "admin": ("platform", "eu", {}),
    "decoder": ("decoders", "eu", {}),
    "beta": ("betas", "eu", {}),
    "multi": ("multi", "eu", {}),
    "traveller": ("apps", "eu", {"regions": ["us"]}),
}


@dataclass
class Env:
    proxy: ProxyServer
    alpha: str
    beta: str
    keys: dict[str, str]
    policy_data: dict[str, Any]
    routes: Routes
    keyring: codec.KeyRing
    dev: DevServer
    clients: dict[tuple[str, str], Client] = field(default_factory=dict)

    def physical(self, logical: str, region: str = "eu") -> str:
        return physical_namespace(logical, region, "prod")

    async def client(self, who: str, namespace: str | None = None) -> Client:
        ns = namespace or self.alpha
        c = self.clients.get((who, ns))
        if c is None:
            c = await Client.connect(
                self.proxy.address, namespace=ns, api_key=self.keys[who], tls=False
            )
            self.clients[(who, ns)] = c
        return c


def make_policy(
    alpha: str, beta: str, keys: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    entries = {}
    for name in PRINCIPALS:
        key, entry = new_api_key(f"{name}-key")
        keys[name] = key
        entries[name] = entry
    revoked_key, revoked_entry = new_api_key("revoked-key")
    keys["revoked"] = revoked_key
    data: dict[str, Any] = {
        "teams": {
            "apps": {"namespaces": {alpha: ["read", "write"]}},
            "viewers": {"namespaces": {alpha: ["read"]}},
            "runners": {"namespaces": {alpha: ["worker"]}},
            "platform": {"namespaces": {"*": ["admin", "read"]}},
            "decoders": {"namespaces": {alpha: ["decode"]}},
            "betas": {"namespaces": {beta: ["read", "write", "worker", "admin"]}},
            "multi": {"namespaces": {alpha: ["worker", "write"], beta: ["worker", "write"]}},
        },
        "principals": [
            {
                "name": name,
                "team": team,
                "region": region,
                "environment": "prod",
                "api_keys": [
                    entries[name],
                    *([{**revoked_entry, "revoked": True}] if name == "writer" else []),
                ],
                **extra,
            }
            for name, (team, region, extra) in PRINCIPALS.items()
        ],
    }
    return data, keys


def make_routes(alpha: str, beta: str, rate_limit: RateLimit | None = None) -> Routes:
    rl = rate_limit or RateLimit(actions_per_second=10_000, requests_per_second=10_000)
    return Routes(
        [
            Route(alpha, physical_namespace(alpha, "eu", "prod"), "eu", "prod", rl),
            Route(alpha, physical_namespace(alpha, "us", "prod"), "us", "prod", rl),
            Route(beta, physical_namespace(beta, "eu", "prod"), "eu", "prod", rl),
        ]
    )
