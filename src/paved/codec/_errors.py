"""Codec errors with stable codes; raised by every part of ``paved.codec``.

Messages name the payload (index and encoding), the logical namespace and the
key id, and never contain key material or plaintext: they travel into logs,
workflow task failures and the Temporal UI.

    CodecError (paved._errors)
    ├── TamperedPayloadError     PAVED-CODEC-TAMPERED    authentication tag did not verify
    ├── UnknownKeyError          PAVED-CODEC-UNKNOWN-KEY key id not in the namespace's key ring
    ├── MalformedPayloadError    PAVED-CODEC-MALFORMED   an encrypted payload that is not in Paved's format
    ├── KeyProviderError         PAVED-CODEC-KEYS        key file / env var missing or invalid
    ├── BlobMissingError         PAVED-CODEC-BLOB-MISSING offloaded blob not in the store
    ├── BlobCorruptError         PAVED-CODEC-BLOB-CORRUPT blob present but does not decrypt/verify
    └── OffloadTooLargeError     PAVED-CODEC-TOO-LARGE   payload above even the offload limit
"""

from __future__ import annotations

from paved._errors import CodecError, PayloadTooLargeError


class TamperedPayloadError(CodecError):
    """Ciphertext, key id or namespace binding does not verify (tampered or wrong key)."""

    code = "PAVED-CODEC-TAMPERED"


class UnknownKeyError(CodecError):
    """The payload names a key id the namespace's key ring does not hold."""

    code = "PAVED-CODEC-UNKNOWN-KEY"


class MalformedPayloadError(CodecError):
    """A payload marked as Paved-encrypted (or a blob reference) that cannot be parsed."""

    code = "PAVED-CODEC-MALFORMED"


class KeyProviderError(CodecError):
    """Keys cannot be loaded or stored (unreadable file, bad env var, read-only provider)."""

    code = "PAVED-CODEC-KEYS"


class BlobMissingError(CodecError):
    """An offloaded payload's blob is not in the blob store."""

    code = "PAVED-CODEC-BLOB-MISSING"


class BlobCorruptError(CodecError):
    """An offloaded payload's blob exists but does not decrypt or match its digest."""

    code = "PAVED-CODEC-BLOB-CORRUPT"


class OffloadTooLargeError(CodecError, PayloadTooLargeError):
    """A payload is larger than even the blob store accepts (``max_offload_bytes``)."""

    code = "PAVED-CODEC-TOO-LARGE"


__all__ = [
    "BlobCorruptError",
    "BlobMissingError",
    "CodecError",
    "KeyProviderError",
    "MalformedPayloadError",
    "OffloadTooLargeError",
    "TamperedPayloadError",
    "UnknownKeyError",
]
