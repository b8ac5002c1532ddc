"""Tiers: what each tier means for an activity call, and how code learns its namespace's tier.

A tier (0 critical .. 3 best effort) is a property of a logical namespace,
written in the project's ``paved.yaml``; a decorator may override it
(``tier=``). ``paved.execute_activity`` turns the tier into default timeouts
and a retry policy (:func:`tier_defaults`).

How workflow code knows the tier, deterministically, under any runner
(``paved worker run``, a plain temporalio ``Worker``, the ``Replayer``, the
workflow sandbox): when ``@paved.activity`` / ``@paved.workflow`` runs, it
reads the tier of its namespace from the ``paved.yaml`` above the decorated
code's file (:func:`namespace_tier`) and records it in the placement. The same
code next to the same ``paved.yaml`` always gets the same tier; nothing is
written into a process-wide table by a runtime. A namespace the project file
does not declare, or code outside any project, has no tier, and
:func:`tier_of` says so, naming the namespace, instead of guessing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from paved._errors import DefinitionError

if TYPE_CHECKING:
    from temporalio.common import RetryPolicy

PROJECT_FILE: Final = "paved.yaml"
TIERS: Final = (0, 1, 2, 3)
# The tier of a namespace that paved.yaml declares without `tier:`.
DEFAULT_TIER: Final = 2


@dataclass(frozen=True)
class TierDefaults:
    """Default activity options for a tier."""

    start_to_close: timedelta
    schedule_to_close: timedelta | None
    heartbeat: timedelta | None
    retry: RetryPolicy


@lru_cache(maxsize=1)
def _tier_defaults() -> Mapping[int, TierDefaults]:
    # Built on first use: temporalio loads only when a command needs tiers.
    from temporalio.common import RetryPolicy

    return MappingProxyType(
        {
            # Tier 0: user-facing and critical. Retry for a long time, quickly at first.
            0: TierDefaults(
                start_to_close=timedelta(minutes=5),
                schedule_to_close=timedelta(hours=24),
                heartbeat=None,
                retry=RetryPolicy(
                    initial_interval=timedelta(milliseconds=200),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=30),
                ),
            ),
            1: TierDefaults(
                start_to_close=timedelta(minutes=5),
                schedule_to_close=timedelta(hours=6),
                heartbeat=None,
                retry=RetryPolicy(
                    initial_interval=timedelta(milliseconds=500),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=1),
                ),
            ),
            2: TierDefaults(
                start_to_close=timedelta(minutes=10),
                schedule_to_close=timedelta(hours=2),
                heartbeat=None,
                retry=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=2),
                    maximum_attempts=50,
                ),
            ),
            # Tier 3: best effort; give up after a handful of attempts.
            3: TierDefaults(
                start_to_close=timedelta(minutes=10),
                schedule_to_close=timedelta(minutes=30),
                heartbeat=None,
                retry=RetryPolicy(
                    initial_interval=timedelta(seconds=2),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=5),
                    maximum_attempts=5,
                ),
            ),
        }
    )


def tier_defaults(tier: int) -> TierDefaults:
    """The default activity options of ``tier`` (0 critical .. 3 best effort)."""
    try:
        return _tier_defaults()[tier]
    except KeyError:
        raise DefinitionError(
            f"tier {tier!r} is not a tier",
            code="PAVED-DEF-TIER",
            fix="use 0 (critical), 1, 2 or 3 (best effort)",
        ) from None


def project_file_for(source: str | Path) -> Path | None:
    """The ``paved.yaml`` in the directory of ``source`` or the nearest one above it."""
    here = Path(source).resolve()
    for d in [here, *here.parents] if here.is_dir() else here.parents:
        candidate = d / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=64)
def _tiers_in(path: str, _mtime_ns: int, _size: int) -> Mapping[str, int]:
    """``{namespace: tier}`` declared by one version of a project file (cached per version)."""
    import yaml  # loaded here: `paved --help` must not pay for it

    try:
        data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return MappingProxyType({})  # `paved gen` reports the broken file with its line
    namespaces = data.get("namespaces") if isinstance(data, dict) else None
    out: dict[str, int] = {}
    for name, body in (namespaces or {}).items() if isinstance(namespaces, dict) else ():
        tier = body.get("tier", DEFAULT_TIER) if isinstance(body, dict) else DEFAULT_TIER
        if isinstance(tier, int) and not isinstance(tier, bool) and tier in TIERS:
            out[str(name)] = tier
    return MappingProxyType(out)


def namespace_tier(namespace: str, project_file: Path | None) -> int | None:
    """The tier ``project_file`` declares for logical ``namespace``; None if it does not."""
    if project_file is None:
        return None
    try:
        st = os.stat(project_file)
    except OSError:
        return None
    return _tiers_in(str(project_file), st.st_mtime_ns, st.st_size).get(namespace)


def resolve_tier(namespace: str, source: str, tier: int | None = None) -> int:
    """``tier`` if given, else the tier of ``namespace`` in the ``paved.yaml`` above ``source``.

    For tier-dependent options of things that are not decorated (an agent
    framework's activities declared at ``source``, ``"file:line"`` or a path).

    Raises:
        DefinitionError: ``PAVED-TIER-MISSING``, naming the namespace.
    """
    if tier is not None:
        return tier
    from temporalio import workflow as t_workflow

    path = source.rsplit(":", 1)[0] if not os.path.exists(source) else source
    found: Path | None = None
    ns_tier: int | None = None
    if os.path.exists(path):
        if t_workflow.unsafe.in_sandbox():
            with t_workflow.unsafe.sandbox_unrestricted():
                found = project_file_for(path)
                ns_tier = namespace_tier(namespace, found)
        else:
            found = project_file_for(path)
            ns_tier = namespace_tier(namespace, found)
    if ns_tier is None:
        raise missing_tier("call", "", namespace, source, str(found or ""))
    return ns_tier


def missing_tier(
    kind: str, name: str, namespace: str, source: str, project_file: str
) -> DefinitionError:
    """The error for a placement whose namespace has no known tier."""
    where = (
        f"{project_file} does not declare namespace {namespace!r}"
        if project_file
        else f"no {PROJECT_FILE} was found above {source.rsplit(':', 1)[0]}"
    )
    what = f"{kind} {name!r}" if name else kind
    return DefinitionError(
        f"{source}: {what} is in namespace {namespace!r}, which has no tier: {where}",
        code="PAVED-TIER-MISSING",
        fix=f"declare `{namespace}:` under `namespaces:` in the project's {PROJECT_FILE} "
        f"(tier defaults to {DEFAULT_TIER}) and import the code from inside the project, "
        f"or give the decorator tier=0..3",
    )
