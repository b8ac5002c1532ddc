"""Payload encryption: AES-256-GCM on ``temporalio.api.common.v1.Payload``.

Called per payload by :class:`paved.codec.EncryptionCodec` (SDK side) and by the
proxy, so these functions are synchronous, allocation-light and idempotent:
an already-encrypted payload passes through :func:`encrypt_payload` unchanged,
and a payload that is not encrypted passes through :func:`decrypt_payload`.

Wire format (documented in docs/codec.md so other tools can decode it)::

    metadata["encoding"]      = b"binary/paved-encrypted"
    metadata["paved-key-id"]  = key id, UTF-8 (not secret)
    data = b"\\x01" (format 1 = AES-256-GCM) || nonce (12 bytes) || AES-256-GCM(key, nonce,
               plaintext = the original Payload, serialised protobuf (metadata + data),
               aad = b"paved/v1|" || logical namespace || b"|" || key id) incl. 16-byte tag

The associated data binds a ciphertext to its logical namespace and key id: a
payload of namespace A never decrypts as namespace B, even if the two shared a
key, and swapping the key id in the metadata fails authentication.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from cryptography.exceptions import InvalidTag
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload

from paved.codec import _keys as keys
from paved.codec._errors import MalformedPayloadError, TamperedPayloadError, UnknownKeyError

ENCODING = b"binary/paved-encrypted"
ENCODING_STR = ENCODING.decode()
META_KEY_ID = "paved-key-id"
META_CIPHER = "paved-cipher"
CIPHER = b"AES-256-GCM"
VERSION = b"\x01"
NONCE_BYTES = 12
TAG_BYTES = 16


def associated_data(namespace: str, key_id: str) -> bytes:
    """The AES-GCM associated data that binds a ciphertext to namespace and key id."""
    aad = _AAD.get((namespace, key_id))
    if aad is None:
        aad = b"paved/v1|" + namespace.encode() + b"|" + key_id.encode()
        if len(_AAD) < _CACHE_MAX:
            _AAD[(namespace, key_id)] = aad
    return aad


# Hot-path caches (the proxy encrypts every payload it forwards): building the
# associated data and the metadata map costs more than encrypting 1 KiB.
_CACHE_MAX = 10_000
_AAD: dict[tuple[str, str], bytes] = {}
# Serialised outer metadata (encoding + key id) per key id, and serialised inner
# metadata per encoding for the common single-entry ``{"encoding": ...}`` map.
_OUTER_META: dict[str, bytes] = {}
_TEMPLATES: dict[str, Payload] = {}
_INNER_META: dict[bytes, bytes] = {}

# Protobuf field tags of ``Payload`` on the wire: 1 = metadata entry, 2 = data.
_DATA_TAG = b"\x12"
# Below this size plain bytes objects are cheaper than the scratch-buffer path.
_SMALL = 64 * 1024
_HEADER_MAX = 16  # room for the outer data tag + varint length + version + nonce


def _outer_meta(key_id: str) -> bytes:
    found = _OUTER_META.get(key_id)
    if found is None:
        found = Payload(
            metadata={"encoding": ENCODING, META_KEY_ID: key_id.encode()}
        ).SerializeToString()
        if len(_OUTER_META) < _CACHE_MAX:
            _OUTER_META[key_id] = found
    return found


def _template(key_id: str) -> Payload:
    t = _TEMPLATES.get(key_id)
    if t is None:
        t = Payload(metadata={"encoding": ENCODING, META_KEY_ID: key_id.encode()})
        if len(_TEMPLATES) < _CACHE_MAX:
            _TEMPLATES[key_id] = t
    return t


def _inner_meta(meta: Any) -> bytes:
    """The serialised metadata entries of the plaintext ``Payload``."""
    if len(meta) == 1:
        enc = meta.get("encoding")
        if enc is not None:
            found = _INNER_META.get(enc)
            if found is None:
                found = Payload(metadata={"encoding": enc}).SerializeToString()
                if len(_INNER_META) < 256:  # a handful of encodings exist in practice
                    _INNER_META[enc] = found
            return found
    return Payload(metadata=meta).SerializeToString()


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Per-thread scratch buffers, reused across payloads. Fresh large allocations are
# the dominant cost above ~64 KiB (every new page is a page fault, ~1 ms per MiB
# on the VMs we measured), far more than AES-GCM itself; reusing warm buffers and
# letting protobuf parse straight from them removes all but the copies protobuf
# makes (reading ``payload.data`` and storing the result). Buffers larger than
# _SCRATCH_KEEP are not kept, so an occasional huge payload does not pin memory.
# Cost: up to 2 x 4 MiB held per thread that encrypts, holding the last large
# plaintext in process memory (as a freed bytes object would, until reused).
_SCRATCH_KEEP = 4 * 2**20
_local = threading.local()


def _scratch(slot: str, size: int) -> bytearray:
    buf: bytearray | None = getattr(_local, slot, None)
    if buf is None or len(buf) < size:
        buf = bytearray(max(size, 64 * 1024))
        if size <= _SCRATCH_KEEP:
            setattr(_local, slot, buf)
    return buf


def _where(index: int | None) -> str:
    return "payload" if index is None else f"payload #{index}"


def is_encrypted(payload: Payload) -> bool:
    """True if ``payload`` is in Paved's encrypted format."""
    return payload.metadata.get("encoding") == ENCODING


def seal(plaintext: bytes, key: keys.Key, aad: bytes) -> bytes:
    """``VERSION || nonce || ciphertext+tag`` (also used for offloaded blobs)."""
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + key.aead.encrypt(nonce, plaintext, aad)


def open_sealed(sealed: bytes, key: keys.Key, aad: bytes) -> bytes:
    """Inverse of :func:`seal`; raises ``InvalidTag`` or ``ValueError``."""
    if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES or sealed[:1] != VERSION:
        raise ValueError("not a sealed Paved message")
    mv = memoryview(sealed)
    return key.aead.decrypt(bytes(mv[1 : 1 + NONCE_BYTES]), mv[1 + NONCE_BYTES :], aad)


def encrypt_payload(
    payload: Payload, keyring: keys.KeyRing, namespace: str, *, index: int | None = None
) -> Payload:
    """Encrypt ``payload`` with the active key of logical ``namespace``.

    Already-encrypted payloads are returned unchanged (never double-encrypted).
    ``index`` only serves error messages.
    """
    meta = payload.metadata
    if meta.get("encoding") == ENCODING:
        return payload
    key = keyring.active(namespace)
    # Same bytes as ``seal(payload.SerializeToString())`` in an outer Payload, built
    # without serialising the whole payload (upb grows its buffer by copying) and
    # without intermediate ciphertext objects: the plaintext (inner metadata ‖ data
    # field) goes into one scratch buffer, AES-GCM encrypts it into a second one
    # already laid out as the serialised outer Payload, and protobuf parses that.
    inner = _inner_meta(meta)
    data = payload.data
    n = len(data)
    aad = associated_data(namespace, key.id)
    if n < _SMALL:
        # Small payloads: per-call overhead dominates, fewest Python steps wins.
        nonce = os.urandom(NONCE_BYTES)
        ct = key.aead.encrypt(nonce, b"".join((inner, _DATA_TAG, _varint(n), data)), aad)
        out = Payload()
        out.CopyFrom(_template(key.id))  # about twice as fast as building the metadata map
        out.data = b"".join((VERSION, nonce, ct))
        return out
    data_hdr = _DATA_TAG + _varint(n)
    plen = len(inner) + len(data_hdr) + n
    plain = _scratch("plain", plen)
    pv = memoryview(plain)
    i = len(inner)
    pv[:i] = inner
    pv[i : i + len(data_hdr)] = data_hdr
    i += len(data_hdr)
    pv[i : i + n] = data
    del data

    outer = _outer_meta(key.id)
    sealed_len = 1 + NONCE_BYTES + plen + TAG_BYTES
    head = outer + _DATA_TAG + _varint(sealed_len) + VERSION
    nonce = os.urandom(NONCE_BYTES)
    total = len(head) + NONCE_BYTES + plen + TAG_BYTES
    wire = _scratch("wire", total)
    wv = memoryview(wire)
    h = len(head)
    wv[:h] = head
    wv[h : h + NONCE_BYTES] = nonce
    h += NONCE_BYTES
    key.aead.encrypt_into(nonce, pv[:plen], aad, wv[h : h + plen + TAG_BYTES])
    out = Payload()
    out.ParseFromString(wv[:total])  # type: ignore[arg-type]  # upb takes any buffer
    return out


def decrypt_payload(
    payload: Payload, keyring: keys.KeyRing, namespace: str, *, index: int | None = None
) -> Payload:
    """Decrypt a Paved-encrypted ``payload`` of logical ``namespace``.

    Payloads that are not encrypted are returned unchanged. Raises
    :class:`UnknownKeyError`, :class:`TamperedPayloadError` or
    :class:`MalformedPayloadError`; messages name the payload, the namespace and
    the key id, never the key or the data.
    """
    meta = payload.metadata
    if meta.get("encoding") != ENCODING:
        return payload
    raw_id = meta.get(META_KEY_ID)
    where = _where(index)
    if not raw_id:
        raise MalformedPayloadError(
            f"{where} ({ENCODING_STR}) of namespace {namespace!r} has no {META_KEY_ID!r} metadata"
        )
    key_id = raw_id.decode(errors="replace")
    # Older writers recorded the cipher in metadata; format 1 implies AES-256-GCM.
    cipher = meta.get(META_CIPHER, CIPHER)
    if cipher != CIPHER:
        raise MalformedPayloadError(
            f"{where} ({ENCODING_STR}) of namespace {namespace!r}, key id {key_id!r}: "
            f"unsupported cipher {cipher.decode(errors='replace')!r}"
        )
    key = keyring.get(namespace, key_id)
    if key is None:
        raise UnknownKeyError(
            f"{where} ({ENCODING_STR}) of namespace {namespace!r} was encrypted with key id "
            f"{key_id!r}, which is not in the namespace's key ring",
            fix="restore the retired key (never delete retired keys while payloads that use "
            "them are retained), or check that the payload belongs to this namespace",
        )
    sealed = payload.data
    plen = len(sealed) - 1 - NONCE_BYTES - TAG_BYTES
    try:
        if plen < 0 or sealed[0] != VERSION[0]:
            raise ValueError("not a sealed Paved message")
        if plen < _SMALL:
            plaintext = key.aead.decrypt(
                sealed[1 : 1 + NONCE_BYTES],
                sealed[1 + NONCE_BYTES :],
                associated_data(namespace, key_id),
            )
            return _parse(plaintext, where, namespace, key_id)
        # Decrypt into a warm per-thread buffer and parse from it: no fresh
        # plaintext object (see _scratch). The buffer is only parsed once the tag
        # has been verified (decrypt_into raises before we get there).
        plain = _scratch("plain", plen)
        pv = memoryview(plain)[:plen]
        key.aead.decrypt_into(
            sealed[1 : 1 + NONCE_BYTES],
            memoryview(sealed)[1 + NONCE_BYTES :],
            associated_data(namespace, key_id),
            pv,
        )
    except (InvalidTag, ValueError):
        raise TamperedPayloadError(
            f"{where} ({ENCODING_STR}) of namespace {namespace!r} with key id {key_id!r} failed "
            "authentication: the ciphertext was modified, or it was written for another "
            "namespace or with a different key under that id",
            fix="do not edit encrypted payloads; check the namespace mapping and the key file",
        ) from None
    del sealed
    return _parse(pv, where, namespace, key_id)


def _parse(plaintext: bytes | memoryview, where: str, namespace: str, key_id: str) -> Payload:
    out = Payload()
    try:
        out.ParseFromString(plaintext)  # type: ignore[arg-type]
    except DecodeError:
        raise MalformedPayloadError(
            f"{where} ({ENCODING_STR}) of namespace {namespace!r} with key id {key_id!r} "
            "decrypted to something that is not a Payload"
        ) from None
    return out
