"""Blob stores for large-payload offload: a local directory and S3-compatible storage.

:class:`paved.codec.EncryptionCodec` stores payloads above its threshold here
(already encrypted) under content-addressed keys, so a retried task that
re-sends the same payload writes nothing new. Keys look like
``<namespace>/<64 hex>``; stores must treat them as opaque relative names.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from paved.codec._errors import BlobMissingError, CodecError


@runtime_checkable
class BlobStore(Protocol):
    """Where offloaded payloads go. ``get`` raises :class:`BlobMissingError`."""

    name: str

    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...


def _check_key(key: str) -> None:
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") for p in parts) or key.startswith("/"):
        raise CodecError(f"invalid blob key {key!r}", code="PAVED-CODEC-BLOB-KEY")


class DirBlobStore:
    """Blobs as files under a directory (the embedded default: ``.paved/blobs``)."""

    name = "dir"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        _check_key(key)
        return self.root / key

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path.exists():
            return  # content-addressed: same key, same content
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(data)}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def _get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobMissingError(f"blob {key!r} is not in {self.root}") from None

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()


class S3BlobStore:
    """Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, moto...), via boto3.

    Args:
        bucket: bucket name (must exist).
        prefix: prepended to every key.
        client: a boto3 S3 client; built from ``endpoint_url`` and
            ``client_kwargs`` when omitted (credentials from the usual AWS chain).
    """

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "paved-blobs/",
        client: Any = None,
        endpoint_url: str | None = None,
        **client_kwargs: Any,
    ) -> None:
        if client is None:
            try:
                import boto3
            except ImportError:  # pragma: no cover - optional dependency
                raise CodecError(
                    "S3BlobStore needs boto3",
                    code="PAVED-CODEC-S3",
                    fix="pip install 'paved[s3]'",
                ) from None
            client = boto3.client("s3", endpoint_url=endpoint_url, **client_kwargs)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def _key(self, key: str) -> str:
        _check_key(key)
        return self.prefix + key

    def _is_missing(self, e: Exception) -> bool:
        code = str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception as e:
            if self._is_missing(e):
                return False
            raise

    def _put(self, key: str, data: bytes) -> None:
        if self._exists(key):
            return
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def _get(self, key: str) -> bytes:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as e:
            if self._is_missing(e):
                raise BlobMissingError(
                    f"blob {key!r} is not in s3://{self.bucket}/{self.prefix}"
                ) from None
            raise
        body: bytes = resp["Body"].read()
        return body

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._exists, key)
