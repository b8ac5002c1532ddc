"""``paved keys rotate|list`` and ``paved codec-server`` from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from click.testing import CliRunner
from temporalio.api.common.v1 import Payload

from paved.auth import new_api_key
from paved.cli import cli
from paved.codec import FileKeyProvider, KeyRing, decrypt_payload, encrypt_payload
from paved.dev import free_port


def _project(tmp_path: Path) -> Path:
    (tmp_path / "paved.yaml").write_text("project: demo\npackages: [demo]\n")
    return tmp_path


def test_keys_rotate_and_list(tmp_path: Path) -> None:
    root = _project(tmp_path)
    runner = CliRunner()
    ring = KeyRing(FileKeyProvider(root / ".paved" / "keys.json"), refresh_seconds=0)
    old = encrypt_payload(Payload(data=b"before"), ring, "imagegen")

    r = runner.invoke(cli, ["keys", "rotate", "imagegen", "--project", str(root)])
    assert r.exit_code == 0, r.output
    assert "active key is now imagegen-" in r.output and "retired" in r.output
    new = encrypt_payload(Payload(data=b"after"), ring, "imagegen")
    assert new.metadata["paved-key-id"] != old.metadata["paved-key-id"]
    assert decrypt_payload(old, ring, "imagegen").data == b"before"

    r = runner.invoke(cli, ["keys", "list", "--project", str(root)])
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0] == f"imagegen: active {new.metadata['paved-key-id'].decode()}"
    assert lines[1] == f"imagegen: retired {old.metadata['paved-key-id'].decode()}"
    raw = (root / ".paved" / "keys.json").read_text()
    key_b64 = json.loads(raw)["namespaces"]["imagegen"]["keys"][0]["key"]
    assert key_b64 not in r.output


def test_codec_server_without_policy_is_a_clean_error(tmp_path: Path) -> None:
    root = _project(tmp_path)
    r = CliRunner().invoke(cli, ["codec-server", "--project", str(root)])
    assert r.exit_code == 2
    assert "PAVED-PROJECT-NO-POLICY" in r.output and "Traceback" not in r.output


def test_codec_server_process_enforces_policy(tmp_path: Path) -> None:
    root = _project(tmp_path)
    key, entry = new_api_key("k1")
    (root / "policy.yaml").write_text(
        json.dumps(
            {
                "version": 1,
                "teams": {"t": {"namespaces": {"imagegen": ["read"]}}},
                "principals": [{"name": "bob", "team": "t", "api_keys": [entry]}],
            }
        )
    )
    ring = KeyRing(FileKeyProvider(root / ".paved" / "keys.json"))
    enc = encrypt_payload(Payload(data=b"x"), ring, "imagegen")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paved.cli",
            "codec-server",
            "--project",
            str(root),
            "--port",
            str(port),
        ],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        from google.protobuf import json_format
        from temporalio.api.common.v1 import Payloads

        body = json_format.MessageToJson(Payloads(payloads=[enc])).encode()
        req = urllib.request.Request(
            f"{url}/decode",
            data=body,
            headers={
                "Authorization": f"Bearer {key}",
                "X-Namespace": "imagegen-dev-local",
                "Content-Type": "application/json",
            },
        )
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("a principal without the decode role was allowed")
        except urllib.error.HTTPError as e:
            assert e.code == 403
    finally:
        proc.terminate()
        proc.wait(10)
