"""``paved new worker``: generate a ready managed worker in a project.

Code stubs, their tests, the golden image's Dockerfile, the ``paved.yaml``
entries and the specs; the Kubernetes manifests come from the caller (the CLI
passes ``paved.operator.render_k8s``).
"""

import typing as _typing

from paved import _lazy

if _typing.TYPE_CHECKING:
    from paved.scaffold._scaffold import (
        ManifestRenderer,
        ScaffoldRequest,
        ScaffoldResult,
        check_available,
        check_name,
        check_owner,
        check_retention,
        check_tier,
        find_root,
        next_steps,
        package_name,
        project_name,
        scaffold_worker,
    )

__all__ = [
    "ManifestRenderer",
    "ScaffoldRequest",
    "ScaffoldResult",
    "check_available",
    "check_name",
    "check_owner",
    "check_retention",
    "check_tier",
    "find_root",
    "next_steps",
    "package_name",
    "project_name",
    "scaffold_worker",
]

if not _typing.TYPE_CHECKING:  # type checkers see the imports above, exactly
    __getattr__, __dir__ = _lazy.exports(__name__, __file__)
