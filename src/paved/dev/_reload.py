"""Reload on save: ``paved dev`` restarts only the workers whose code or spec changed.

The project's packages, ``specs/`` and ``paved.yaml`` are watched with
``watchfiles`` (inotify; a batch of saves within ~100 ms is one change). For
each batch:

1. a ``.py`` file of the packages or ``paved.yaml`` changed: the specs are
   regenerated (:mod:`paved.dev._specsync`, ``paved gen``'s code path in a fresh
   interpreter) and written with a one-line summary, or, with ``--check-specs``,
   the reload is refused with the ``paved gen`` fix (nothing restarts). Code
   that does not import is printed once and the specs are left alone; the
   workers that import the saved file come back on it and show the error as
   they exit (the crash watch), the others keep running;
2. the specs on disk are read and compared, worker by worker, with the specs
   the running workers started from;
   The workers whose process imports a saved file are drained at once, before
   the regeneration, and started again right after it (with the specs just
   written, or with the broken code whose error their crash shows): a workflow
   started right after the save waits in its queue for the new process
   instead of failing its workflow task on the old one;
3. the workers to restart: those whose process imports a changed file (the
   worker's modules and every project module they import, transitively), and
   those whose spec changed. Each is drained and started again through the
   operator's replica set (:meth:`paved.operator.ReplicaSet.restart`: SIGTERM,
   in-flight activities finish, then the new process), the others keep their
   processes. Workers new to the specs are started, and removed ones drained,
   by the in-process operator, which also registers new namespaces and search
   attributes (it watches the spec files too).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from paved import specs
from paved._errors import PavedError
from paved.dev import _specsync as specsync
from paved.dev._crashes import ChildError
from paved.operator import ReplicaSet

Echo = Callable[[str], None]


def worker_specs(project: specs.Project) -> dict[str, dict[str, Any]]:
    """``{worker: its spec as data}`` from the specs on disk ({} if they do not load)."""
    try:
        loaded = project.specs()
    except PavedError:
        return {}
    return {w.name: w.model_dump(mode="json") for w in loaded.workers.workers}


def namespace_names(project: specs.Project) -> list[str]:
    """The logical namespaces of the specs on disk ([] if they do not load)."""
    try:
        return sorted(ns.name for ns in project.specs().namespaces.namespaces)
    except PavedError:
        return []


def watched_paths(project: specs.Project) -> list[Path]:
    """The project's packages (directories or single modules), ``specs/`` and ``paved.yaml``."""
    root = project.root
    out: list[Path] = []
    for top in sorted({p.split(".")[0] for p in project.config.packages}):
        for candidate in (root / top, root / f"{top}.py"):
            if candidate.exists():
                out.append(candidate)
    return [*out, project.specs_dir, root / specs.PROJECT_FILE]


class Reloader:
    """Turns saved files into spec writes and worker restarts (see the module docstring).

    Args:
        project: the project ``paved dev`` runs.
        workers: the workers' replica set (unit = worker name).
        check: ``--check-specs``: refuse stale specs instead of writing them.
        worker_files: what the start-up generation said each worker imports.
        echo: the console.
        release: starts the units held after a crash loop again (``paved dev``'s
            crash watch) and returns their names (``worker NAME``): called on every
            change, after the specs are written; those workers are not restarted twice.
        on_namespaces: called with the logical namespaces of the specs when they change
            (``paved dev`` rewrites its generated dev policy: the proxy lets the
            developer and the workers use a namespace added while it runs).
    """

    def __init__(
        self,
        project: specs.Project,
        workers: ReplicaSet,
        *,
        check: bool,
        worker_files: Mapping[str, frozenset[str]],
        echo: Echo,
        release: Callable[[], list[str]] = list,
        on_namespaces: Callable[[list[str]], None] = lambda _names: None,
    ) -> None:
        self.project = project
        self.release = release
        self.on_namespaces = on_namespaces
        self.namespaces = namespace_names(project)
        self.workers = workers
        self.check = check
        self.echo = echo
        self.worker_files: dict[str, frozenset[str]] = dict(worker_files)
        self.running_specs = worker_specs(project)  # what the running workers started from
        self._shown: ChildError | None = None
        self.pending: set[str] = set()  # saved source files no reload has taken in yet
        self.gen = specsync.GenServer(project, project.state_dir / "logs" / "gen.log")
        self.reloads = 0
        self.last_restart: list[str] = []

    def is_source(self, path: str) -> bool:
        p = Path(path)
        if "/.paved/" in path or "__pycache__" in p.parts:
            return False
        return p.suffix in (".py", ".yaml", ".yml")

    async def run(self, stop: asyncio.Event) -> None:
        roots = [p for p in watched_paths(self.project) if p.exists()]
        if not roots:
            return
        try:
            await self.gen.start()  # warm before the first save
            await self._watch(roots, stop)
        finally:
            await self.gen.close()

    async def _watch(self, roots: list[Path], stop: asyncio.Event) -> None:
        from watchfiles import awatch

        async for changes in awatch(
            *roots,
            stop_event=stop,
            watch_filter=lambda _c, p: self.is_source(p),
            debounce=100,
            step=20,
        ):
            await self.reload({Path(p) for _, p in changes})

    async def reload(self, changed: Iterable[Path]) -> list[str]:
        """Handle one batch of changed paths; return the workers restarted."""
        changed = {p.resolve() if p.exists() else p for p in changed}
        root = self.project.root
        specs_dir = self.project.specs_dir.resolve()
        code = {p for p in changed if p.suffix == ".py"}
        config = root / specs.PROJECT_FILE in changed
        if not code and not config and not any(specs_dir in p.parents for p in changed):
            return []
        t0 = time.monotonic()
        # Saved code counts until a reload went through (a refused one leaves it pending).
        self.pending |= {str(p) for p in code}
        if config:
            self.project = specs.Project.load(root)
            self.gen.project = self.project
        paused: dict[str, int] = {}
        if code and not self.check:
            # The workers whose files changed stop polling now, not after the regeneration:
            # a workflow started right after the save waits in its queue for the new
            # process instead of failing on the old one (docs/dev.md, "Reload on save").
            desired = self.workers.desired()
            for worker, fs in self.worker_files.items():
                if desired.get(worker, 0) > 0 and self.pending & fs:
                    paused[worker] = desired[worker]
                    self.workers.set_desired(worker, 0)
            if paused:
                await self.workers.reconcile()  # SIGTERM now, not at the loop's next tick
        if code or config or (self.check and self.pending):
            try:
                gen = await self._regenerate()
            except BaseException:
                self._resume(paused, None)
                raise
            if gen is None:
                self._resume(paused, None)  # the old code cannot be had back: its crash says why
                self.release()  # a held worker may not be the one that breaks the import
                return []
            # Started again with the specs just written (a worker gone from them stays
            # drained: the operator removes it).
            self._resume(paused, worker_specs(self.project))
            # Files a worker imported before the change count too (a deleted module).
            files = {
                w: fs | self.worker_files.get(w, frozenset()) for w, fs in gen.worker_files.items()
            }
            self.worker_files = dict(gen.worker_files)
        else:
            files = dict(self.worker_files)
        names = namespace_names(self.project)
        if names and names != self.namespaces:
            self.namespaces = names
            self.on_namespaces(names)
        now = worker_specs(self.project)
        if not now:
            self.release()
            return []  # specs being rewritten or invalid: the operator shows why
        released = {n.removeprefix("worker ") for n in self.release()}
        defined = set(self.workers.desired())
        reasons: dict[str, list[str]] = {}
        for worker in sorted((set(now) & set(self.running_specs) & defined) - released):
            hit = sorted(self.pending & files.get(worker, frozenset()))
            if hit:
                rels = [_rel(Path(h), root) for h in hit]
                more = f" +{len(rels) - 3}" if len(rels) > 3 else ""
                reasons.setdefault(worker, []).append("code " + ", ".join(rels[:3]) + more)
            if now[worker] != self.running_specs[worker]:
                reasons.setdefault(worker, []).append("spec")
        self.running_specs = now
        self.pending = set()
        for worker in reasons:
            if worker not in paused:  # a paused worker's new process starts from the new files
                self.workers.restart(worker)
        if reasons:
            self.reloads += 1
            self.last_restart = sorted(reasons)
            what = "; ".join(f"{w} ({' + '.join(r)})" for w, r in sorted(reasons.items()))
            others = len(defined - set(reasons))
            self.echo(
                f"  reload: restarting {what}; {others} other worker(s) untouched "
                f"({time.monotonic() - t0:.1f}s after the change)"
            )
        return sorted(reasons)

    def _resume(self, paused: Mapping[str, int], still: Mapping[str, Any] | None) -> None:
        for worker, n in paused.items():
            if still is None or worker in still:
                with contextlib.suppress(KeyError):
                    self.workers.set_desired(worker, n)

    async def _regenerate(self) -> specsync.Generated | None:
        """``paved gen``'s code path; write the specs or refuse. None: do not reload."""
        gen = await self.gen.generate()
        if gen.error is not None or gen.files is None:
            self._show(
                gen.error or ChildError(None, "paved gen gave no answer"),
                "  reload: the code does not import (specs not regenerated):",
            )
            return None
        try:
            specsync.sync(self.project, gen.files, check=self.check, echo=self.echo)
        except PavedError as e:
            self._show(ChildError(e.code, e.message, e.fix), "  reload refused:")
            return None
        self._shown = None
        return gen

    def _show(self, err: ChildError, head: str) -> None:
        """Print ``err`` once (the same error saved again stays quiet)."""
        if err == self._shown:
            return
        self._shown = err
        self.echo(head)
        for line in err.lines():
            self.echo(f"      {line}")


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
