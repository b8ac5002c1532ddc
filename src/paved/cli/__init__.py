"""``paved``: thin commands over the layers below; no logic of their own."""

from __future__ import annotations

import sys

import click

from paved import _errors
from paved.cli import (
    _autoscale,
    _checks,
    _codec,
    _core,
    _new,
    _observe,
    _operator,
    _proxy,
    _run,
)


class _Group(click.Group):
    """Turn PavedError into a clean message and exit code 2 (no traceback)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except _errors.PavedError as e:
            click.secho(f"error: {e}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="paved")
def cli() -> None:
    """Paved: the paved road for durable AI-agent workflows on Temporal.

    \b
    Typical flow in a product repo:
      paved new worker            scaffold a worker (asks a few questions)
      paved gen                   write specs/ from the @paved decorators
      paved dev                   run Temporal, the proxy and every worker locally
      paved run WORKFLOW          start a workflow through `paved dev` (--input JSON),
                                  print its progress and result
      paved gen --check           in CI: fail when committed specs are stale
    """


for _module in (_core, _run, _codec, _proxy, _new, _observe, _operator, _autoscale, _checks):
    _module.register(cli)


def main() -> None:
    try:
        cli(prog_name="paved")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if isinstance(e.code, str):
            click.echo(e.code, err=True)
        _exit(code)
    _exit(0)


def _exit(code: int) -> None:
    """Exit; skip interpreter finalisation once a Temporal client has been used.

    The Core SDK's native threads can still call into Python while the
    interpreter tears down, which aborts a finished command with exit -6
    (temporalio/sdk-python#300). Everything is flushed first, so nothing is lost.
    """
    if "temporalio.bridge.temporal_sdk_bridge" not in sys.modules:
        sys.exit(code)
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


__all__ = ["cli", "main"]
