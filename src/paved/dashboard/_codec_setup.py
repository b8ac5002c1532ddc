"""Building a codec server from a project: keys, policy, namespace mapping.

Called by ``paved codec-server`` and ``paved dev``. The Temporal UI names the
*physical* namespace (``imagegen-dev-local``); keys and permissions are per
*logical* namespace (``imagegen``). The mapping comes, in order, from an
explicit ``--namespace-map``, the generated specs (``paved.auth.Routes``),
a logical name sent as is (clients behind the proxy), and finally the naming
rule ``<logical>-<environment>-<region>`` applied to namespaces that have keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from paved import codec, specs
from paved._errors import ProjectError
from paved.auth import Policy, Principal, Routes
from paved.dashboard import _codec_server as server


def namespace_resolver(
    *,
    routes: Routes | None = None,
    mapping: Mapping[str, str] | None = None,
    known_logical: Iterable[str] = (),
) -> server.NamespaceResolver:
    """Physical (or logical) namespace -> logical namespace, or None."""
    explicit = dict(mapping or {})
    known = set(known_logical)

    def resolve(name: str) -> str | None:
        if name in explicit:
            return explicit[name]
        if routes is not None:
            route = routes.by_physical(name)
            if route is not None:
                return route.logical
            if name in routes:
                return name
        if name in known:
            return name
        # Naming rule: exactly "<logical>-<environment>-<region>" for a known logical.
        candidates = [
            lg for lg in known if name.startswith(lg + "-") and name[len(lg) + 1 :].count("-") == 1
        ]
        return candidates[0] if len(candidates) == 1 else None

    return resolve


def local_principal(policy: Policy, name: str) -> Principal:
    """The policy's principal ``name`` as the codec server's local developer.

    Its team's roles (and its own ``roles:`` narrowing) apply exactly as for a
    token-authenticated call; only the credential is implied by the local mode.
    """
    found = policy.principal(name, via="local-dev")
    if found is not None:
        return dataclasses.replace(found, credential_id="local-dev")
    raise ProjectError(
        f"the policy {policy.source} has no principal {name!r} for the local developer",
        code="PAVED-PROJECT-NO-POLICY",
        fix=f"add a principal named {name!r} (with decode on your namespaces) to the policy",
    )


def parse_namespace_map(items: Sequence[str]) -> dict[str, str]:
    """``["imagegen-prod-eu=imagegen", ...]`` -> dict."""
    out: dict[str, str] = {}
    for item in items:
        physical, sep, logical = item.partition("=")
        if not sep or not physical or not logical:
            raise ProjectError(
                f"bad --namespace-map entry {item!r}",
                fix="use PHYSICAL=LOGICAL, e.g. imagegen-prod-eu=imagegen",
            )
        out[physical] = logical
    return out


def config_from_project(
    project: specs.Project | None,
    *,
    policy: Policy,
    state_dir: Path,
    namespace_map: Mapping[str, str] | None = None,
    cors_origins: Sequence[str] = (),
    inline_blobs: bool = True,
    local_principal: Principal | None = None,
) -> server.CodecServerConfig:
    """A codec server config with the project's keys, specs and blob store."""
    # The server must never invent keys: decoding under a fresh key shows nothing.
    ring = codec.KeyRing(codec.default_key_provider(state_dir), create=False)
    routes: Routes | None = None
    if project is not None:
        try:
            routes = Routes.from_specs(project.specs().namespaces.namespaces)
        except ProjectError:
            routes = None  # no generated specs yet: fall back to the naming rule
    return server.CodecServerConfig(
        keyring=ring,
        authorizer=policy,
        resolve=namespace_resolver(
            routes=routes, mapping=namespace_map, known_logical=ring.provider.namespaces()
        ),
        cors_origins=tuple(cors_origins),
        blobs=codec.blob_store_from_env(state_dir) if inline_blobs else None,
        local_principal=local_principal,
    )
