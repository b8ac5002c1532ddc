"""Options every command shares: ``--project`` and the project it names.

Every command module takes its ``--project`` option and its project from here,
so that the flag reads and behaves the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

import click

from paved import specs

PROJECT_HELP = "Project directory (default: nearest parent holding paved.yaml)."

project_option = click.option(
    "--project",
    "project_dir",
    type=click.Path(file_okay=False),
    default=None,
    help=PROJECT_HELP,
)


def load_project(project_dir: str | None) -> specs.Project:
    """The project at ``--project``, or the one holding the working directory."""
    return specs.Project.load(Path(project_dir)) if project_dir else specs.Project.find()
