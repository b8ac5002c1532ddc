"""A directory blob store with idempotent, atomic writes keyed by the caller.

``store_image`` keys each image by its workflow id, so an activity retried after
a crash (the write happened, the completion was lost) overwrites the same key
instead of storing a second copy: the number of blobs is the number of
requests that completed, which is what the reliability tests count. Writes go
to a temporary file and are renamed into place, so a reader never sees half an
image and a ``kill -9`` mid-write leaves only a stray ``.tmp`` file.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
SUFFIX = ".png"
# The project root (beside paved.yaml), whatever the process's working directory.
# (``.paved/blobs`` belongs to Paved's payload offload, so images live apart.)
DEFAULT_ROOT = Path(__file__).resolve().parents[1] / ".paved" / "images"


@dataclass(frozen=True)
class Blob:
    key: str
    path: Path
    sha256: str
    size: int


class BlobStore:
    """Blobs are files ``<root>/<key>.png``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @classmethod
    def from_env(cls) -> BlobStore:
        """``IMAGEGEN_BLOB_DIR``, default ``.paved/images`` in the example's project directory."""
        return cls(os.environ.get("IMAGEGEN_BLOB_DIR") or DEFAULT_ROOT)

    def path_for(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / f"{key}{SUFFIX}"

    def put(self, key: str, data: bytes) -> Blob:
        """Store ``data`` under ``key``; storing the same key again replaces it."""
        path = self.path_for(key)
        digest = hashlib.sha256(data).hexdigest()
        if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            return Blob(key, path, digest, len(data))
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return Blob(key, path, digest, len(data))

    def get(self, key: str) -> bytes:
        return self.path_for(key).read_bytes()

    def keys(self) -> list[str]:
        """Every stored key (temporary files excluded), sorted."""
        if not self.root.exists():
            return []
        return sorted(
            p.name[: -len(SUFFIX)]
            for p in self.root.iterdir()
            if p.name.endswith(SUFFIX) and not p.name.startswith(".")
        )
