"""``paved replay pull|test``, ``paved schema gen|check``, ``paved lint``, ``paved check``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from paved import specs

_project_opt = click.option(
    "--project",
    "project_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Project directory (default: nearest parent holding paved.yaml).",
)
_corpus_opt = click.option(
    "--corpus",
    type=click.Path(file_okay=False),
    default=None,
    help="Corpus directory (default: <project>/replay).",
)


def _project(path: str | None) -> specs.Project:
    return specs.Project.load(Path(path)) if path else specs.Project.find()


@click.group()
def replay() -> None:
    """Replay tests from real workflow histories (docs/checks.md).

    \b
      paved replay pull     download recent histories into replay/ (encrypted)
      paved replay test     replay them against the current code; CI fails on
                            non-determinism with the file:line that diverged
    """


@replay.command("pull")
@_project_opt
@_corpus_opt
@click.option("--per-type", default=50, show_default=True, help="Recent runs looked at per type.")
@click.option("--type", "types", multiple=True, help="Only this workflow type (repeatable).")
def replay_pull(
    project_dir: str | None, corpus: str | None, per_type: int, types: tuple[str, ...]
) -> None:
    """Download recent open and closed histories of every workflow type in specs/.

    Connects like product code does (PAVED_ADDRESS, the proxy with
    PAVED_VIA_PROXY and PAVED_API_KEY). Keeps one history per distinct command
    sequence, named by its shape, so re-running refreshes without duplicating.
    Payloads are stored encrypted with the namespace's key ring, never in the clear.
    """
    from paved import checks

    project = _project(project_dir)
    target = Path(corpus) if corpus else project.root / checks.DEFAULT_CORPUS
    stats = asyncio.run(
        checks.pull_project(
            project, target, per_type=per_type, types=list(types) or None, progress=click.echo
        )
    )
    click.echo(
        f"pulled: {stats.scanned} runs scanned, {stats.written} files written, "
        f"{stats.kept} shapes already in {target} "
        f"({stats.sealed_payloads} payloads arrived in the clear and were encrypted)"
    )


@replay.command("test")
@_project_opt
@_corpus_opt
@click.option(
    "--junit", type=click.Path(dir_okay=False), default=None, help="Write JUnit XML here."
)
@click.argument("histories", nargs=-1, type=click.Path(exists=True, dir_okay=False))
def replay_test(
    project_dir: str | None, corpus: str | None, junit: str | None, histories: tuple[str, ...]
) -> None:
    """Replay the corpus (or the given HISTORIES) against the current code.

    Exit 1 on non-determinism, with a report per history: the event that
    diverged, the file:line and source text of the code that issued the
    command instead, the call site recorded with the history, and the fix to
    paste. Keys: PAVED_KEYS_<NS> or .paved/keys.json (or the corpus's demo ring).
    """
    code = run_replay(_project(project_dir), corpus, junit, [Path(h) for h in histories])
    sys.exit(code)


def run_replay(
    project: specs.Project, corpus: str | None, junit: str | None, only: list[Path]
) -> int:
    from paved import checks

    run = asyncio.run(
        checks.replay_project(project, Path(corpus) if corpus else None, only=only or None)
    )
    if run.demo_keys is not None:
        click.echo(f"note: corpus decrypted with its committed demo key ring {run.demo_keys}")
    for o in run.failed:
        click.secho(checks.describe(o, project.root), fg="red")
        click.echo()
    if junit:
        Path(junit).write_text(checks.junit_xml(run, project.root), encoding="utf-8")
    click.echo(checks.summary(run))
    return 1 if run.failed else 0


def register(group: click.Group) -> None:
    group.add_command(replay)
