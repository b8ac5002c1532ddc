"""Routes: the one map between logical namespaces and physical ones, both ways.

A logical namespace (``imagegen``) exists once per region and environment as a
physical Temporal namespace. ``paved gen`` writes the physical names into
``specs/namespaces.yaml``; everything at run time reads them from here, never
re-derives them from a naming rule:

- the proxy rewrites a logical name to the physical one of the caller's region
  and environment (``Routes.physical``) and back (``Routes.by_physical``);
- the managed worker finds the namespace it polls (``Routes.require``);
- the codec server finds the logical namespace (its keys, the ``decode``
  permission) of the physical name the Temporal UI sends (``Routes.by_physical``);
- ``paved dev`` and the operator list the physical namespaces of an
  environment (``Routes.in_environment``).

Region and environment names may contain hyphens (``us-east``, ``pre-prod``):
nothing here splits a name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from paved._errors import ProjectError
from paved.specs import _model as model


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Route:
    """One physical namespace of a logical one (also a ``routes:`` entry of ``proxy.yaml``)."""

    logical: str
    physical: str
    region: str
    environment: str
    rate_limit: model.RateLimit = model.RateLimit()


class Routes:
    """The routing table. Immutable; build a new one to change it."""

    def __init__(self, routes: Iterable[Route], aliases: dict[str, str] | None = None) -> None:
        self._by_key: dict[tuple[str, str, str], Route] = {}
        self._by_physical: dict[str, Route] = {}
        self._logical: dict[str, list[Route]] = {}
        for r in routes:
            self._by_key[(r.logical, r.region, r.environment)] = r
            self._by_physical[r.physical] = r
            self._logical.setdefault(r.logical, []).append(r)
        self._routes = list(self._by_physical.values())
        # other names of a physical namespace (the spec's name of a Temporal Cloud one)
        for alias, physical in (aliases or {}).items():
            if physical in self._by_physical:
                self._by_physical.setdefault(alias, self._by_physical[physical])

    def qualified(self, name_of: Callable[[Route], str]) -> Routes:
        """The same routes with each physical name as its Temporal knows it.

        Temporal Cloud names a namespace ``<name>.<account>``; ``name_of`` gives
        that name (the proxy asks its clusters). The spec's name stays an alias:
        :meth:`by_physical` finds the route by either name, and :meth:`all` lists
        each route once, with the qualified name.
        """
        out: list[Route] = []
        aliases: dict[str, str] = {}
        for r in self._routes:
            name = name_of(r)
            if name != r.physical:
                aliases[r.physical] = name
                r = Route(r.logical, name, r.region, r.environment, r.rate_limit)
            out.append(r)
        return Routes(out, aliases)

    @classmethod
    def from_specs(cls, namespaces: Iterable[model.NamespaceSpec]) -> Routes:
        """The routes ``specs/namespaces.yaml`` declares (``project.specs().namespaces.namespaces``)."""
        return cls(
            Route(ns.name, p.name, p.region, p.environment, ns.rate_limit)
            for ns in namespaces
            for p in ns.physical
        )

    def physical(self, logical: str, region: str, environment: str) -> Route | None:
        """The route of ``logical`` in ``region``/``environment``, or None."""
        return self._by_key.get((logical, region, environment))

    def require(self, logical: str, region: str, environment: str) -> Route:
        """Like :meth:`physical`, but a missing route is an error naming what the specs have."""
        route = self.physical(logical, region, environment)
        if route is not None:
            return route
        have = ", ".join(f"{r.region}/{r.environment}" for r in self.routes_of(logical))
        raise ProjectError(
            f"namespace {logical!r} has no physical namespace in region {region!r}, "
            f"environment {environment!r} (the specs have: {have or 'none'})",
            code="PAVED-PROJECT-NO-ROUTE",
            fix="set PAVED_REGION / PAVED_ENV to one of those, or add the region or environment "
            "to paved.yaml and run `paved gen`",
        )

    def by_physical(self, physical: str) -> Route | None:
        """The route whose physical name is ``physical``, or None."""
        return self._by_physical.get(physical)

    def logical_of(self, name: str) -> str | None:
        """The logical namespace of a physical name, or of a logical name given as is."""
        route = self._by_physical.get(name)
        if route is not None:
            return route.logical
        return name if name in self._logical else None

    @staticmethod
    def guess_logical(name: str, known_logical: Iterable[str]) -> str | None:
        """Without specs only: ``<logical>-<environment>-<region>`` for a known logical name,
        when environment and region hold no hyphen; None when unsure.

        Used only by a codec server that is given no project (hence no routes);
        with a project, :meth:`logical_of` answers, hyphens included.
        """
        known = set(known_logical)
        if name in known:
            return name
        found = [
            lg for lg in known if name.startswith(lg + "-") and name.count("-", len(lg) + 1) == 1
        ]
        return found[0] if len(found) == 1 else None

    def in_environment(self, environment: str) -> list[Route]:
        """Every route of ``environment``, sorted by physical name."""
        return sorted(
            (r for r in self._routes if r.environment == environment),
            key=lambda r: r.physical,
        )

    def logical_names(self) -> list[str]:
        return sorted(self._logical)

    def routes_of(self, logical: str) -> list[Route]:
        return list(self._logical.get(logical, ()))

    def all(self) -> list[Route]:
        return list(self._routes)

    def __contains__(self, logical: object) -> bool:
        return logical in self._logical

    def __len__(self) -> int:
        return len(self._routes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Routes):
            return NotImplemented
        key = lambda r: r.physical  # noqa: E731
        return sorted(self._routes, key=key) == sorted(other._routes, key=key)

    __hash__ = None  # type: ignore[assignment]
