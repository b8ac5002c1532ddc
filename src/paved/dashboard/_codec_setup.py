"""Building a codec server from a project: keys, policy, namespace mapping.

Called by ``paved codec-server`` (and so by ``paved dev``, which runs it in
local-developer mode). The Temporal UI names the *physical* namespace
(``imagegen-dev-local``); keys and permissions are per *logical* namespace
(``imagegen``). The mapping comes from an explicit ``--namespace-map``, then the
project's ``paved.specs.Routes`` (a logical name sent as is, by clients behind
the proxy, maps to itself). Nothing here splits a name at its hyphens: regions
such as ``us-east`` and environments such as ``pre-prod`` map like any other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from paved import codec, specs
from paved._errors import ProjectError
from paved.auth import Policy, Principal
from paved.dashboard import _codec_server as server


def namespace_resolver(
    *,
    routes: specs.Routes | None = None,
    mapping: Mapping[str, str] | None = None,
    known_logical: Iterable[str] = (),
) -> server.NamespaceResolver:
    """Physical (or logical) namespace -> logical namespace, or None.

    ``routes`` (the project's) answer every name the specs declare. Without
    routes (a codec server given no project), ``known_logical`` names (those
    with keys) are accepted as is, and physical names are guessed with
    :meth:`paved.specs.Routes.guess_logical`.
    """
    explicit = dict(mapping or {})
    known = sorted(set(known_logical))

    def resolve(name: str) -> str | None:
        if name in explicit:
            return explicit[name]
        if routes is not None:
            return routes.logical_of(name)
        return specs.Routes.guess_logical(name, known)

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
    """A codec server config with the project's keys, routes and blob store."""
    # The server must never invent keys: decoding under a fresh key shows nothing.
    ring = codec.KeyRing(codec.default_key_provider(state_dir), create=False)
    return server.CodecServerConfig(
        keyring=ring,
        authorizer=policy,
        resolve=namespace_resolver(
            routes=project.routes() if project is not None else None,
            mapping=namespace_map,
            known_logical=ring.provider.namespaces(),
        ),
        cors_origins=tuple(cors_origins),
        blobs=codec.blob_store_from_env(state_dir) if inline_blobs else None,
        local_principal=local_principal,
    )
