"""``paved check``: every CI guardrail in one command, one summary, one exit code.

Steps, in order (each runs even when an earlier one failed, so CI shows all):

1. specs     ``paved gen --check``: committed specs match the code
2. schema    ``paved schema check``: goldens, exceptions, real corpus payloads
3. replay    ``paved replay test``: the corpus against the current code
4. lint      ``paved lint``: the project's packages
5. operator  ``paved operator plan`` against ``--temporal`` (only when given:
             it reads a live Temporal; skipped otherwise, and said so)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from paved import specs
from paved._errors import PavedError
from paved.checks import _lint, _replay, _report, _schema, _schema_check


@dataclass
class Step:
    name: str
    status: str = "ok"  # ok | failed | error | skipped
    summary: str = ""
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class CheckRun:
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.status in ("ok", "skipped") for s in self.steps)


def _timed(name: str, fn: Callable[[Step], None]) -> Step:
    step = Step(name)
    t0 = time.perf_counter()
    try:
        fn(step)
    except PavedError as e:
        step.status, step.summary = "error", str(e).splitlines()[0]
        step.details = str(e).splitlines()[1:]
    step.seconds = time.perf_counter() - t0
    return step


def run_all(
    project: specs.Project,
    *,
    junit: Path | None = None,
    temporal: str | None = None,
    schemas_dir: Path | None = None,
    corpus: Path | None = None,
) -> CheckRun:
    t0 = time.perf_counter()
    schemas_dir = schemas_dir or project.root / _schema.DEFAULT_DIR
    corpus = corpus or project.root / _replay.DEFAULT_CORPUS
    run = CheckRun()

    def gen(step: Step) -> None:
        diff = project.diff_specs(project.generate())
        if diff:
            step.status, step.summary = (
                "failed",
                "specs are stale: run `paved gen` and commit specs/",
            )
            step.details = diff.splitlines()[:40]
        else:
            step.summary = "specs up to date"

    def schema(step: Step) -> None:
        findings = _schema_check.check(project, schemas_dir, corpus)
        breaking = [f for f in findings if f.accepted is None]
        step.details = [line for f in findings for line in f.format().splitlines()]
        stale = [] if breaking else _schema_check.stale(project, schemas_dir)
        if breaking:
            step.status = "failed"
        elif stale:
            step.status = "failed"
            step.details.append(
                f"goldens differ (compatibly): run `paved schema gen`: {', '.join(stale)}"
            )
        step.summary = f"{len(breaking)} breaking, {len(findings) - len(breaking)} accepted" + (
            ", goldens stale" if stale else ""
        )

    def replay(step: Step) -> None:
        if not corpus.is_dir():
            step.status, step.summary = "skipped", f"no corpus at {corpus} (`paved replay pull`)"
            return
        result = asyncio.run(_replay.replay_project(project, corpus))
        if junit is not None:
            junit.write_text(_report.junit_xml(result, project.root), encoding="utf-8")
        step.summary = _report.summary(result).removeprefix("replay: ")
        step.details = [_report.describe(o, project.root) for o in result.failed]
        if result.failed:
            step.status = "failed"

    def lint(step: Step) -> None:
        files = _lint.project_files(project)
        findings = _lint.lint_files(files, project.root)
        step.details = [_lint.format_finding(f, project.root) for f in findings]
        step.summary = f"{len(findings)} findings in {len(files)} files"
        if findings:
            step.status = "failed"

    def operator(step: Step) -> None:
        if temporal is None:
            step.status, step.summary = (
                "skipped",
                "needs a Temporal frontend: pass --temporal ADDRESS",
            )
            return
        cmd = [
            sys.executable,
            "-m",
            "paved.cli",
            "operator",
            "plan",
            "--project",
            str(project.root),
            "--temporal",
            temporal,
        ]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        step.details = (p.stdout + p.stderr).splitlines()[-40:]
        step.summary = {0: "in sync", 1: "drift"}.get(
            p.returncode, f"could not read (exit {p.returncode})"
        )
        if p.returncode != 0:
            step.status = "failed" if p.returncode == 1 else "error"

    for name, fn in (
        ("specs", gen),
        ("schema", schema),
        ("replay", replay),
        ("lint", lint),
        ("operator", operator),
    ):
        run.steps.append(_timed(name, fn))
    run.seconds = time.perf_counter() - t0
    return run
