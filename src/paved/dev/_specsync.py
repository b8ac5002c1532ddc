"""Specs never silently stale under ``paved dev``: regenerate, compare, write or refuse.

At start and on every code change ``paved dev`` runs ``paved gen``'s code path
(:meth:`paved.specs.Project.generate`) in a fresh interpreter
(``python -m paved.specs._gen_child``) and compares the result with the spec
files on disk:

- by default it writes them and says so in one line with a summary of the
  difference (``specs: +workflow Foo in namespace x (written specs/workflows.yaml,
  specs/workers.yaml)``);
- with ``--check-specs`` it refuses (``PAVED-SETUP-SPECS-STALE``) and prints the
  ``paved gen`` fix: at start nothing starts; on a reload nothing restarts.

The same run says which project files each worker's process imports
(``worker_files``): what the reloader maps a saved file to.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from paved import specs
from paved._errors import RuntimeSetupError
from paved._proc import die_with_parent
from paved.dev._crashes import ChildError

Echo = Callable[[str], None]
STALE = "PAVED-SETUP-SPECS-STALE"
_PLACE = re.compile(r"\S+\.py:\d+")


@dataclass(frozen=True)
class Generated:
    """One run of ``paved gen``'s code path: the spec files, or why the code would not import.

    Attributes:
        files: ``{spec file name: text}`` (None when ``error``).
        worker_files: ``{worker: frozenset of source files its process imports}``.
        error: the Paved error (or exception with its ``file:line``) importing the code.
    """

    files: Mapping[str, str] | None
    worker_files: Mapping[str, frozenset[str]] = field(default_factory=dict)
    error: ChildError | None = None


def gen_command(project: specs.Project) -> list[str]:
    return [sys.executable, "-m", "paved.specs._gen_child", str(project.root)]


def _parse(project: specs.Project, code: int, out: str, err: str) -> Generated:
    line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("{")), None)
    if line is None:
        last = (err.strip().splitlines() or [f"exit code {code}"])[-1]
        return Generated(None, error=ChildError(None, f"paved gen could not run: {last}"))
    data = json.loads(line)
    if "error" in data:
        e = data["error"]
        return Generated(None, error=ChildError(e.get("code"), e["message"], e.get("fix")))
    return Generated(
        dict(data["files"]),
        {w: frozenset(fs) for w, fs in data.get("worker_files", {}).items()},
    )


def generate(project: specs.Project, timeout: float = 120.0) -> Generated:
    """``paved gen``'s code path in a fresh interpreter (blocking; used once at start)."""
    r = subprocess.run(
        gen_command(project), cwd=project.root, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    return _parse(project, r.returncode, r.stdout, r.stderr)


async def generate_async(project: specs.Project, timeout: float = 120.0) -> Generated:
    """The same, without blocking ``paved dev``'s loop (every reload)."""
    proc = await asyncio.create_subprocess_exec(
        *gen_command(project),
        cwd=project.root,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    return _parse(project, proc.returncode or 0, out.decode(), err.decode())


class GenServer:
    """A warm ``paved gen`` (``python -m paved.specs._gen_child --serve``): one fork per request.

    Falls back to a one-shot interpreter when it cannot start or dies.
    """

    def __init__(self, project: specs.Project, log_path: Path | None = None) -> None:
        self.project = project
        self.log_path = log_path
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            return
        argv = [*gen_command(self.project)[:-1], "--serve", str(self.project.root)]
        err = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.project.root,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                limit=64 * 1024 * 1024,  # one line per answer: every spec file in it
                preexec_fn=die_with_parent,
            )
        finally:
            if not isinstance(err, int):
                err.close()

    async def generate(self, timeout: float = 120.0) -> Generated:
        async with self._lock:
            try:
                await self.start()
                assert self._proc is not None and self._proc.stdin and self._proc.stdout
                self._proc.stdin.write(b"gen\n")
                await self._proc.stdin.drain()
                line = await asyncio.wait_for(self._proc.stdout.readline(), timeout)
            except (OSError, TimeoutError, ValueError, AssertionError):
                line = b""
            if not line:  # it died or hung: a fresh one next time, a one-shot now
                await self.close()
                return await generate_async(self.project, timeout)
            return _parse(self.project, 0, line.decode(), "")

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()


# ----- the difference, in words ---------------------------------------------------------


def _items(text: str | None, key: str) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(text) if text else None
    if not isinstance(data, dict):
        return {}
    return {str(i.get("name")): i for i in data.get(key) or [] if isinstance(i, dict)}


def _changed(old: dict[str, Any], new: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    return sorted(k for k in set(old) | set(new) if k not in ignore and old.get(k) != new.get(k))


def summary(old: Mapping[str, str | None], new: Mapping[str, str]) -> list[str]:
    """What changed between two sets of spec files, one short item per object:
    ``+workflow Foo in namespace x``, ``-activity bar``, ``~worker w (replicas)``."""
    out: list[str] = []
    pairs = [("namespaces.yaml", "namespaces", "namespace", ()),
             ("workflows.yaml", "workflows", "workflow", ()),
             ("workflows.yaml", "activities", "activity", ()),
             ("workers.yaml", "workers", "worker", ("modules", "queues"))]  # fmt: skip
    for fname, key, kind, ignore in pairs:
        before, after = _items(old.get(fname), key), _items(new.get(fname), key)
        for name in sorted(set(after) - set(before)):
            ns = after[name].get("namespace")
            where = f" in namespace {ns}" if ns and kind != "namespace" else ""
            worker = after[name].get("worker")
            out.append(f"+{kind} {name}{where}" + (f" (worker {worker})" if worker else ""))
        out += [f"-{kind} {name}" for name in sorted(set(before) - set(after))]
        for name in sorted(set(before) & set(after)):
            keys = _changed(before[name], after[name], ignore)
            if keys:
                out.append(f"~{kind} {name} ({', '.join(keys)})")
    if not out and any(old.get(n) != t for n, t in new.items()):
        out.append("reformatted")
    return out


def on_disk(project: specs.Project) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in specs.SPEC_FILES:
        path = project.specs_dir / name
        out[name] = path.read_text(encoding="utf-8") if path.exists() else None
    return out


def stale_files(project: specs.Project, files: Mapping[str, str]) -> list[str]:
    disk = on_disk(project)
    return [name for name, text in files.items() if disk.get(name) != text]


def stale_error(project: specs.Project, items: list[str], *, at_start: bool) -> RuntimeSetupError:
    what = "; ".join(items) or "differ"
    rel = project.config.specs_dir
    return RuntimeSetupError(
        f"{project.root / rel}: the specs are stale ({what}); --check-specs: "
        + ("not starting" if at_start else "not reloading (the workers keep the last good specs)"),
        code=STALE,
        fix=f"run `paved gen --project {project.root}` and commit {rel}/"
        + (
            ", or run `paved dev` without --check-specs (it writes them)"
            if at_start
            else " (paved dev reloads when the specs change)"
        ),
    )


def sync(project: specs.Project, files: Mapping[str, str], *, check: bool, echo: Echo) -> bool:
    """Compare ``files`` with the specs on disk; write them (default) or refuse (``check``).

    Returns True when the specs on disk now match the code. With ``check`` and
    stale specs, raises ``PAVED-SETUP-SPECS-STALE`` (the caller decides whether
    that stops ``paved dev`` or only this reload).
    """
    stale = stale_files(project, files)
    if not stale:
        return True
    disk = on_disk(project)
    items = summary(disk, files)
    if check:
        raise stale_error(project, items, at_start=False)
    written = project.write_specs(dict(files))
    rel = ", ".join(str(p.relative_to(project.root)) for p in written)
    echo(f"  specs: {short(items, first=all(t is None for t in disk.values()))} (written {rel})")
    return True


def short(items: list[str], *, first: bool = False, limit: int = 6) -> str:
    """One console line: every item, or counts when the specs are new, or the first few."""
    if first:
        counts: dict[str, int] = {}
        for item in items:
            kind = item[1:].split(" ")[0]
            counts[kind] = counts.get(kind, 0) + 1
        return "generated: " + ", ".join(f"{n} {kind}(s)" for kind, n in counts.items())
    more = f"; and {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def at_start(project: specs.Project, *, check: bool, echo: Echo) -> Generated:
    """Before anything starts: regenerate, then write the specs or refuse to start.

    Code that does not import is not fatal when specs exist (the workers' own
    start-up errors are printed as they crash); without specs there is nothing to run.
    """
    gen = generate(project)
    if gen.error is not None or gen.files is None:
        err = gen.error or ChildError(None, "paved gen gave no answer")
        has_specs = all((project.specs_dir / n).exists() for n in specs.SPEC_FILES)
        if check or not has_specs:
            raise RuntimeSetupError(
                "the specs cannot be generated from the code: "
                + (f"[{err.code}] " if err.code else "")
                + err.message,
                code=STALE,
                fix=err.fix or "fix the code, then run `paved gen`",
            )
        # Short: the workers that import this code print the whole error as they exit.
        place = _PLACE.search(err.message)
        where = f"[{err.code}] at {place.group(0)}" if err.code and place else err.lines()[0]
        echo(
            f"  specs: cannot regenerate them from the code ({where}); starting with the specs on disk"
        )
        return gen
    if check:
        stale = stale_files(project, gen.files)
        if stale:
            raise stale_error(project, summary(on_disk(project), gen.files), at_start=True)
        return gen
    sync(project, gen.files, check=False, echo=echo)
    return gen
