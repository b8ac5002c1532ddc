"""Payload protection shared by the SDK and the proxy: encryption, key ring, offload.

Pure, synchronous per-payload functions (the proxy calls these on every
Payload it forwards)::

    ring = KeyRing(FileKeyProvider(project.state_dir / "keys.json"))
    sealed = encrypt_payload(payload, ring, "imagegen")
    assert decrypt_payload(sealed, ring, "imagegen") == payload
"""

import typing as _typing

from paved import _lazy

if _typing.TYPE_CHECKING:
    from paved.codec._blobs import BlobStore, DirBlobStore, S3BlobStore
    from paved.codec._codec import (
        DEFAULT_MAX_OFFLOAD_BYTES,
        DEFAULT_OFFLOAD_THRESHOLD,
        REF_ENCODING,
        EncryptionCodec,
        blob_store_from_env,
        client_options,
        codec_for,
        data_converter_for,
        find_state_dir,
        keyring_for,
    )
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
    "DEFAULT_MAX_OFFLOAD_BYTES",
    "DEFAULT_OFFLOAD_THRESHOLD",
    "ENCODING",
    "META_CIPHER",
    "META_KEY_ID",
    "REF_ENCODING",
    "AesKeyWrapper",
    "BlobCorruptError",
    "BlobMissingError",
    "BlobStore",
    "CodecError",
    "DirBlobStore",
    "EncryptionCodec",
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
    "S3BlobStore",
    "TamperedPayloadError",
    "UnknownKeyError",
    "associated_data",
    "blob_store_from_env",
    "client_options",
    "codec_for",
    "data_converter_for",
    "decrypt_payload",
    "default_key_provider",
    "encrypt_payload",
    "env_var_for",
    "find_state_dir",
    "is_encrypted",
    "keyring_for",
]

if not _typing.TYPE_CHECKING:  # type checkers see the imports above, exactly
    __getattr__, __dir__ = _lazy.exports(__name__, __file__)
