"""paved.agents' public names are pinned: __all__ lists exactly them, sorted."""

from __future__ import annotations

import paved.agents as agents


def test_all_lists_exactly_the_public_names() -> None:
    assert agents.__all__ == sorted(agents.__all__, key=lambda n: (not n.isupper(), n))
    assert all(hasattr(agents, n) for n in agents.__all__)
    public = {n for n in dir(agents) if not n.startswith("_")}
    assert public - {"annotations"} == set(agents.__all__)
