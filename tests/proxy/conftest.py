"""Session fixture ``env``: a proxy in front of the session's dev server (see proxy_helpers)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from proxy_helpers import Env, make_policy, make_routes
from temporalio.client import Client

from paved import codec
from paved.auth import Policy
from paved.dev import DevServer, ensure_namespaces
from paved.proxy import ProxyServer, Upstream


@pytest.fixture(scope="session")
async def env(dev_server: DevServer, client: Client) -> AsyncIterator[Env]:
    sfx = uuid.uuid4().hex[:6]
    alpha, beta = f"alpha-{sfx}", f"beta-{sfx}"
    routes = make_routes(alpha, beta)
    await ensure_namespaces(client, [r.physical for r in routes.all()])
    data, keys = make_policy(alpha, beta, {})
    keyring = codec.KeyRing.in_memory()
    proxy = ProxyServer(
        policy=Policy.from_dict(data),
        routes=routes,
        upstream=Upstream(address=dev_server.address, connections=2),
        keyring=keyring,
    )
    await proxy.start()
    e = Env(proxy, alpha, beta, keys, data, routes, keyring, dev_server)
    try:
        yield e
    finally:
        await proxy.stop()
