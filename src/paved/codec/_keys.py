"""Key ring and key providers: which AES-256 key encrypts which namespace.

Every logical namespace has one *active* key (new writes) and any number of
*retired* keys (old payloads still decode). Keys come from a
:class:`KeyProvider`:

- :class:`FileKeyProvider`: the embedded default, ``<project>/.paved/keys.json``
  (mode 0600, created on first use, never committed).
- :class:`EnvKeyProvider`: ``PAVED_KEYS_<NAMESPACE>=id1:base64,id2:base64``
  (first entry active), for deployments that inject secrets as variables.
- :class:`LayeredKeyProvider`: env first, then the file (the default).
- The KMS seam: :class:`FileKeyProvider` takes a :class:`KeyWrapper` that wraps
  each data key with a master key held elsewhere (envelope encryption); a cloud
  KMS implements ``wrap``/``unwrap``. :class:`AesKeyWrapper` is the local one.

:class:`KeyRing` caches keys for the hot path (the SDK codec and the proxy call
it per payload) and notices rotation by other processes: it re-reads the
provider when the provider's fingerprint changes (checked at most every
``refresh_seconds``) and when a payload names a key id it does not know yet.
That is what makes ``paved keys rotate`` work without restarting anything.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from paved.codec._errors import KeyProviderError, UnknownKeyError

KEY_BYTES = 32  # AES-256
FILE_FORMAT = "paved-keys/1"
ENV_PREFIX = "PAVED_KEYS_"


@dataclass(frozen=True)
class Key:
    """One AES-256 data key. ``repr`` never shows the material."""

    id: str
    material: bytes = field(repr=False)
    created: str = ""

    def __post_init__(self) -> None:
        if len(self.material) != KEY_BYTES:
            raise KeyProviderError(
                f"key {self.id!r} is {len(self.material)} bytes; AES-256 needs {KEY_BYTES}",
                fix="generate keys with `paved keys rotate` or `python -c 'import os,base64;"
                "print(base64.b64encode(os.urandom(32)).decode())'`",
            )

    @property
    def aead(self) -> AESGCM:
        # AESGCM objects are cheap but not free; cache one per key (frozen
        # dataclass, so bypass __setattr__).
        cached: AESGCM | None = self.__dict__.get("_aead")
        if cached is None:
            cached = AESGCM(self.material)
            object.__setattr__(self, "_aead", cached)
        return cached


@dataclass(frozen=True)
class NamespaceKeys:
    """The keys of one logical namespace: the active one and every retired one."""

    namespace: str
    active_id: str
    keys: Mapping[str, Key]

    @property
    def active(self) -> Key:
        return self.keys[self.active_id]

    @property
    def retired_ids(self) -> list[str]:
        return [k for k in self.keys if k != self.active_id]


def new_key_id(namespace: str) -> str:
    """A fresh, unique, non-secret key id such as ``imagegen-20250101T120000-9f3a``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{namespace}-{stamp}-{secrets.token_hex(3)}"


def new_key(namespace: str) -> Key:
    return Key(new_key_id(namespace), os.urandom(KEY_BYTES), datetime.now(UTC).isoformat())


@runtime_checkable
class KeyProvider(Protocol):
    """Where keys live. Implementations must be safe to call from several threads."""

    def load(self, namespace: str, *, create: bool = False) -> NamespaceKeys | None:
        """The namespace's keys; ``create=True`` makes a first key if there is none."""

    def rotate(self, namespace: str) -> NamespaceKeys:
        """Make a new active key; the previous ones stay, retired."""

    def namespaces(self) -> list[str]:
        """Namespaces this provider holds keys for."""

    def fingerprint(self) -> object:
        """A cheap value that changes whenever the stored keys change."""


class KeyWrapper(Protocol):
    """The KMS seam: wraps data keys with a master key kept outside the key file."""

    name: str

    def wrap(self, material: bytes, *, namespace: str, key_id: str) -> bytes: ...

    def unwrap(self, wrapped: bytes, *, namespace: str, key_id: str) -> bytes: ...


class AesKeyWrapper:
    """Local :class:`KeyWrapper` with an AES-256-GCM master key (a stand-in for a KMS)."""

    def __init__(self, master_key: bytes, name: str = "local-aes") -> None:
        self._aead = AESGCM(master_key)
        self.name = name

    def wrap(self, material: bytes, *, namespace: str, key_id: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, material, f"{namespace}|{key_id}".encode())

    def unwrap(self, wrapped: bytes, *, namespace: str, key_id: str) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:], f"{namespace}|{key_id}".encode())
        except InvalidTag:
            raise KeyProviderError(
                f"key {key_id!r} of namespace {namespace!r} does not unwrap with master key "
                f"{self.name!r}",
                fix="use the master key the key file was written with",
            ) from None


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyProviderError(f"{what} is not valid base64") from None


class FileKeyProvider:
    """Keys in a JSON file (default ``<project>/.paved/keys.json``), mode 0600.

    Writes are atomic (temp file + rename) and serialised across processes with
    an ``flock`` on ``<file>.lock``, so two workers creating the first key of a
    namespace at the same time agree on one key.
    """

    def __init__(self, path: Path | str, *, wrapper: KeyWrapper | None = None) -> None:
        self.path = Path(path)
        self.wrapper = wrapper
        self._mutex = threading.Lock()

    # -- file I/O -------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        ignore = self.path.parent / ".gitignore"
        if self.path.parent.name == ".paved" and not ignore.exists():
            # Keys must never be committed; .paved/ is local state.
            with contextlib.suppress(OSError):
                ignore.write_text("*\n")
        with self._mutex:
            fd = os.open(
                self.path.with_name(self.path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {"format": FILE_FORMAT, "namespaces": {}}
        except OSError as e:
            raise KeyProviderError(f"cannot read key file {self.path}: {e.strerror}") from None
        try:
            doc = json.loads(raw)
        except ValueError:
            raise KeyProviderError(
                f"key file {self.path} is not valid JSON",
                fix="restore it from your backup; do not edit it by hand",
            ) from None
        if not isinstance(doc, dict) or doc.get("format") != FILE_FORMAT:
            raise KeyProviderError(f"key file {self.path} is not in format {FILE_FORMAT!r}")
        return doc

    def _write(self, doc: dict[str, Any]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def _entry(self, namespace: str, key: Key) -> dict[str, str]:
        entry = {"id": key.id, "created": key.created}
        if self.wrapper is not None:
            entry["wrapped"] = base64.b64encode(
                self.wrapper.wrap(key.material, namespace=namespace, key_id=key.id)
            ).decode()
            entry["wrapper"] = self.wrapper.name
        else:
            entry["key"] = base64.b64encode(key.material).decode()
        return entry

    def _parse(self, namespace: str, ns_doc: dict[str, Any]) -> NamespaceKeys:
        keys: dict[str, Key] = {}
        for entry in ns_doc.get("keys", []):
            kid = str(entry["id"])
            if "wrapped" in entry:
                if self.wrapper is None:
                    raise KeyProviderError(
                        f"key {kid!r} of namespace {namespace!r} is wrapped by "
                        f"{entry.get('wrapper')!r} but no key wrapper is configured",
                        fix="configure the KMS key wrapper the key file was written with",
                    )
                material = self.wrapper.unwrap(
                    _b64decode(entry["wrapped"], f"key {kid!r}"), namespace=namespace, key_id=kid
                )
            else:
                material = _b64decode(str(entry["key"]), f"key {kid!r}")
            keys[kid] = Key(kid, material, str(entry.get("created", "")))
        active = str(ns_doc.get("active", ""))
        if active not in keys:
            raise KeyProviderError(
                f"key file {self.path}: active key {active!r} of namespace {namespace!r} is missing"
            )
        return NamespaceKeys(namespace, active, keys)

    # -- KeyProvider ----------------------------------------------------------

    def load(self, namespace: str, *, create: bool = False) -> NamespaceKeys | None:
        ns_doc = self._read()["namespaces"].get(namespace)
        if ns_doc is not None:
            return self._parse(namespace, ns_doc)
        if not create:
            return None
        with self._locked():
            doc = self._read()  # another process may have created it meanwhile
            if namespace not in doc["namespaces"]:
                key = new_key(namespace)
                doc["namespaces"][namespace] = {
                    "active": key.id,
                    "keys": [self._entry(namespace, key)],
                }
                self._write(doc)
            return self._parse(namespace, doc["namespaces"][namespace])

    def rotate(self, namespace: str) -> NamespaceKeys:
        with self._locked():
            doc = self._read()
            key = new_key(namespace)
            ns_doc = doc["namespaces"].setdefault(namespace, {"keys": []})
            ns_doc["keys"].append(self._entry(namespace, key))
            ns_doc["active"] = key.id
            self._write(doc)
            return self._parse(namespace, ns_doc)

    def namespaces(self) -> list[str]:
        return sorted(self._read()["namespaces"])

    def fingerprint(self) -> object:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)


def env_var_for(namespace: str, prefix: str = ENV_PREFIX) -> str:
    """``PAVED_KEYS_IMAGEGEN`` for ``imagegen`` (non-alphanumerics become ``_``)."""
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", namespace).upper()


class EnvKeyProvider:
    """Keys from environment variables, read-only.

    ``PAVED_KEYS_<NAMESPACE>=<id>:<base64 key>[,<id>:<base64 key>...]``; the
    first entry is the active key, the others are retired. Rotate by putting a
    new entry first and redeploying.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, prefix: str = ENV_PREFIX) -> None:
        self.environ = os.environ if environ is None else environ
        self.prefix = prefix

    def load(self, namespace: str, *, create: bool = False) -> NamespaceKeys | None:
        var = env_var_for(namespace, self.prefix)
        value = self.environ.get(var)
        if not value:
            return None
        keys: dict[str, Key] = {}
        for part in value.split(","):
            kid, sep, b64 = part.strip().partition(":")
            if not sep or not kid:
                raise KeyProviderError(
                    f"{var} must be '<key id>:<base64 key>[,...]'",
                    fix="see docs/codec.md, 'Keys from environment variables'",
                )
            keys[kid] = Key(kid, _b64decode(b64, f"{var} entry {kid!r}"))
        return NamespaceKeys(namespace, next(iter(keys)), keys)

    def rotate(self, namespace: str) -> NamespaceKeys:
        raise KeyProviderError(
            f"keys of namespace {namespace!r} come from {env_var_for(namespace, self.prefix)} "
            "and cannot be rotated from here",
            fix="prepend a new '<id>:<base64 key>' entry to the variable and redeploy",
        )

    def namespaces(self) -> list[str]:
        return sorted(
            k[len(self.prefix) :].lower() for k in self.environ if k.startswith(self.prefix)
        )

    def fingerprint(self) -> object:
        return tuple(sorted((k, v) for k, v in self.environ.items() if k.startswith(self.prefix)))


class LayeredKeyProvider:
    """First provider that knows the namespace wins; the last one creates and rotates."""

    def __init__(self, *providers: KeyProvider) -> None:
        if not providers:
            raise ValueError("at least one provider")
        self.providers = providers

    def load(self, namespace: str, *, create: bool = False) -> NamespaceKeys | None:
        for p in self.providers:
            found = p.load(namespace)
            if found is not None:
                return found
        return self.providers[-1].load(namespace, create=create) if create else None

    def rotate(self, namespace: str) -> NamespaceKeys:
        for p in self.providers:
            if p.load(namespace) is not None:
                return p.rotate(namespace)
        return self.providers[-1].rotate(namespace)

    def namespaces(self) -> list[str]:
        return sorted({ns for p in self.providers for ns in p.namespaces()})

    def fingerprint(self) -> object:
        return tuple(p.fingerprint() for p in self.providers)


class MemoryKeyProvider:
    """Keys held in memory only (tests, benchmarks, one-off scripts)."""

    def __init__(self) -> None:
        self._keys: dict[str, NamespaceKeys] = {}
        self._version = 0
        self._mutex = threading.Lock()

    def load(self, namespace: str, *, create: bool = False) -> NamespaceKeys | None:
        with self._mutex:
            if namespace not in self._keys and create:
                key = new_key(namespace)
                self._keys[namespace] = NamespaceKeys(namespace, key.id, {key.id: key})
                self._version += 1
            return self._keys.get(namespace)

    def rotate(self, namespace: str) -> NamespaceKeys:
        with self._mutex:
            key = new_key(namespace)
            old = self._keys.get(namespace)
            keys = {**(old.keys if old else {}), key.id: key}
            self._keys[namespace] = NamespaceKeys(namespace, key.id, keys)
            self._version += 1
            return self._keys[namespace]

    def namespaces(self) -> list[str]:
        return sorted(self._keys)

    def fingerprint(self) -> object:
        return self._version


def default_key_provider(state_dir: Path | str) -> KeyProvider:
    """Env variables first, then ``<state_dir>/keys.json``: Paved's default."""
    return LayeredKeyProvider(EnvKeyProvider(), FileKeyProvider(Path(state_dir) / "keys.json"))


class KeyRing:
    """The keys of every logical namespace, cached, refreshed on rotation.

    Args:
        provider: where keys live.
        create: make a first key for a namespace that has none (the embedded
            default does; a production ring backed by a KMS usually should not).
        refresh_seconds: how often, at most, to check the provider for a rotation.
    """

    def __init__(
        self, provider: KeyProvider, *, create: bool = True, refresh_seconds: float = 1.0
    ) -> None:
        self.provider = provider
        self.create = create
        self.refresh_seconds = refresh_seconds
        self._cache: dict[str, NamespaceKeys] = {}
        self._fingerprint: object = provider.fingerprint()
        self._checked = time.monotonic()
        self._mutex = threading.Lock()

    @classmethod
    def from_file(cls, path: Path | str, **kwargs: Any) -> KeyRing:
        return cls(FileKeyProvider(path), **kwargs)

    @classmethod
    def in_memory(cls) -> KeyRing:
        return cls(MemoryKeyProvider())

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.refresh_seconds:
            return
        self._checked = now
        fp = self.provider.fingerprint()
        if fp != self._fingerprint:
            self._fingerprint = fp
            self._cache.clear()

    def keys(self, namespace: str, *, create: bool | None = None) -> NamespaceKeys:
        """Every key of ``namespace`` (creating the first one if allowed)."""
        self._maybe_refresh()
        found = self._cache.get(namespace)
        if found is None:
            with self._mutex:
                found = self.provider.load(
                    namespace, create=self.create if create is None else create
                )
                if found is None:
                    raise UnknownKeyError(
                        f"namespace {namespace!r} has no keys",
                        fix=f"run `paved keys rotate {namespace}` or set {env_var_for(namespace)}",
                    )
                self._cache[namespace] = found
        return found

    def active(self, namespace: str) -> Key:
        """The key new payloads of ``namespace`` are encrypted with."""
        return self.keys(namespace).active

    def get(self, namespace: str, key_id: str) -> Key | None:
        """Key ``key_id`` of ``namespace``, re-reading the provider once if unknown."""
        # Decoding never creates keys: a namespace without keys has nothing to decode.
        try:
            key = self.keys(namespace, create=False).keys.get(key_id)
            if key is None:
                # Another process may have rotated since we cached: look again.
                with self._mutex:
                    self._cache.pop(namespace, None)
                    self._fingerprint = self.provider.fingerprint()
                key = self.keys(namespace, create=False).keys.get(key_id)
        except UnknownKeyError:
            return None
        return key

    def rotate(self, namespace: str) -> NamespaceKeys:
        """Make a new active key for ``namespace``; older keys stay for decoding."""
        with self._mutex:
            result = self.provider.rotate(namespace)
            self._cache[namespace] = result
            self._fingerprint = self.provider.fingerprint()
        return result
