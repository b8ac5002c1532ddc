"""Upstream restarted mid-run: the proxy reconnects, callers retry, no workflow is lost."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from proxy_helpers import make_policy, make_routes
from proxy_workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, Echo
from temporalio.client import Client
from temporalio.worker import Worker

from paved import codec
from paved.auth import Policy
from paved.dev import DevServer, ensure_namespaces, free_port
from paved.proxy import ProxyServer, Upstream


@pytest.mark.slow
async def test_dev_server_killed_and_restarted(tmp_path: Path) -> None:
    db = tmp_path / "temporal.db"
    port = free_port()
    server = DevServer(db_file=db, port=port).start()
    alpha, beta = "alpha-rc", "beta-rc"
    routes = make_routes(alpha, beta)
    proxy: ProxyServer | None = None
    try:
        await ensure_namespaces(
            await Client.connect(server.address), [r.physical for r in routes.all()]
        )
        data, keys = make_policy(alpha, beta, {})
        proxy = await ProxyServer(
            policy=Policy.from_dict(data),
            routes=routes,
            upstream=Upstream(server.address),
            keyring=codec.KeyRing.in_memory(),
        ).start()
        client = await Client.connect(
            proxy.address, namespace=alpha, api_key=keys["multi"], tls=False
        )
        async with Worker(
            client, task_queue="rc", workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES
        ):
            before = [
                await client.start_workflow(
                    Echo.run,
                    args=[f"b{i}", True],
                    id=f"rc-b{i}-{uuid.uuid4().hex[:6]}",
                    task_queue="rc",
                )
                for i in range(10)
            ]
            server.kill()
            # starts issued while Temporal is down: the SDK retries UNAVAILABLE through the proxy
            during = [
                asyncio.create_task(
                    client.start_workflow(
                        Echo.run,
                        args=[f"d{i}", False],
                        id=f"rc-d{i}-{uuid.uuid4().hex[:6]}",
                        task_queue="rc",
                    )
                )
                for i in range(5)
            ]
            await asyncio.sleep(2)
            server = DevServer(db_file=db, port=port).start()
            started_during = await asyncio.wait_for(asyncio.gather(*during), 60)
            for h in before:
                await h.signal(Echo.note, "after")
            results = await asyncio.wait_for(
                asyncio.gather(*(h.result() for h in before + started_during)), 90
            )
        assert sorted(results) == sorted(
            [f"B{i}|AFTER!" for i in range(10)] + [f"D{i}!" for i in range(5)]
        )
    finally:
        if proxy is not None:
            await proxy.stop()
        server.stop()
