"""Authentication and authorization, shared by the proxy and the codec server.

``Policy.load("policy.yaml")`` validates a policy file; ``policy.authenticate_bearer(token)``
returns the ``Principal`` of an API key or JWT; ``policy.allowed(principal, role, ns)``
and ``policy.decide(AccessRequest(...))`` is the one authorization decision every service
asks: a role ("read", "write", "worker", "admin", "decode") on a logical namespace, in a
region and environment, answered with a ``Decision`` and its reason.
(Routes, the logical <-> physical namespace map, live in ``paved.specs``.)
"""

import typing as _typing

from paved import _lazy

if _typing.TYPE_CHECKING:
    from paved.auth._decide import EVERY_NAMESPACE, AccessRequest, Decision
    from paved.auth._model import ROLES, PolicyFile
    from paved.auth._policy import (
        BAD_JWT,
        DENIED,
        EXPIRED,
        MISSING,
        POLICY,
        REVOKED,
        UNKNOWN_KEY,
        Policy,
        hash_api_key,
        new_api_key,
    )
    from paved.auth._principal import Principal

__all__ = [
    "BAD_JWT",
    "DENIED",
    "EVERY_NAMESPACE",
    "EXPIRED",
    "MISSING",
    "POLICY",
    "REVOKED",
    "ROLES",
    "UNKNOWN_KEY",
    "AccessRequest",
    "Decision",
    "Policy",
    "PolicyFile",
    "Principal",
    "hash_api_key",
    "new_api_key",
]

if not _typing.TYPE_CHECKING:  # type checkers see the imports above, exactly
    __getattr__, __dir__ = _lazy.exports(__name__, __file__)
