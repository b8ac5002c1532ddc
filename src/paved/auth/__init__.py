"""Authentication, authorization and routing tables, shared by the proxy and the codec server.

``Policy.load("policy.yaml")`` validates a policy file; ``policy.authenticate_bearer(token)``
returns the ``Principal`` of an API key or JWT; ``policy.allowed(principal, role, ns)``
checks a role ("read", "write", "worker", "admin", "decode") on a logical namespace.
``Routes`` maps logical namespaces to the physical ones of each region and environment.
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
from paved.auth._routes import Route, Routes

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
    "Route",
    "Routes",
    "hash_api_key",
    "new_api_key",
]
