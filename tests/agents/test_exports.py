"""paved.agents' public names are pinned: __all__ lists exactly them, sorted."""

from __future__ import annotations

import paved.agents as agents


def test_all_lists_exactly_the_public_names() -> None:
    assert agents.__all__ == sorted(agents.__all__, key=lambda n: (not n.isupper(), n))
    assert all(hasattr(agents, n) for n in agents.__all__)
    # Identifiers only: under pytest, assertion rewriting adds `@py_builtins` to a module.
    public = {n for n in dir(agents) if not n.startswith("_") and n.isidentifier()}
    assert public - {"annotations"} == set(agents.__all__)


def test_the_approval_constants_do_not_load_the_frameworks() -> None:
    """The proxy and front ends import paved.agents for constants and stream helpers."""
    import subprocess
    import sys

    code = (
        "import sys, paved.agents as a; a.APPROVAL_UPDATE; a.sse_response; "
        "print(sorted(m for m in ('agents', 'pydantic_ai', 'openai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_approver_role_is_a_policy_role() -> None:
    from paved.auth import ROLES

    assert agents.APPROVER_ROLE in ROLES
