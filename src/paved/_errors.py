"""Paved's error hierarchy.

Every error a user can meet carries a stable ``code`` (for docs, alerts and
tests to match on) and, where it helps, the place of the mistake and its fix.

    PavedError
    ├── DefinitionError      a decorator used wrongly (file:line of the decorated object)
    ├── ProjectError         paved.yaml / spec files: missing, invalid or stale
    ├── PayloadError         a payload that cannot be converted, encoded or decoded
    │   └── PayloadTooLargeError
    ├── CodecError           encryption, key ring and blob store failures (paved.codec)
    ├── AuthError            authentication / authorization (paved.auth)
    └── RuntimeSetupError    a process that cannot start: port in use, missing binary
"""

from __future__ import annotations


class PavedError(Exception):
    """Base class of every error Paved raises on purpose."""

    code: str = "PAVED"

    def __init__(self, message: str, *, code: str | None = None, fix: str | None = None) -> None:
        if code is not None:
            self.code = code
        self.fix = fix
        text = f"[{self.code}] {message}"
        if fix:
            text += f"\n  fix: {fix}"
        super().__init__(text)
        self.message = message


class DefinitionError(PavedError):
    """A workflow or activity decorator was used wrongly."""

    code = "PAVED-DEF"


class ProjectError(PavedError):
    """The project file or a spec file is missing, invalid or stale."""

    code = "PAVED-PROJECT"


class PayloadError(PavedError):
    """A payload could not be converted, validated, encoded or decoded."""

    code = "PAVED-PAYLOAD"


class PayloadTooLargeError(PayloadError):
    """A payload is larger than Temporal (or the configured limit) accepts."""

    code = "PAVED-PAYLOAD-SIZE"


class CodecError(PavedError):
    """Encryption, key ring or blob store failure."""

    code = "PAVED-CODEC"


class AuthError(PavedError):
    """Authentication or authorization failure."""

    code = "PAVED-AUTH"


class RuntimeSetupError(PavedError):
    """A Paved process could not start (port in use, missing binary, ...)."""

    code = "PAVED-SETUP"
