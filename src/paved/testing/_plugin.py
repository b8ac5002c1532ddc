"""The pytest plugin of ``paved.testing`` (entry point ``pytest11``: loaded wherever Paved is installed).

Fixtures:

- ``paved_server`` (session): a real Temporal dev server on free ports, see
  :class:`paved.testing.PavedServer`; started on first use, stopped at the end.
- ``paved_server_options`` (session): how it starts; override it in a
  ``conftest.py`` to register search attributes or change the environment.
- ``paved_project`` (session): the project under test, the nearest
  ``paved.yaml`` above pytest's root directory (or the ``paved_project`` ini
  option); ``paved gen`` must have written its specs.

Nothing starts unless a test asks for these fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from paved import specs
    from paved.testing._server import PavedServer, ServerOptions


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "paved_project",
        "Directory of the Paved project under test (default: the nearest paved.yaml above rootdir)",
        default="",
    )


@pytest.fixture(scope="session")
def paved_server_options() -> ServerOptions:
    """How ``paved_server`` starts; override this fixture to change it."""
    from paved.testing._server import ServerOptions

    return ServerOptions()


@pytest.fixture(scope="session")
def paved_server(
    tmp_path_factory: pytest.TempPathFactory, paved_server_options: ServerOptions
) -> Iterator[PavedServer]:
    """A real Temporal dev server for the whole session, on free ports."""
    from paved.testing._server import start_server

    with start_server(tmp_path_factory.mktemp("paved-server"), paved_server_options) as server:
        yield server


@pytest.fixture(scope="session")
def paved_project(pytestconfig: pytest.Config) -> specs.Project:
    """The project under test (``paved gen`` must have written its specs)."""
    from paved import specs

    configured = str(pytestconfig.getini("paved_project") or "")
    start = Path(pytestconfig.rootpath, configured) if configured else Path(pytestconfig.rootpath)
    for d in [start.resolve(), *start.resolve().parents]:
        if (d / specs.PROJECT_FILE).exists():
            return specs.Project.load(d)
    pytest.fail(
        f"paved_project: no {specs.PROJECT_FILE} at or above {start}; "
        "set `paved_project = <dir>` in pytest's ini options"
    )
