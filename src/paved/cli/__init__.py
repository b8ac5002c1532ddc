"""``paved``: thin commands over the layers below; no logic of their own."""

from __future__ import annotations

import sys

import click

from paved import _errors
from paved.cli import _checks, _codec, _core, _new, _observe, _operator, _proxy


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
      paved gen --check           in CI: fail when committed specs are stale
    """


for _module in (_core, _codec, _proxy, _new, _observe, _operator, _checks):
    _module.register(cli)


def main() -> None:
    cli(prog_name="paved")


__all__ = ["cli", "main"]
