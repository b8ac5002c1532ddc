"""Encryption and key ring: the pure functions the SDK codec and the proxy call."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from paved.codec import (
    AesKeyWrapper,
    CodecError,
    EnvKeyProvider,
    FileKeyProvider,
    KeyProviderError,
    KeyRing,
    LayeredKeyProvider,
    MalformedPayloadError,
    TamperedPayloadError,
    UnknownKeyError,
    decrypt_payload,
    encrypt_payload,
    is_encrypted,
)

SECRET = b'"top-secret-plaintext-4711"'


def _payload(data: bytes = SECRET) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing(FileKeyProvider(tmp_path / ".paved" / "keys.json"), refresh_seconds=0)


def test_round_trip_hides_data_and_metadata(ring: KeyRing) -> None:
    p = _payload()
    e = encrypt_payload(p, ring, "imagegen")
    assert is_encrypted(e) and not is_encrypted(p)
    assert SECRET not in e.SerializeToString()
    assert b"json/plain" not in e.SerializeToString()
    assert e.metadata["paved-key-id"] == ring.active("imagegen").id.encode()
    assert decrypt_payload(e, ring, "imagegen") == p


def test_never_double_encrypts_and_passes_plain_through(ring: KeyRing) -> None:
    e = encrypt_payload(_payload(), ring, "imagegen")
    assert encrypt_payload(e, ring, "imagegen") is e
    plain = _payload()
    assert decrypt_payload(plain, ring, "imagegen") is plain


def test_same_plaintext_encrypts_differently(ring: KeyRing) -> None:
    a = encrypt_payload(_payload(), ring, "ns")
    b = encrypt_payload(_payload(), ring, "ns")
    assert a.data != b.data


def test_key_file_is_private_and_git_ignored(ring: KeyRing, tmp_path: Path) -> None:
    ring.active("imagegen")
    path = tmp_path / ".paved" / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / ".paved" / ".gitignore").read_text().strip() == "*"


def test_rotation_keeps_old_payloads_decodable(ring: KeyRing) -> None:
    before = encrypt_payload(_payload(b"1"), ring, "ns")
    old_id = ring.active("ns").id
    ring.rotate("ns")
    after = encrypt_payload(_payload(b"2"), ring, "ns")
    assert after.metadata["paved-key-id"] != before.metadata["paved-key-id"]
    assert ring.keys("ns").retired_ids == [old_id]
    assert decrypt_payload(before, ring, "ns").data == b"1"
    assert decrypt_payload(after, ring, "ns").data == b"2"


def test_other_process_rotation_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    worker = KeyRing(FileKeyProvider(path), refresh_seconds=0)
    cli = KeyRing(FileKeyProvider(path), refresh_seconds=0)
    first = worker.active("ns").id
    cli.rotate("ns")
    # A payload written with the new key decodes in the worker without restart...
    new = encrypt_payload(_payload(), cli, "ns")
    assert decrypt_payload(new, worker, "ns") == _payload()
    # ...and the worker's new writes use the new key.
    assert worker.active("ns").id != first


def test_namespace_binding(ring: KeyRing, tmp_path: Path) -> None:
    e = encrypt_payload(_payload(), ring, "team-a")
    # Another namespace without that key id: unknown key, no plaintext.
    with pytest.raises(UnknownKeyError) as ei:
        decrypt_payload(e, ring, "team-b", index=3)
    msg = str(ei.value)
    assert "payload #3" in msg and "team-b" in msg and e.metadata["paved-key-id"].decode() in msg
    # Even sharing the very same key, namespace B cannot read A's payload (AAD binding).
    path = tmp_path / ".paved" / "keys.json"
    import json

    doc = json.loads(path.read_text())
    doc["namespaces"]["team-b"] = doc["namespaces"]["team-a"]
    path.write_text(json.dumps(doc))
    shared = KeyRing(FileKeyProvider(path), refresh_seconds=0)
    with pytest.raises(TamperedPayloadError):
        decrypt_payload(e, shared, "team-b")


@pytest.mark.parametrize("where", ["data", "key-id"])
def test_tampering_is_detected(ring: KeyRing, where: str) -> None:
    e = encrypt_payload(_payload(), ring, "ns")
    if where == "data":
        buf = bytearray(e.data)
        buf[20] ^= 1
        e.data = bytes(buf)
        with pytest.raises(TamperedPayloadError) as ei:
            decrypt_payload(e, ring, "ns")
    else:
        ring.rotate("ns")
        e.metadata["paved-key-id"] = ring.active("ns").id.encode()
        with pytest.raises(TamperedPayloadError) as ei:
            decrypt_payload(e, ring, "ns")
    assert "top-secret" not in str(ei.value)
    assert ei.value.code == "PAVED-CODEC-TAMPERED"


def test_malformed(ring: KeyRing) -> None:
    e = encrypt_payload(_payload(), ring, "ns")
    del e.metadata["paved-key-id"]
    with pytest.raises(MalformedPayloadError):
        decrypt_payload(e, ring, "ns")


def test_errors_never_contain_key_material(ring: KeyRing, tmp_path: Path) -> None:
    e = encrypt_payload(_payload(), ring, "ns")
    key = ring.active("ns")
    e.data = e.data[:-1] + bytes([e.data[-1] ^ 1])
    with pytest.raises(CodecError) as ei:
        decrypt_payload(e, ring, "ns")
    text = str(ei.value) + repr(key)
    assert base64.b64encode(key.material).decode() not in text
    assert key.material.hex() not in text


def test_env_provider_first_entry_active(tmp_path: Path) -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    env = {
        "PAVED_KEYS_IMAGE_GEN": f"new:{base64.b64encode(k2).decode()},old:{base64.b64encode(k1).decode()}"
    }
    ring = KeyRing(
        LayeredKeyProvider(EnvKeyProvider(env), FileKeyProvider(tmp_path / "k.json")),
        refresh_seconds=0,
    )
    assert ring.active("image-gen").id == "new"
    assert ring.get("image-gen", "old") is not None
    with pytest.raises(KeyProviderError):
        ring.rotate("image-gen")
    # Namespaces not in the environment fall back to the file.
    assert ring.active("other").id.startswith("other-")
    with pytest.raises(KeyProviderError):
        EnvKeyProvider({"PAVED_KEYS_X": "no-colon"}).load("x")


def test_kms_seam_wraps_keys_in_file(tmp_path: Path) -> None:
    master = os.urandom(32)
    path = tmp_path / "keys.json"
    ring = KeyRing(FileKeyProvider(path, wrapper=AesKeyWrapper(master)), refresh_seconds=0)
    e = encrypt_payload(_payload(), ring, "ns")
    raw = path.read_text()
    assert '"wrapped"' in raw and '"key"' not in raw
    reopened = KeyRing(FileKeyProvider(path, wrapper=AesKeyWrapper(master)))
    assert decrypt_payload(e, reopened, "ns") == _payload()
    with pytest.raises(KeyProviderError):
        KeyRing(FileKeyProvider(path)).keys("ns")
    with pytest.raises(KeyProviderError):
        KeyRing(FileKeyProvider(path, wrapper=AesKeyWrapper(os.urandom(32)))).keys("ns")


# Sizes on both sides of the small/scratch-buffer switch in _crypto (64 KiB).
_SIZES = [0, 1, 1024, 64 * 1024 - 1, 64 * 1024, 300 * 1024, 5 * 2**20]


@pytest.mark.parametrize("size", _SIZES)
def test_wire_format_is_documented_format_1(ring: KeyRing, size: int) -> None:
    # Other tools decode with plain AES-GCM per docs/codec.md; the fast paths
    # must write exactly that format.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from paved.codec import associated_data

    p = Payload(
        metadata={"encoding": b"json/protobuf", "messageType": b"acme.Secret"},
        data=os.urandom(size),
    )
    for original in (p, _payload(os.urandom(size))):
        sealed = encrypt_payload(original, ring, "imagegen")
        key = ring.active("imagegen")
        assert dict(sealed.metadata) == {
            "encoding": b"binary/paved-encrypted",
            "paved-key-id": key.id.encode(),
        }
        d = sealed.data
        assert d[:1] == b"\x01" and len(d) > size + 1 + 12 + 16 - 1
        inner = Payload()
        inner.ParseFromString(
            AESGCM(key.material).decrypt(d[1:13], d[13:], associated_data("imagegen", key.id))
        )
        assert inner == original
        assert decrypt_payload(sealed, ring, "imagegen") == original


def test_reused_buffers_do_not_leak_between_payloads(ring: KeyRing) -> None:
    # Large payloads go through per-thread scratch buffers: earlier results must
    # stay intact, and a failed decryption must not hand back stale plaintext.
    big = [_payload(bytes([i]) * (200 * 1024 + i)) for i in range(3)]
    sealed = [encrypt_payload(p, ring, "imagegen") for p in big]
    opened = [decrypt_payload(s, ring, "imagegen") for s in sealed]
    assert opened == big
    bad = Payload()
    bad.CopyFrom(sealed[0])
    bad.data = bad.data[:-1] + bytes([bad.data[-1] ^ 1])
    with pytest.raises(TamperedPayloadError):
        decrypt_payload(bad, ring, "imagegen")
    assert decrypt_payload(sealed[1], ring, "imagegen") == big[1]


def test_concurrent_threads_round_trip(ring: KeyRing) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ring.active("imagegen")  # create the key once, outside the threads

    def work(i: int) -> bool:
        ok = True
        for j in range(20):
            p = _payload(os.urandom(100 * 1024 + i * 7 + j))
            ok &= decrypt_payload(encrypt_payload(p, ring, "imagegen"), ring, "imagegen") == p
        return ok

    with ThreadPoolExecutor(4) as ex:
        assert all(ex.map(work, range(8)))
