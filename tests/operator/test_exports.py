"""paved.operator's public names are pinned (httpx style): __all__ lists exactly them."""

from __future__ import annotations

import paved.operator as operator


def test_all_lists_exactly_the_public_names() -> None:
    assert len(set(operator.__all__)) == len(operator.__all__)
    assert all(hasattr(operator, n) for n in operator.__all__)
    # Identifiers only: under pytest, assertion rewriting adds `@py_builtins` to a module.
    public = {n for n in dir(operator) if not n.startswith("_") and n.isidentifier()}
    assert public - {"annotations"} == set(operator.__all__)
