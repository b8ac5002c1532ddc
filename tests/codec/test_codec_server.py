"""The codec server: protocol (checked with the real `temporal` CLI), authentication,
decode permission, CORS for the UI origin."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from codec_workflows import WaitWorkflow, echo_activity
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.worker import Worker

import paved
from paved.auth import Policy, new_api_key
from paved.codec import KeyRing, MemoryKeyProvider, encrypt_payload, is_encrypted
from paved.dashboard import CodecServer, CodecServerConfig, namespace_resolver
from paved.dev import DevServer, temporal_binary

UI_ORIGIN = "http://127.0.0.1:8233"
SECRET = "secret-document-body-31337"


class Keys:
    decoder, reader, revoked, outsider = (new_api_key(n) for n in ("dec", "rd", "rev", "out"))


def _policy() -> Policy:
    revoked_entry = {**Keys.revoked[1], "revoked": True}
    return Policy.from_dict(
        {
            "version": 1,
            "teams": {
                "docs": {"namespaces": {"docs": ["read", "write", "decode"]}},
                "docs-viewers": {"namespaces": {"docs": ["read"]}},
                "other": {"namespaces": {"other": ["read", "write", "decode"]}},
            },
            "principals": [
                {
                    "name": "alice",
                    "team": "docs",
                    "kind": "human",
                    "api_keys": [Keys.decoder[1], revoked_entry],
                },
                {
                    "name": "bob",
                    "team": "docs-viewers",
                    "kind": "human",
                    "api_keys": [Keys.reader[1]],
                },
                {"name": "eve", "team": "other", "kind": "human", "api_keys": [Keys.outsider[1]]},
            ],
        }
    )


@pytest.fixture
async def ring() -> KeyRing:
    r = KeyRing(MemoryKeyProvider())
    r.active("docs")
    r.active("other")
    return r


@pytest.fixture
async def server(ring: KeyRing) -> AsyncIterator[CodecServer]:
    config = CodecServerConfig(
        keyring=ring,
        authorizer=_policy(),
        resolve=namespace_resolver(known_logical=["docs", "other"]),
        cors_origins=[UI_ORIGIN],
    )
    s = await CodecServer(config).start()
    try:
        yield s
    finally:
        await s.stop()


def _body(payloads: list[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


async def _post(
    server: CodecServer, op: str, payloads: list[Payload], *, token: str | None, ns: str
) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Content-Type": "application/json", "X-Namespace": ns, "Origin": UI_ORIGIN}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/{op}", data=_body(payloads), headers=headers) as resp,
    ):
        return resp.status, await resp.json(), dict(resp.headers)


def _secret_payload() -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(SECRET).encode())


async def test_decode_needs_token_and_decode_role(server: CodecServer, ring: KeyRing) -> None:
    enc = encrypt_payload(_secret_payload(), ring, "docs")
    physical = paved.physical_namespace("docs", "local", "dev")

    status, body, headers = await _post(server, "decode", [enc], token=Keys.decoder[0], ns=physical)
    assert status == 200
    out = json_format.ParseDict(body, Payloads()).payloads
    assert out[0] == _secret_payload()
    assert headers["Access-Control-Allow-Origin"] == UI_ORIGIN

    for token, expected in [
        (None, 401),  # no credentials
        ("pvd_not-a-key", 401),  # unknown key
        (Keys.revoked[0], 401),  # revoked key
        (Keys.reader[0], 403),  # team member with read but no decode role
        (Keys.outsider[0], 403),  # decode role, but on another namespace
    ]:
        status, body, _ = await _post(server, "decode", [enc], token=token, ns=physical)
        assert status == expected, (token, body)
        assert SECRET not in json.dumps(body)

    # Another namespace's payload never decrypts under this one.
    other = encrypt_payload(_secret_payload(), ring, "other")
    status, body, headers = await _post(server, "decode", [other], token=Keys.decoder[0], ns="docs")
    assert status == 200 and headers["X-Paved-Decode-Errors"] == "1"
    assert is_encrypted(json_format.ParseDict(body, Payloads()).payloads[0])
    status, _, _ = await _post(server, "decode", [enc], token=Keys.decoder[0], ns="nope-dev-local")
    assert status == 403


async def test_encode_needs_write(server: CodecServer, ring: KeyRing) -> None:
    status, body, _ = await _post(
        server, "encode", [_secret_payload()], token=Keys.decoder[0], ns="docs"
    )
    assert status == 200
    (p,) = json_format.ParseDict(body, Payloads()).payloads
    assert is_encrypted(p) and SECRET.encode() not in p.data
    status, _, _ = await _post(
        server, "encode", [_secret_payload()], token=Keys.reader[0], ns="docs"
    )
    assert status == 403


async def test_cors_preflight_only_for_ui_origin(server: CodecServer) -> None:
    async with aiohttp.ClientSession() as http:
        req = {
            "Origin": UI_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        }
        async with http.options(f"{server.url}/decode", headers=req) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
            allowed = resp.headers["Access-Control-Allow-Headers"].lower()
            assert "x-namespace" in allowed and "authorization" in allowed
        async with http.options(
            f"{server.url}/decode", headers={**req, "Origin": "http://evil.example"}
        ) as resp:
            assert resp.status == 403
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_temporal_cli_decodes_history_through_the_server(
    server: CodecServer, ring: KeyRing, dev_server: DevServer, client: Client
) -> None:
    """The real `temporal` CLI speaks the codec protocol to our server."""
    from paved.codec import EncryptionCodec
    from paved.dev import ensure_namespaces

    physical = paved.physical_namespace("docs", "local", f"c{uuid.uuid4().hex[:6]}")
    await ensure_namespaces(client, [physical])
    c = await Client.connect(
        dev_server.address,
        namespace=physical,
        data_converter=paved.data_converter(codec=EncryptionCodec(ring, "docs")),
    )
    queue = f"q-{uuid.uuid4().hex[:8]}"
    async with Worker(c, task_queue=queue, workflows=[WaitWorkflow], activities=[echo_activity]):
        h = await c.start_workflow(
            WaitWorkflow.run, SECRET, id=f"cli-{uuid.uuid4().hex}", task_queue=queue
        )
        await h.signal(WaitWorkflow.go, "x")
        await h.result()

    async def show(token: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            str(temporal_binary()), "workflow", "show", "-w", h.id, "--namespace", physical,
            "--address", dev_server.address, "--codec-endpoint", server.url,
            "--codec-auth", f"Bearer {token}", "-o", "json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        return out.decode() + err.decode()

    def plaintexts(output: str) -> str:
        # `-o json` shows payload data base64-encoded: decode every "data" field.
        found = re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', output)
        return " ".join(base64.b64decode(d).decode(errors="replace") for d in found)

    decoded = await show(Keys.decoder[0])
    assert SECRET in plaintexts(decoded)  # workflow input, activity input and result
    assert f"activity saw {SECRET}+x" in plaintexts(decoded)
    denied = await show(Keys.reader[0])
    assert SECRET not in denied and SECRET not in plaintexts(denied)


def test_resolver_rules(tmp_path: Path) -> None:
    r = namespace_resolver(mapping={"legacy-ns": "docs"}, known_logical=["docs", "media-gen"])
    assert r("legacy-ns") == "docs"
    assert r("docs") == "docs"  # via the proxy, the logical name itself
    assert r("docs-prod-eu") == "docs"
    assert r("media-gen-dev-local") == "media-gen"
    assert r("docs-a-b-c") is None
    assert r("unknown-dev-local") is None
