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
_TEMPLATES: dict[str, Payload] = {}


def _template(key_id: str) -> Payload:
    t = _TEMPLATES.get(key_id)
    if t is None:
        t = Payload(metadata={"encoding": ENCODING, META_KEY_ID: key_id.encode()})
        if len(_TEMPLATES) < _CACHE_MAX:
            _TEMPLATES[key_id] = t
    return t


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
    if payload.metadata.get("encoding") == ENCODING:
        return payload
    key = keyring.active(namespace)
    out = Payload()
    out.CopyFrom(_template(key.id))  # about twice as fast as building the metadata map
    out.data = seal(payload.SerializeToString(), key, associated_data(namespace, key.id))
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
    try:
        plaintext = open_sealed(payload.data, key, associated_data(namespace, key_id))
    except (InvalidTag, ValueError):
        raise TamperedPayloadError(
            f"{where} ({ENCODING_STR}) of namespace {namespace!r} with key id {key_id!r} failed "
            "authentication: the ciphertext was modified, or it was written for another "
            "namespace or with a different key under that id",
            fix="do not edit encrypted payloads; check the namespace mapping and the key file",
        ) from None
    out = Payload()
    try:
        out.ParseFromString(plaintext)
    except DecodeError:
        raise MalformedPayloadError(
            f"{where} ({ENCODING_STR}) of namespace {namespace!r} with key id {key_id!r} "
            "decrypted to something that is not a Payload"
        ) from None
    return out
