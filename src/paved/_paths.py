"""Finding a project's root: the nearest directory holding ``paved.yaml``.

One walk shared by every layer: ``paved.specs.Project.find`` (which then loads
the project), ``paved.codec.find_state_dir`` (below specs, it only needs the
directory) and the scaffolder (which may start outside any project).
"""

from __future__ import annotations

from pathlib import Path

PROJECT_FILE = "paved.yaml"
STATE_DIR = ".paved"  # local state beside paved.yaml (dev server, keys, blobs); never committed


def find_project_root(start: Path | str | None = None) -> Path | None:
    """The nearest directory from ``start`` (default: the working directory) up that
    holds ``paved.yaml``, or None."""
    here = Path(start or Path.cwd()).resolve()
    for d in [here, *here.parents]:
        if (d / PROJECT_FILE).exists():
            return d
    return None
