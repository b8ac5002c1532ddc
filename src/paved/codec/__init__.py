"""Payload protection shared by the SDK and the proxy: encryption, key ring, offload.

Pure, synchronous per-payload functions (the proxy calls these on every
Payload it forwards)::

    ring = KeyRing(FileKeyProvider(project.state_dir / "keys.json"))
    sealed = encrypt_payload(payload, ring, "imagegen")
    assert decrypt_payload(sealed, ring, "imagegen") == payload
"""

from paved.codec._crypto import (
    CIPHER,
    ENCODING,
    META_CIPHER,
    META_KEY_ID,
    associated_data,
    decrypt_payload,
    encrypt_payload,
    is_encrypted,
)
from paved.codec._errors import (
    BlobCorruptError,
    BlobMissingError,
    CodecError,
    KeyProviderError,
    MalformedPayloadError,
    OffloadTooLargeError,
    TamperedPayloadError,
    UnknownKeyError,
)
from paved.codec._keys import (
    AesKeyWrapper,
    EnvKeyProvider,
    FileKeyProvider,
    Key,
    KeyProvider,
    KeyRing,
    KeyWrapper,
    LayeredKeyProvider,
    MemoryKeyProvider,
    NamespaceKeys,
    default_key_provider,
    env_var_for,
)

__all__ = [
    "CIPHER",
    "ENCODING",
    "META_CIPHER",
    "META_KEY_ID",
    "AesKeyWrapper",
    "BlobCorruptError",
    "BlobMissingError",
    "CodecError",
    "EnvKeyProvider",
    "FileKeyProvider",
    "Key",
    "KeyProvider",
    "KeyProviderError",
    "KeyRing",
    "KeyWrapper",
    "LayeredKeyProvider",
    "MalformedPayloadError",
    "MemoryKeyProvider",
    "NamespaceKeys",
    "OffloadTooLargeError",
    "TamperedPayloadError",
    "UnknownKeyError",
    "associated_data",
    "decrypt_payload",
    "default_key_provider",
    "encrypt_payload",
    "env_var_for",
    "is_encrypted",
]
