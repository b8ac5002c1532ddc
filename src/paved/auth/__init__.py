"""Authentication and authorization, shared by the proxy and the codec server.

``Policy.load("policy.yaml")`` validates a policy file; ``policy.authenticate_bearer(token)``
returns the ``Principal`` of an API key or JWT; ``policy.allowed(principal, role, ns)``
checks a role ("read", "write", "worker", "admin", "decode") on a logical namespace.
(Routes, the logical <-> physical namespace map, live in ``paved.specs``.)
"""

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
    Principal,
    hash_api_key,
    new_api_key,
)

__all__ = [
    "BAD_JWT",
    "DENIED",
    "EXPIRED",
    "MISSING",
    "POLICY",
    "REVOKED",
    "ROLES",
    "UNKNOWN_KEY",
    "Policy",
    "PolicyFile",
    "Principal",
    "hash_api_key",
    "new_api_key",
]
