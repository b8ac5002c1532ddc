"""Routes: logical namespace <-> physical namespaces, per region and environment.

Built from the generated specs (``specs/namespaces.yaml``: the physical names
``paved gen`` writes) or from plain Python objects in tests. The proxy uses it
to rewrite the namespace of each request for the caller's region and
environment, and the codec server to find the logical namespace (and so the
keys and the ``decode`` permission) of the physical namespace the Temporal UI
names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from paved.specs import NamespaceSpec, RateLimit


@dataclass(frozen=True)
class Route:
    """One physical namespace of a logical one."""

    logical: str
    physical: str
    region: str
    environment: str
    rate_limit: RateLimit = field(default_factory=RateLimit)


class Routes:
    """The routing table. Immutable; build a new one to change it."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._by_key: dict[tuple[str, str, str], Route] = {}
        self._by_physical: dict[str, Route] = {}
        self._logical: dict[str, list[Route]] = {}
        for r in routes:
            self._by_key[(r.logical, r.region, r.environment)] = r
            self._by_physical[r.physical] = r
            self._logical.setdefault(r.logical, []).append(r)

    @classmethod
    def from_specs(cls, namespaces: Iterable[NamespaceSpec]) -> Routes:
        return cls(
            Route(ns.name, p.name, p.region, p.environment, ns.rate_limit)
            for ns in namespaces
            for p in ns.physical
        )

    def physical(self, logical: str, region: str, environment: str) -> Route | None:
        """The route of ``logical`` in ``region``/``environment``, or None."""
        return self._by_key.get((logical, region, environment))

    def by_physical(self, physical: str) -> Route | None:
        return self._by_physical.get(physical)

    def logical_names(self) -> list[str]:
        return sorted(self._logical)

    def routes_of(self, logical: str) -> list[Route]:
        return list(self._logical.get(logical, ()))

    def all(self) -> list[Route]:
        return list(self._by_physical.values())

    def __contains__(self, logical: object) -> bool:
        return logical in self._logical
