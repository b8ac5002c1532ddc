"""The temporalio ``PayloadCodec`` that encrypts and offloads, and one-call helpers.

Used by ``paved.sdk.connect`` / managed workers (via :func:`codec_for`) and by
anyone with a plain temporalio client (:func:`data_converter_for`,
:func:`client_options`).

Encode, per payload (order matters, and is why offload is a codec rather than
temporalio's experimental ``external_storage``: the size guard that runs after
this codec measures exactly what is sent):

1. already Paved-encrypted -> unchanged;
2. larger than ``offload_threshold`` and a blob store is configured -> the
   serialised payload is sealed with the namespace's active key and stored
   under a content-addressed key (HMAC of the plaintext under a key derived
   from the data key: retries write nothing new, and the address reveals
   nothing about the content), and the payload becomes a small reference
   ``json/paved-blob-ref``;
3. the payload (or the reference) is encrypted (see ``_crypto``).

Decode reverses it; a reference is only followed if it came out of decryption,
so nobody can plant a plaintext reference to another namespace's blob.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.common import HeaderCodecBehavior
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from paved._paths import STATE_DIR, find_project_root
from paved.codec import _blobs as blobs
from paved.codec import _crypto as crypto
from paved.codec import _keys as keys
from paved.codec._errors import (
    BlobCorruptError,
    BlobMissingError,
    MalformedPayloadError,
    OffloadTooLargeError,
    UnknownKeyError,
)

REF_ENCODING = b"json/paved-blob-ref"
DEFAULT_OFFLOAD_THRESHOLD = 256 * 1024
DEFAULT_MAX_OFFLOAD_BYTES = 1024 * 1024 * 1024
# Sealing tens of MiB blocks the event loop for a noticeable time: do it in a thread.
_THREAD_ABOVE = 4 * 1024 * 1024


def _blob_aad(namespace: str, key_id: str, blob_key: str) -> bytes:
    return (
        b"paved-blob/v1|" + namespace.encode() + b"|" + key_id.encode() + b"|" + blob_key.encode()
    )


def _safe(namespace: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", namespace) or "_"


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload of one logical namespace; offloads large ones.

    Args:
        keyring: keys of the namespace.
        namespace: the *logical* namespace (bound into every ciphertext).
        blobs: where payloads above ``offload_threshold`` go; None disables offload.
        offload_threshold: payloads strictly larger than this (serialised bytes)
            are offloaded.
        max_offload_bytes: refuse payloads larger than this even for offload.
    """

    def __init__(
        self,
        keyring: keys.KeyRing,
        namespace: str,
        *,
        blobs: blobs.BlobStore | None = None,
        offload_threshold: int = DEFAULT_OFFLOAD_THRESHOLD,
        max_offload_bytes: int = DEFAULT_MAX_OFFLOAD_BYTES,
    ) -> None:
        if offload_threshold <= 0 or max_offload_bytes <= 0:
            raise ValueError("offload_threshold and max_offload_bytes must be positive")
        self.keyring = keyring
        self.namespace = namespace
        self.blobs = blobs
        self.offload_threshold = offload_threshold
        self.max_offload_bytes = max_offload_bytes
        self._address_keys: dict[str, bytes] = {}

    # -- offload --------------------------------------------------------------

    def _address_key(self, key: keys.Key) -> bytes:
        found = self._address_keys.get(key.id)
        if found is None:
            found = hmac.digest(key.material, b"paved-blob-address/v1", "sha256")
            self._address_keys[key.id] = found
        return found

    async def _offload(self, payload: Payload, size: int, index: int) -> Payload:
        assert self.blobs is not None
        key = self.keyring.active(self.namespace)
        if size > self.max_offload_bytes:
            raise OffloadTooLargeError(
                f"payload #{index} of namespace {self.namespace!r} (key id {key.id!r}) is "
                f"{size:,} bytes, over the offload limit of {self.max_offload_bytes:,} bytes",
                fix="store the data yourself and pass a reference, or raise max_offload_bytes",
            )
        raw = payload.SerializeToString()
        digest = hmac.new(self._address_key(key), raw, hashlib.sha256).hexdigest()
        blob_key = f"{_safe(self.namespace)}/{digest}"
        if not await self.blobs.exists(blob_key):
            aad = _blob_aad(self.namespace, key.id, blob_key)
            if size > _THREAD_ABOVE:
                sealed = await asyncio.to_thread(crypto.seal, raw, key, aad)
            else:
                sealed = crypto.seal(raw, key, aad)
            del raw
            await self.blobs.put(blob_key, sealed)
        ref = {"v": 1, "store": self.blobs.name, "key": blob_key, "kid": key.id, "size": size}
        return Payload(metadata={"encoding": REF_ENCODING}, data=json.dumps(ref).encode())

    async def _resolve(self, ref_payload: Payload, index: int) -> Payload:
        where = f"payload #{index} (offloaded) of namespace {self.namespace!r}"
        try:
            ref = json.loads(ref_payload.data)
            blob_key, key_id = str(ref["key"]), str(ref["kid"])
        except (ValueError, KeyError, TypeError):
            raise MalformedPayloadError(f"{where} has an unreadable blob reference") from None
        if self.blobs is None:
            raise BlobMissingError(
                f"{where}, key id {key_id!r}, refers to blob {blob_key!r} but no blob store "
                "is configured",
                fix="configure the blob store the payload was written with (PAVED_BLOB_STORE)",
            )
        key = self.keyring.get(self.namespace, key_id)
        if key is None:
            raise UnknownKeyError(
                f"{where} was encrypted with key id {key_id!r}, which is not in the key ring"
            )
        try:
            sealed = await self.blobs.get(blob_key)
        except BlobMissingError as e:
            raise BlobMissingError(
                f"{where}, key id {key_id!r}: {e.message}",
                fix="blobs must be kept at least as long as the workflow histories that "
                "refer to them; restore the blob store",
            ) from None
        aad = _blob_aad(self.namespace, key_id, blob_key)
        try:
            if len(sealed) > _THREAD_ABOVE:
                raw = await asyncio.to_thread(crypto.open_sealed, sealed, key, aad)
            else:
                raw = crypto.open_sealed(sealed, key, aad)
            del sealed
            out = Payload()
            out.ParseFromString(raw)
        except (InvalidTag, ValueError, DecodeError):
            raise BlobCorruptError(
                f"{where}, key id {key_id!r}: blob {blob_key!r} is corrupt or was altered",
                fix="restore the blob from backup; it cannot be decoded as stored",
            ) from None
        return out

    # -- PayloadCodec ---------------------------------------------------------

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out: list[Payload] = []
        for i, p in enumerate(payloads):
            if crypto.is_encrypted(p):
                out.append(p)
                continue
            if self.blobs is not None:
                size = p.ByteSize()
                if size > self.offload_threshold:
                    p = await self._offload(p, size, i)
            out.append(crypto.encrypt_payload(p, self.keyring, self.namespace, index=i))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out: list[Payload] = []
        for i, p in enumerate(payloads):
            if not crypto.is_encrypted(p):
                out.append(p)
                continue
            d = crypto.decrypt_payload(p, self.keyring, self.namespace, index=i)
            if d.metadata.get("encoding") == REF_ENCODING:
                d = await self._resolve(d, i)
            out.append(d)
        return out


# ----- one-call helpers --------------------------------------------------------------


def find_state_dir(start: Path | str | None = None) -> Path:
    """``.paved/`` next to the nearest ``paved.yaml`` above ``start`` (default: cwd).

    Falls back to ``<start>/.paved``.
    """
    root = find_project_root(start)
    return (root or Path(start or Path.cwd()).resolve()) / STATE_DIR


def blob_store_from_env(state_dir: Path, environ: dict[str, str] | None = None) -> blobs.BlobStore:
    """``PAVED_BLOB_STORE``: ``dir`` (default, ``<state>/blobs``), ``dir:PATH``, ``s3://bucket/prefix``.

    For S3, ``PAVED_BLOB_ENDPOINT`` sets an S3-compatible endpoint; credentials
    come from the usual AWS variables.
    """
    env = dict(os.environ) if environ is None else environ
    spec = env.get("PAVED_BLOB_STORE", "dir")
    if spec.startswith("s3://"):
        bucket, _, prefix = spec[5:].partition("/")
        return blobs.S3BlobStore(
            bucket,
            prefix=(prefix.rstrip("/") + "/") if prefix else "paved-blobs/",
            endpoint_url=env.get("PAVED_BLOB_ENDPOINT") or None,
        )
    if spec.startswith("dir:"):
        return blobs.DirBlobStore(spec[4:])
    return blobs.DirBlobStore(state_dir / "blobs")


_RINGS: dict[Path, keys.KeyRing] = {}


def keyring_for(state_dir: Path | str) -> keys.KeyRing:
    """The process-wide key ring of a state dir (env variables first, then ``keys.json``)."""
    path = Path(state_dir).resolve()
    ring = _RINGS.get(path)
    if ring is None:
        ring = _RINGS[path] = keys.KeyRing(keys.default_key_provider(path))
    return ring


def codec_for(
    namespace: str,
    *,
    state_dir: Path | str | None = None,
    keyring: keys.KeyRing | None = None,
    blobs: blobs.BlobStore | None = None,
    offload: bool = True,
    offload_threshold: int | None = None,
    max_offload_bytes: int = DEFAULT_MAX_OFFLOAD_BYTES,
) -> EncryptionCodec:
    """Paved's codec for logical ``namespace`` with the project's keys and blob store.

    Defaults: keys from ``PAVED_KEYS_<NS>`` or ``<state_dir>/keys.json``; blobs
    from ``PAVED_BLOB_STORE`` or ``<state_dir>/blobs``; threshold from
    ``PAVED_OFFLOAD_THRESHOLD`` or 256 KiB. ``state_dir`` defaults to the
    ``.paved/`` of the project around the current directory.
    """
    sd = Path(state_dir) if state_dir is not None else find_state_dir()
    if offload and blobs is None:
        blobs = blob_store_from_env(sd)
    if offload_threshold is None:
        offload_threshold = int(
            os.environ.get("PAVED_OFFLOAD_THRESHOLD", DEFAULT_OFFLOAD_THRESHOLD)
        )
    return EncryptionCodec(
        keyring or keyring_for(sd),
        namespace,
        blobs=blobs if offload else None,
        offload_threshold=offload_threshold,
        max_offload_bytes=max_offload_bytes,
    )


def data_converter_for(
    namespace: str, *, base: DataConverter | None = None, **codec_kwargs: Any
) -> DataConverter:
    """``base`` (default: temporalio's) with Paved's codec and encoded failure attributes.

    Failure messages and stack traces move into an encoded payload, so the
    codec encrypts them too.
    """
    return replace(
        base or DataConverter.default,
        payload_codec=codec_for(namespace, **codec_kwargs),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def client_options(namespace: str, **codec_kwargs: Any) -> dict[str, Any]:
    """Keyword arguments that make a plain ``temporalio`` client use Paved's codec.

    ``await Client.connect(addr, namespace=physical, **paved.codec.client_options("imagegen"))``
    encrypts every payload, including headers and failure messages.
    """
    return {
        "data_converter": data_converter_for(namespace, **codec_kwargs),
        "header_codec_behavior": HeaderCodecBehavior.CODEC,
    }
