"""``paved replay pull|test``, ``paved schema gen|check``, ``paved lint``, ``paved check``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from paved import specs
from paved.cli._options import load_project as _project
from paved.cli._options import project_option

_project_opt = project_option
_corpus_opt = click.option(
    "--corpus",
    type=click.Path(file_okay=False),
    default=None,
    help="Corpus directory (default: <project>/replay).",
)


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
    import asyncio

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
    import asyncio

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


@click.command()
@_project_opt
@click.option("--rules", "list_rules", is_flag=True, help="List the rules and exit.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def lint(project_dir: str | None, list_rules: bool, paths: tuple[str, ...]) -> None:
    """Static checks for Temporal mistakes, following calls across modules.

    \b
    Lints the project's packages (or PATHS): non-deterministic calls, I/O and
    threads in workflow code (also inside the helpers it calls), blocking
    calls in async activities, missing timeouts and retry bounds, a workflow
    and its activities on one queue, loops without continue-as-new,
    exceptions that retry a workflow task forever, raw bytes as payloads.
    Silence one line with a reason:  # paved: ignore[PVL001] <why>
    Exit 1 when there are findings.
    """
    sys.exit(run_lint(project_dir, list_rules, paths))


def run_lint(project_dir: str | None, list_rules: bool = False, paths: tuple[str, ...] = ()) -> int:
    from paved import checks

    if list_rules:
        for rule in checks.LINT_RULES.values():
            click.echo(f"{rule.id} {rule.name}: {rule.summary}\n    fix: {rule.fix}")
        return 0
    if paths:
        files: list[Path] = []
        for p in map(Path, paths):
            files.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
        root = Path.cwd()
        findings = checks.lint_files(files, root)
    else:
        project = _project(project_dir)
        root = project.root
        files = checks.project_files(project)
        findings = checks.lint_files(files, root)
    for f in findings:
        click.secho(checks.format_finding(f, root), fg="red")
    word = "finding" if len(findings) == 1 else "findings"
    click.echo(f"lint: {len(findings)} {word} in {len(files)} files")
    return 1 if findings else 0


@click.group()
def schema() -> None:
    """Golden schemas of every workflow and activity input and output (docs/checks.md).

    \b
      paved schema gen      write schemas/ (reader and writer JSON schemas, surface)
      paved schema check    compare the code with the committed goldens; CI fails on
                            a breaking change, with its rule, field and a payload
    """


_schemas_opt = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=None,
    help="Golden directory (default: <project>/schemas).",
)


@schema.command("gen")
@_project_opt
@_schemas_opt
def schema_gen(project_dir: str | None, directory: str | None) -> None:
    """Write the golden schemas from the code (commit the result).

    Run it after `paved schema check` passes (or after accepting a finding in
    schemas/exceptions.yaml), so the goldens follow the code.
    """
    from paved import checks

    project = _project(project_dir)
    target = Path(directory) if directory else project.root / checks.SCHEMA_DIR
    if target.is_dir():
        breaking = [f for f in checks.check_schemas(project, target) if f.accepted is None]
        if breaking:
            for f in breaking:
                click.secho(f.format(), fg="red")
            click.secho(
                "refusing to overwrite the goldens with a breaking change: fix the code, or accept "
                f"each finding with a reason in {target / checks.SCHEMA_EXCEPTIONS_FILE}",
                fg="red",
                err=True,
            )
            sys.exit(1)
    written = checks.write_schemas(project, target, checks.generate_schemas(project))
    for p in written:
        click.echo(f"wrote {p.relative_to(project.root) if p.is_relative_to(project.root) else p}")
    click.echo(f"schemas: {len(written)} files changed in {target}")


@schema.command("check")
@_project_opt
@_schemas_opt
@_corpus_opt
def schema_check(project_dir: str | None, directory: str | None, corpus: str | None) -> None:
    """Compare the code with the goldens; re-validate real payloads from the replay corpus.

    \b
    Rules (Buf-style ids): FIELD_ADDED_REQUIRED, FIELD_REMOVED, FIELD_TYPE_CHANGED,
    ENUM_VALUE_REMOVED, ENUM_VALUE_ADDED, CONSTRAINT_TIGHTENED, PARAM_ADDED_REQUIRED,
    PARAM_REMOVED, WORKFLOW_REMOVED, ACTIVITY_REMOVED, SIGNAL_REMOVED, QUERY_REMOVED,
    UPDATE_REMOVED, CORPUS_PAYLOAD_REJECTED, ... Accept one with a reason in
    schemas/exceptions.yaml. Exit 1 on any finding not accepted.
    """
    sys.exit(run_schema_check(_project(project_dir), directory, corpus))


def run_schema_check(project: specs.Project, directory: str | None, corpus: str | None) -> int:
    from paved import checks

    target = Path(directory) if directory else project.root / checks.SCHEMA_DIR
    replay_dir = Path(corpus) if corpus else project.root / checks.DEFAULT_CORPUS
    findings = checks.check_schemas(project, target, replay_dir)
    breaking = [f for f in findings if f.accepted is None]
    for f in findings:
        click.secho(f.format(), fg="yellow" if f.accepted else "red")
    stale = checks.stale_schemas(project, target) if not breaking else []
    if stale:
        click.echo(
            f"goldens differ from the code (compatible): run `paved schema gen`: {', '.join(stale)}"
        )
    click.echo(
        f"schema: {len(breaking)} breaking, {len(findings) - len(breaking)} accepted"
        + (", goldens stale" if stale else "")
    )
    return 1 if breaking or stale else 0


@click.command()
@_project_opt
@click.option(
    "--junit",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the replay JUnit XML here.",
)
@click.option(
    "--temporal",
    default=None,
    help="Also run `paved operator plan` against this Temporal frontend (drift fails the check).",
)
def check(project_dir: str | None, junit: str | None, temporal: str | None) -> None:
    """Every CI guardrail: gen --check, schema check, replay test, lint (+ operator plan).

    \b
    One summary, exit 1 if any step fails (each step runs regardless, so CI
    shows everything at once). Use it in CI and as a pre-commit hook:
      - repo: local
        hooks:
          - {id: paved-check, name: paved check, entry: paved check, language: system, pass_filenames: false}
    """
    from paved import checks

    project = _project(project_dir)
    run = checks.run_checks(project, junit=Path(junit) if junit else None, temporal=temporal)
    colors = {"ok": "green", "skipped": "yellow", "failed": "red", "error": "red"}
    for step in run.steps:
        if step.details and step.status != "ok":
            click.secho(f"--- {step.name}", bold=True)
            for line in step.details:
                click.echo(line)
    click.secho(f"paved check: {project.root}", bold=True)
    for step in run.steps:
        click.secho(
            f"  {step.status:<8}{step.name:<10}{step.summary}  ({step.seconds:.2f}s)",
            fg=colors[step.status],
        )
    verdict = "all checks passed" if run.ok else "FAILED"
    click.secho(f"{verdict} in {run.seconds:.2f}s", fg="green" if run.ok else "red", bold=True)
    sys.exit(0 if run.ok else 1)


def _pairs(values: tuple[str, ...], option: str, what: str) -> dict[str, float]:
    from paved._errors import ProjectError

    out: dict[str, float] = {}
    for v in values:
        name, sep, num = v.partition("=")
        try:
            out[name.strip()] = float(num)
            if not sep or not name.strip() or out[name.strip()] <= 0:
                raise ValueError
        except ValueError:
            raise ProjectError(
                f"{option} {v!r} is not {what}=NUMBER",
                code="PAVED-READINESS-CONFIG",
                fix=f"write it like {option} {'GenerateImage=20' if what == 'TYPE' else 'imagegen=200'}",
            ) from None
    return out


def _load_steps(values: tuple[str, ...]) -> list[specs.LoadStep]:
    from paved._errors import ProjectError

    steps = []
    for v in values:
        try:
            count, rate, conc = v.split(":")
            steps.append(specs.LoadStep(count=int(count), rate=float(rate), concurrency=int(conc)))
        except ValueError:
            raise ProjectError(
                f"--step {v!r} is not COUNT:RATE:CONCURRENCY",
                code="PAVED-READINESS-CONFIG",
                fix="write it like --step 20:10:10 (20 workflows, 10 starts/s, 10 in flight)",
            ) from None
    return steps


def _write(target: str, text: str) -> None:
    if target == "-":
        click.echo(text, nl=False)
    else:
        Path(target).write_text(text, encoding="utf-8")


@click.command()
@_project_opt
@click.option(
    "--peak",
    "peaks",
    multiple=True,
    metavar="TYPE=N",
    help="Expected peak starts/s of a workflow type (repeatable; overrides readiness.peak).",
)
@click.option(
    "--margin",
    type=float,
    default=None,
    help="Required headroom, e.g. 0.5 = capacity >= 1.5 x demand (default readiness.margin).",
)
@click.option(
    "--limit",
    "limits",
    multiple=True,
    metavar="NS=APS",
    help="Judge namespace NS against this actions/s limit instead of its rate_limit (what if).",
)
@click.option(
    "--workflow",
    default=None,
    help="Load-test this workflow type (default readiness.load.workflow).",
)
@click.option(
    "--input",
    "input_json",
    default=None,
    metavar="JSON",
    help="Its argument as JSON (default readiness.load.input).",
)
@click.option(
    "--step",
    "steps",
    multiple=True,
    metavar="COUNT:RATE:CONCURRENCY",
    help="A load step (repeatable; default readiness.load.steps).",
)
@click.option("--step-timeout", type=float, default=None, help="Bound of each step in seconds.")
@click.option(
    "--address",
    default=None,
    help="A Paved proxy to load-test through (default: the running `paved dev`; key in PAVED_API_KEY).",
)
@click.option(
    "--load-report",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Judge a saved load test (a --json output) instead of running one.",
)
@click.option("--no-load", is_flag=True, help="No load test: headroom and capacity are skipped.")
@click.option(
    "--json",
    "json_out",
    default=None,
    metavar="FILE",
    help="Write the review as JSON ('-': stdout).",
)
@click.option(
    "--markdown",
    "md_out",
    default=None,
    metavar="FILE",
    help="Write the review as Markdown for a launch review ('-': stdout).",
)
def readiness(
    project_dir: str | None,
    peaks: tuple[str, ...],
    margin: float | None,
    limits: tuple[str, ...],
    workflow: str | None,
    input_json: str | None,
    steps: tuple[str, ...],
    step_timeout: float | None,
    address: str | None,
    load_report: str | None,
    no_load: bool,
    json_out: str | None,
    md_out: str | None,
) -> None:  # fmt: skip
    """Before a launch: is the platform ready for the expected peak? One line per item.

    \b
    Against a running platform (`paved dev`, or --address of a proxy):
      load      a stepped load test of real workflows through the proxy:
                achieved starts and actions/s, backlog, p99 schedule-to-start,
                RESOURCE_EXHAUSTED answers, actions per workflow type
      headroom  client actions/workflow (starts, signals, updates) x expected
                peak x (1 + margin) vs each namespace's rate limit at the proxy;
                all actions (activities, timers too) vs Temporal Cloud's 500 APS
                (judged for cloud: true clusters, a reference otherwise)
      capacity  slots each worker needs at peak (Little's law) x (1 + margin)
                vs max replicas x slots
      spread    every production namespace and worker in >= 2 regions/clusters
      code      timeouts and bounded retries on every activity call; backoff
                where an activity calls a rate-limited dependency
    \b
    The load, peak and margin come from paved.yaml:
      readiness:
        peak: {GenerateImage: 10}        # expected starts/s at launch
        margin: 0.5
        load:
          workflow: GenerateImage
          input: {prompt: a lighthouse at dusk, user: load-test}
          steps: [{count: 10, rate: 5, concurrency: 5}, {count: 20, rate: 10, concurrency: 10}]
    \b
    Examples:
      paved readiness --markdown review.md --json review.json
      paved readiness --peak GenerateImage=40 --load-report review.json   # what if, no new load
      paved readiness --limit imagegen=50 --load-report review.json
    Exit 1 when an item fails (skipped items are shown and do not fail).
    """
    import contextlib
    import json

    from paved import checks
    from paved._errors import ProjectError
    from paved.sdk import RuntimeEnv

    project = _project(project_dir)
    cfg = project.config.readiness
    load_cfg = cfg.load
    if workflow or input_json or steps or step_timeout:
        base = load_cfg or specs.LoadTestConfig(workflow=workflow or "?")
        try:
            parsed = json.loads(input_json) if input_json is not None else base.input
        except ValueError as e:
            raise ProjectError(
                f"--input is not JSON: {e}",
                code="PAVED-READINESS-CONFIG",
                fix="""quote it for the shell: --input '{"prompt": "a cat", "user": "me"}'""",
            ) from None
        load_cfg = specs.LoadTestConfig(
            workflow=workflow or base.workflow,
            input=parsed,
            steps=_load_steps(steps) or base.steps,
            step_timeout_seconds=step_timeout or base.step_timeout_seconds,
        )
    report = None
    if load_report:
        data = json.loads(Path(load_report).read_text(encoding="utf-8"))
        data = data.get("load_test") or data
        report = checks.LoadReport.from_dict(data)
    api_key = proxy_metrics = None
    if address is None and report is None and not no_load:
        local = RuntimeEnv.local_dev(project.root)
        if local is not None:
            address, api_key = local[0].address, local[0].api_key
            # The proxy's own count of refusals (paved dev lists its metrics URL).
            with contextlib.suppress(OSError, ValueError):
                state = json.loads((project.state_dir / "dev.json").read_text(encoding="utf-8"))
                proxy_metrics = state.get("urls", {}).get("proxy metrics")
    elif address is not None:
        api_key = RuntimeEnv.from_env().api_key
    if address and report is None and not no_load:
        click.echo(f"load test through {address} ...", err=True)
    run = checks.run_readiness(
        project,
        peaks=_pairs(peaks, "--peak", "TYPE"),
        margin=margin,
        limits=_pairs(limits, "--limit", "NS"),
        load=load_cfg,
        load_report=report,
        address=address,
        api_key=api_key,
        proxy_metrics_url=proxy_metrics,
        skip_load="--no-load given" if no_load else "",
        progress=lambda line: click.echo(line, err=True),
    )
    colors = {"ok": "green", "skipped": "yellow", "failed": "red", "error": "red"}
    if json_out:
        _write(json_out, run.to_json() + "\n")
    if md_out:
        _write(md_out, run.to_markdown())
    if "-" in (json_out, md_out):
        sys.exit(0 if run.ok else 1)
    for item in run.items:
        if item.details and item.status != "ok":
            click.secho(f"--- {item.name}", bold=True)
            for line in item.details:
                click.echo(f"  {line}")
    click.secho(f"paved readiness: {project.root}", bold=True)
    for item in run.items:
        word = {"ok": "pass", "skipped": "skip", "failed": "FAIL", "error": "ERROR"}[item.status]
        click.secho(f"  {word:<6}{item.name:<10}{item.summary}", fg=colors[item.status])
    verdict = "ready" if run.ok else "NOT READY"
    click.secho(f"{verdict} ({run.seconds:.1f}s)", fg="green" if run.ok else "red", bold=True)
    sys.exit(0 if run.ok else 1)


def register(group: click.Group) -> None:
    group.add_command(check)
    group.add_command(replay)
    group.add_command(lint)
    group.add_command(schema)
    group.add_command(readiness)
