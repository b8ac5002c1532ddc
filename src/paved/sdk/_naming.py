"""Names shared by every layer: physical namespaces and the runtime environment.

A logical namespace (``imagegen``) exists once per region and environment as a
physical Temporal namespace ``<logical>-<environment>-<region>``
(``imagegen-prod-eu``). ``paved gen`` writes these names, the operator creates
them, the proxy routes to them, and a client that talks to Temporal directly
uses them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from paved._paths import STATE_DIR

# The rule for project, namespace and worker names, checked first by the
# decorators, then by the spec models and ``paved new worker``: lower-case
# letters, digits and '-', starting with a letter, at most 63 characters (a DNS
# label, so a name fits in Kubernetes objects and physical namespace names).
NAME_PATTERN: Final = r"^[a-z][a-z0-9-]{0,62}$"


def physical_namespace(logical: str, region: str, environment: str) -> str:
    """The Temporal namespace of ``logical`` in ``region`` and ``environment``."""
    return f"{logical}-{environment}-{region}"


@dataclass(frozen=True)
class RuntimeEnv:
    """Where this process runs, from ``PAVED_*`` environment variables.

    Attributes:
        address: Temporal frontend or Paved proxy, ``host:port``.
        region, environment: select the physical namespace.
        via_proxy: True when ``address`` is a Paved proxy, which maps logical
            namespaces itself (clients then send the logical name).
        api_key: credential for the proxy or Temporal Cloud.
        tls: connect with TLS.
        namespace: a physical namespace to use as is (``PAVED_NAMESPACE``), for one
            the specs do not declare (an isolated test or benchmark environment).
    """

    address: str = "localhost:7233"
    region: str = "local"
    environment: str = "dev"
    via_proxy: bool = False
    api_key: str | None = None
    tls: bool = False
    namespace: str | None = None

    @classmethod
    def from_env(cls) -> RuntimeEnv:
        def flag(name: str) -> bool:
            return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")

        return cls(
            address=os.environ.get("PAVED_ADDRESS", cls.address),
            region=os.environ.get("PAVED_REGION", cls.region),
            environment=os.environ.get("PAVED_ENV", cls.environment),
            via_proxy=flag("PAVED_VIA_PROXY"),
            api_key=os.environ.get("PAVED_API_KEY") or None,
            tls=flag("PAVED_TLS"),
            namespace=os.environ.get("PAVED_NAMESPACE") or None,
        )

    @classmethod
    def local_dev(cls, start: Path | None = None) -> tuple[RuntimeEnv, str] | None:
        """The running ``paved dev`` of the project around ``start`` (default: the working
        directory): its proxy address and dev key, and the principal they act as; None
        when no ``paved dev`` runs there (or it runs with the project's own policy)."""
        from paved._paths import find_project_root

        root = find_project_root(start)
        if root is None:
            return None
        try:
            state = json.loads((root / STATE_DIR / "dev.json").read_text())
            os.kill(int(state["pid"]), 0)
            key = Path(state["key_file"]).read_text().strip() if state.get("key_file") else ""
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not key or not state.get("via_proxy"):
            return None
        env = cls(address=str(state["address"]), via_proxy=True, api_key=key)
        return env, str(state.get("principal", "dev-local"))

    def namespace_for(self, logical: str) -> str:
        """The namespace name to send: logical through the proxy, physical otherwise.

        A managed worker asks the specs' ``Routes`` instead (``paved.worker``);
        this rule serves clients that have no specs at hand.
        """
        if self.via_proxy:
            return logical
        if self.namespace:
            return self.namespace
        return physical_namespace(logical, self.region, self.environment)
