"""Bad input and faults: malformed and oversized messages, unknown methods, missing
metadata, expired JWTs, a fuzz run; policy reload; what is logged."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from pathlib import Path

import grpc
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from proxy_helpers import Env, make_routes
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    GetSystemInfoRequest,
    StartWorkflowExecutionRequest,
)

from paved import ProjectError
from paved.proxy import ProxyServer, Upstream, all_methods

WF = "/temporal.api.workflowservice.v1.WorkflowService/"


def _call(ch: grpc.aio.Channel, path: str):  # type: ignore[no-untyped-def]
    return ch.unary_unary(path)


async def _status(
    ch: grpc.aio.Channel, path: str, body: bytes, md: list[tuple[str, str]]
) -> grpc.StatusCode:
    return (await _status_details(ch, path, body, md))[0]


async def _status_details(
    ch: grpc.aio.Channel, path: str, body: bytes, md: list[tuple[str, str]]
) -> tuple[grpc.StatusCode, str]:
    try:
        await _call(ch, path)(body, metadata=md, timeout=10)
        return grpc.StatusCode.OK, ""
    except grpc.aio.AioRpcError as e:
        return e.code(), e.details() or ""


async def test_malformed_unknown_missing_oversized(env: Env) -> None:
    auth = [("authorization", f"Bearer {env.keys['writer']}")]
    async with grpc.aio.insecure_channel(env.proxy.address) as ch:
        assert (
            await _status(ch, WF + "StartWorkflowExecution", b"\xff\xff\xff", auth)
            == grpc.StatusCode.INVALID_ARGUMENT
        )
        assert await _status(ch, WF + "NoSuchMethod", b"", auth) == grpc.StatusCode.UNIMPLEMENTED
        assert await _status(ch, "/evil.Service/X", b"", auth) == grpc.StatusCode.UNIMPLEMENTED
        body = DescribeNamespaceRequest(namespace=env.alpha).SerializeToString()
        assert (
            await _status(ch, WF + "DescribeNamespace", body, []) == grpc.StatusCode.UNAUTHENTICATED
        )
        assert (
            await _status(ch, WF + "DescribeNamespace", body, [("authorization", "Bearer ")])
            == grpc.StatusCode.UNAUTHENTICATED
        )
        big = StartWorkflowExecutionRequest(
            namespace=env.alpha, identity="x" * (5 * 1024 * 1024)
        ).SerializeToString()
        assert (
            await _status(ch, WF + "StartWorkflowExecution", big, auth)
            == grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        # namespace missing
        assert (
            await _status(
                ch, WF + "DescribeNamespace", DescribeNamespaceRequest().SerializeToString(), auth
            )
            == grpc.StatusCode.INVALID_ARGUMENT
        )
        # still serving
        assert (
            await _status(
                ch, WF + "GetSystemInfo", GetSystemInfoRequest().SerializeToString(), auth
            )
            == grpc.StatusCode.OK
        )


async def test_fuzz_never_crashes_or_leaks(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(1234)
    methods = sorted(all_methods())
    valid = StartWorkflowExecutionRequest(namespace=env.alpha, workflow_id="fz").SerializeToString()
    key = env.keys["admin"]
    auth = [("authorization", f"Bearer {key}")]
    seen: set[grpc.StatusCode] = set()
    caplog.set_level(logging.INFO, logger="paved.proxy")
    async with grpc.aio.insecure_channel(env.proxy.address) as ch:
        for i in range(300):
            path = rng.choice(methods)
            kind = i % 3
            if kind == 0:
                body = rng.randbytes(rng.randint(0, 64))
            elif kind == 1:
                b = bytearray(valid)
                for _ in range(rng.randint(1, 4)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
                body = bytes(b)
            else:
                body = valid[: rng.randint(0, len(valid))]
            code, details = await _status_details(
                ch, path, body, auth if rng.random() < 0.9 else []
            )
            # Temporal itself may answer INTERNAL to garbage; the proxy never fails on it
            assert not details.startswith("paved proxy"), (path, body, details)
            seen.add(code)
        assert await _status(ch, WF + "GetSystemInfo", b"", auth) == grpc.StatusCode.OK
    assert grpc.StatusCode.INVALID_ARGUMENT in seen and grpc.StatusCode.UNAUTHENTICATED in seen
    text = caplog.text
    assert key not in text and key[4:20] not in text


async def test_access_log_and_metrics(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="paved.proxy.access")
    c = await env.client("reader")
    await c.count_workflows()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "paved.proxy.access"]
    entry = next(x for x in lines if x["method"] == "CountWorkflowExecutions")
    assert (
        entry["principal"] == "reader"
        and entry["team"] == "viewers"
        and entry["credential"] == "reader-key"
    )
    assert (
        entry["namespace"] == env.alpha
        and entry["physical"] == env.physical(env.alpha)
        and entry["code"] == "OK"
    )
    assert env.keys["reader"] not in caplog.text
    text = env.proxy.metrics.text()
    assert (
        f'paved_proxy_requests_total{{code="OK",method="CountWorkflowExecutions",namespace="{env.alpha}"}}'
        in text
    )
    assert "paved_proxy_request_duration_seconds_bucket" in text


def _jwt_policy(tmp_path: Path, env: Env, key: rsa.RSAPrivateKey) -> Path:
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk["kid"] = "k1"
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    data = dict(env.policy_data)
    data["jwt"] = {"jwks_file": "jwks.json", "audience": "paved"}
    p = tmp_path / "policy.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


async def test_jwt_expired_and_policy_reload(
    env: Env, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from temporalio.client import Client
    from temporalio.service import RPCError, RPCStatusCode

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    policy_path = _jwt_policy(tmp_path, env, key)
    proxy = await ProxyServer(
        policy=policy_path,
        routes=make_routes(env.alpha, env.beta),
        upstream=Upstream(env.dev.address),
        policy_reload_seconds=0.1,
    ).start()
    try:
        claims = {
            "sub": "jwt-human",
            "team": "viewers",
            "region": "eu",
            "environment": "prod",
            "aud": "paved",
        }
        good = jwt.encode(
            {**claims, "exp": int(time.time()) + 300}, key, algorithm="RS256", headers={"kid": "k1"}
        )
        expired = jwt.encode(
            {**claims, "exp": int(time.time()) - 5}, key, algorithm="RS256", headers={"kid": "k1"}
        )
        c = await Client.connect(proxy.address, namespace=env.alpha, api_key=good, tls=False)
        await c.count_workflows()  # a human with a JWT, team viewers: read
        with pytest.raises(RuntimeError, match=r"(?i)expired"):
            await Client.connect(proxy.address, namespace=env.alpha, api_key=expired, tls=False)

        # a bad edit is refused, naming the line, and the last good policy stays
        caplog.set_level(logging.ERROR, logger="paved.proxy")
        policy_path.write_text(policy_path.read_text() + "\nbogus_key: 1\n")
        for _ in range(50):
            if "bogus_key" in caplog.text:
                break
            await asyncio.sleep(0.1)
        assert f"{policy_path}:" in caplog.text and "bogus_key" in caplog.text
        await c.count_workflows()
        # a good edit takes effect: viewers lose read on alpha
        data = yaml.safe_load(_jwt_policy(tmp_path, env, key).read_text())
        data["teams"]["viewers"]["namespaces"] = {}
        policy_path.write_text(yaml.safe_dump(data))
        for _ in range(50):
            try:
                await c.count_workflows()
            except RPCError as e:
                assert e.status == RPCStatusCode.PERMISSION_DENIED
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("policy reload did not take effect")
    finally:
        await proxy.stop()


async def test_bad_policy_is_refused_at_start(env: Env, tmp_path: Path) -> None:
    p = tmp_path / "policy.yaml"
    p.write_text("version: 1\nteams:\n  a:\n    namespaces:\n      x: [read, launch]\n")
    with pytest.raises(ProjectError, match=rf"{p}:5"):
        ProxyServer(
            policy=p, routes=make_routes(env.alpha, env.beta), upstream=Upstream(env.dev.address)
        )
