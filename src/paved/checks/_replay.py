"""``paved replay test``: replay the corpus against the current code with temporalio's Replayer.

Every history is replayed through the same sandbox managed workers use, with
the recording runner (``_recorder``) inside and Paved's data converter whose
codec decrypts the corpus in memory. A failure becomes an :class:`Outcome`
with a :class:`~paved.checks._divergence.Divergence`: the file:line of the
current code that issued the diverging command, the recorded call site, a fix.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from paved import codec, sdk, specs
from paved._errors import PavedError
from paved.checks import _corpus as corpus_mod
from paved.checks import _divergence as div
from paved.checks import _recorder as recorder
from paved.checks import _steps as steps

DEFAULT_CORPUS = "replay"


@dataclass(frozen=True)
class Outcome:
    """The replay of one corpus history."""

    entry: corpus_mod.Entry
    divergence: div.Divergence | None = None
    error: str | None = None  # a failure that is not a divergence (type removed, decode error)

    @property
    def ok(self) -> bool:
        return self.divergence is None and self.error is None


@dataclass
class ReplayRun:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    demo_keys: Path | None = None

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def project_workflows(project: specs.Project) -> list[type]:
    """Import the project's code; every workflow class it declares with ``@paved.workflow``."""
    names = {p.name for p in project.import_code() if p.kind == "workflow"}
    return [cls for name, (_, cls) in sorted(sdk.definitions("workflow").items()) if name in names]


def _outcome(
    entry: corpus_mod.Entry,
    failure: Exception | None,
    log: recorder.RunLog | None,
    ring: codec.KeyRing | None,
    known_types: set[str],
) -> Outcome:
    if failure is None:
        return Outcome(entry)
    if entry.workflow_type not in known_types:
        return Outcome(
            entry,
            error=(
                f"workflow type {entry.workflow_type!r} is no longer in the code; runs of it "
                "may still be open. Keep the class until they end, then delete "
                f"{entry.path.parent}"
            ),
        )
    if not isinstance(failure, NondeterminismError):
        return Outcome(entry, error=f"replay failed: {type(failure).__name__}: {failure}"[:500])
    events = list(entry.history.events)
    expected = steps.history_steps(events)
    actual = log.steps if log is not None else []
    found = div.first_divergence(expected, actual)
    message = div.temporal_message(failure)
    if found is None:
        # The Core SDK saw a difference our step model does not (arguments of a
        # command it compares, a local activity): point at the last command.
        index, exp, act = len(actual), None, actual[-1] if actual else None
    else:
        index, exp, act = found
    site, identity = (None, "")
    if exp is not None:
        site, identity = div.recorded_call_site(
            {e.event_id: e for e in events}, exp.event_id, ring, entry.namespace
        )
    kind, hint, snippet = div.classify(entry.workflow_type, exp, act, site, expected, index)
    return Outcome(
        entry,
        divergence=div.Divergence(
            index=index,
            expected=exp,
            actual=act,
            recorded_at=site,
            recorded_by=identity,
            temporal_message=message,
            kind=kind,
            hint=hint,
            snippet=snippet,
        ),
    )


async def replay_entries(
    entries: Iterable[corpus_mod.Entry],
    workflows: list[type],
    *,
    ring: codec.KeyRing | None,
    passthrough: tuple[str, ...] = (),
) -> list[Outcome]:
    """Replay ``entries`` (all of one logical namespace per call is not required)."""
    by_ns: dict[str, list[corpus_mod.Entry]] = {}
    for e in entries:
        by_ns.setdefault(e.namespace, []).append(e)
    known = {_type_name(w) for w in workflows}
    outcomes: list[Outcome] = []
    for ns, group in by_ns.items():
        codec_ = codec.codec_for(ns, keyring=ring, offload=False) if ring is not None else None
        for wfs, options, items in _replayers(ns, group, workflows, codec_):
            replayer = Replayer(
                workflows=wfs,
                workflow_runner=recorder.sandboxed_runner(passthrough),
                **options,
            )
            by_run = {e.run_id: e for e in items}

            async def histories(
                batch: list[corpus_mod.Entry] = items,
            ) -> AsyncIterator[WorkflowHistory]:
                for item in batch:
                    yield item.history

            async with replayer.workflow_replay_iterator(histories()) as results:
                async for result in results:
                    entry = by_run[result.history.run_id]
                    log = recorder.RECORDER.pop(entry.run_id)
                    outcomes.append(_outcome(entry, result.replay_failure, log, ring, known))
    return outcomes


def _replayers(
    ns: str, group: list[corpus_mod.Entry], workflows: list[type], codec_: Any
) -> list[tuple[list[type], dict[str, Any], list[corpus_mod.Entry]]]:
    """One Replayer's (workflows, options, entries) per set of histories it can replay.

    Plain Paved workflows replay together with Paved's converter. Agent workflows
    (``paved.agents``, when the project's code imported it) replay per worker, with
    the plugins and payload converter of that worker's agent framework: each
    framework's integration insists on its own converter.
    """
    plain: dict[str, Any] = {"data_converter": sdk.data_converter(codec=codec_)}
    agents = sys.modules.get("paved.agents")
    if agents is None:
        return [(workflows, plain, group)]
    worker_of: dict[str, str] = {}
    for w in workflows:
        with contextlib.suppress(PavedError):  # a plain temporalio workflow has no placement
            worker_of[_type_name(w)] = sdk.placement_of(w).worker
    by_worker: dict[str | None, list[corpus_mod.Entry]] = {}
    for e in group:
        worker = worker_of.get(e.workflow_type)
        setup = agents.replayer_setup(ns, worker, codec_) if worker else None
        key = worker if setup is not None and setup.data_converter is not None else None
        by_worker.setdefault(key, []).append(e)
    out = []
    for worker, items in by_worker.items():
        if worker is None:
            out.append((workflows, plain, items))
            continue
        setup = agents.replayer_setup(ns, worker, codec_)
        wfs = [w for w in workflows if worker_of.get(_type_name(w)) == worker]
        options = {"data_converter": setup.data_converter, "plugins": setup.plugins}
        out.append((wfs, options, items))
    return out


def _type_name(cls: type) -> str:
    from temporalio.workflow import _Definition

    defn = _Definition.from_class(cls)
    return defn.name if defn is not None and defn.name else cls.__name__


async def replay_project(
    project: specs.Project, corpus: Path | None = None, *, only: list[Path] | None = None
) -> ReplayRun:
    """Replay the project's corpus (default ``<project>/replay``) against its current code."""
    corpus = corpus or project.root / DEFAULT_CORPUS
    t0 = time.perf_counter()
    workflows = project_workflows(project)
    ring, demo = corpus_mod.corpus_keyring(corpus, project.state_dir)
    entries = (
        [corpus_mod.load_entry(p) for p in only] if only else list(corpus_mod.iter_corpus(corpus))
    )
    outcomes = await replay_entries(entries, workflows, ring=ring)
    return ReplayRun(outcomes=outcomes, seconds=time.perf_counter() - t0, demo_keys=demo)
