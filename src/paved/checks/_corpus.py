"""The replay corpus: real workflow histories committed to the repo, encrypted.

Layout (one JSON file per distinct command-sequence shape of a workflow type)::

    replay/
      GenerateImage/
        3f9c0a1b2c4d.json     {"paved_corpus": 1, "namespace": ..., "shape": ..., "history": {...}}
      demo-keys.json          only in examples with synthetic data (see docs/checks.md)

**Plaintext decision.** A corpus holds what Temporal stores: payloads encrypted
with the namespace's key ring (Paved's codec format). Histories that arrive in
the clear (a worker without the codec, or a proxy that decrypts on the way back)
are encrypted before they touch the disk, failure messages included; only
search attributes, ids and type names stay readable, as in Temporal itself.
Replay decrypts in memory with the same key ring (``PAVED_KEYS_<NS>`` in CI).
Redaction was rejected: workflow code branches on payload values, so a redacted
history no longer replays the way production ran.

``paved replay pull`` keeps one history per shape (the most complete one seen)
and skips the rest, so re-running refreshes without duplicating.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory

from paved import codec, sdk, specs
from paved._errors import ProjectError
from paved.checks import _steps as steps

FORMAT = 1
DEMO_KEYS = "demo-keys.json"
_PAYLOAD = Payload.DESCRIPTOR.full_name
_FAILURE = Failure.DESCRIPTOR.full_name
# Left readable, as Temporal leaves them: search attributes are indexed values.
_CLEAR_FIELDS = {"search_attributes"}


@dataclass(frozen=True)
class Entry:
    """One corpus file."""

    path: Path
    namespace: str
    workflow_type: str
    workflow_id: str
    run_id: str
    status: str
    shape: str
    history: WorkflowHistory

    @property
    def events(self) -> int:
        return len(self.history.events)


def _encode_failure(f: Failure, ring: codec.KeyRing, namespace: str) -> None:
    if f.message and not f.HasField("encoded_attributes"):
        attrs = {"message": f.message, "stack_trace": f.stack_trace}
        plain = Payload(
            metadata={"encoding": b"json/plain"}, data=json.dumps(attrs).encode("utf-8")
        )
        f.encoded_attributes.CopyFrom(codec.encrypt_payload(plain, ring, namespace))
        f.message = "Encoded failure"
        f.stack_trace = ""


def _walk(
    msg: Message, fn: Callable[[Payload], Payload], on_failure: Callable[[Failure], None]
) -> None:
    """Apply ``fn`` to every Payload under ``msg`` (except search attributes)."""
    if msg.DESCRIPTOR.full_name == _FAILURE:
        on_failure(msg)  # type: ignore[arg-type]
    for fd, value in msg.ListFields():
        if fd.message_type is None or fd.name in _CLEAR_FIELDS:
            continue
        is_map = fd.message_type.GetOptions().map_entry
        if is_map:
            vfd = fd.message_type.fields_by_name["value"]
            if vfd.message_type is None:
                continue
            items = [(k, value[k]) for k in list(value)]
            for k, v in items:
                if vfd.message_type.full_name == _PAYLOAD:
                    value[k].CopyFrom(fn(v))
                else:
                    _walk(v, fn, on_failure)
        elif fd.is_repeated:
            for i, v in enumerate(value):
                if fd.message_type.full_name == _PAYLOAD:
                    value[i].CopyFrom(fn(v))
                else:
                    _walk(v, fn, on_failure)
        elif fd.message_type.full_name == _PAYLOAD:
            value.CopyFrom(fn(value))
        else:
            _walk(value, fn, on_failure)


def seal_history(history: History, ring: codec.KeyRing, namespace: str) -> int:
    """Encrypt, in place, every payload and failure message still in the clear.

    Returns how many payloads were encrypted here (0 when Temporal already held
    ciphertext).
    """
    count = 0

    def enc(p: Payload) -> Payload:
        nonlocal count
        if codec.is_encrypted(p):
            return p
        count += 1
        return codec.encrypt_payload(p, ring, namespace)

    for event in history.events:
        if _is_patch_marker(event):
            continue
        with _core_metadata_aside(event):
            _walk(event, enc, lambda f: _encode_failure(f, ring, namespace))
    return count


@contextlib.contextmanager
def _core_metadata_aside(event: Any) -> Iterator[None]:
    """A local activity's marker (``core_local_activity``) holds the SDK core's own metadata
    in ``details["data"]`` (sequence number, activity id and type, attempt, times: no user
    data), which the core parses itself during replay and the codec never touches; only
    ``details["result"]`` is the activity's (encrypted) result. Keep ``data`` out of the
    walk, as Temporal's SDKs write it."""
    attrs = event.marker_recorded_event_attributes if _is_local_marker(event) else None
    if attrs is None or "data" not in attrs.details:
        yield
        return
    kept = Payloads()
    kept.CopyFrom(attrs.details["data"])
    del attrs.details["data"]
    try:
        yield
    finally:
        attrs.details["data"].CopyFrom(kept)


def _is_local_marker(event: Any) -> bool:
    return bool(
        event.HasField("marker_recorded_event_attributes")
        and event.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )


def _is_patch_marker(event: Any) -> bool:
    """A ``workflow.patched()`` marker: its details (the patch id, a name from the code, no
    user data) are read by the SDK core itself during replay, which never runs the codec:
    encrypted, the marker is not recognized and a patched workflow fails to replay."""
    return bool(
        event.HasField("marker_recorded_event_attributes")
        and event.marker_recorded_event_attributes.marker_name == "core_patch"
    )


def plaintext_payloads(history: History) -> int:
    """How many payloads (outside search attributes) are not encrypted: must be 0."""
    count = 0

    def look(p: Payload) -> Payload:
        nonlocal count
        if not codec.is_encrypted(p):
            count += 1
        return p

    def look_failure(f: Failure) -> None:
        nonlocal count
        if f.message and f.message != "Encoded failure":
            count += 1

    for event in history.events:
        if not _is_patch_marker(event):
            with _core_metadata_aside(event):
                _walk(event, look, look_failure)
    return count


def corpus_keyring(corpus: Path, state_dir: Path) -> tuple[codec.KeyRing, Path | None]:
    """The key ring that opens ``corpus``: its committed demo ring if it has one, else
    the project's (``PAVED_KEYS_<NS>`` first, then ``.paved/keys.json``)."""
    demo = corpus / DEMO_KEYS
    if demo.exists():
        return codec.KeyRing(codec.FileKeyProvider(demo), create=False), demo
    return codec.keyring_for(state_dir), None


def write_entry(
    corpus: Path, namespace: str, history: WorkflowHistory, workflow_type: str, status: str
) -> tuple[Path, bool]:
    """Write one history under its shape's name; ``(path, written)``.

    An existing file for the same shape is replaced only by a longer history
    (a run that got further), so a re-run never duplicates and rarely churns.
    """
    shape = steps.shape_of(steps.history_steps(list(history.events)))
    path = corpus / workflow_type / f"{shape}.json"
    if path.exists():
        old = load_entry(path)
        if old.events >= len(history.events):
            return path, False
    if plaintext_payloads(History(events=list(history.events))) != 0:
        raise ProjectError(
            f"{path}: refusing to write a history with plaintext payloads",
            code="PAVED-REPLAY-PLAINTEXT",
            fix="pull through seal_history (paved replay pull does)",
        )
    doc = {
        "paved_corpus": FORMAT,
        "namespace": namespace,
        "workflow_type": workflow_type,
        "workflow_id": history.workflow_id,
        "run_id": history.run_id,
        "status": status,
        "shape": shape,
        "steps": [s.label for s in steps.history_steps(list(history.events))],
        "history": json.loads(history.to_json()),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path, True


def load_entry(path: Path) -> Entry:
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("paved_corpus") != FORMAT:
            raise ValueError(f"paved_corpus is {doc.get('paved_corpus')!r}, expected {FORMAT}")
        history = WorkflowHistory.from_json(doc["workflow_id"], doc["history"])
    except (OSError, ValueError, KeyError) as e:
        raise ProjectError(
            f"{path}: not a replay corpus file: {e}",
            code="PAVED-REPLAY-CORPUS",
            fix="re-pull it with `paved replay pull`, or delete it",
        ) from e
    return Entry(
        path=path,
        namespace=str(doc["namespace"]),
        workflow_type=str(doc["workflow_type"]),
        workflow_id=str(doc["workflow_id"]),
        run_id=history.run_id,
        status=str(doc.get("status", "")),
        shape=str(doc.get("shape", "")),
        history=history,
    )


def iter_corpus(corpus: Path) -> Iterator[Entry]:
    """Every history of the corpus, in a stable order (type, then file name)."""
    if not corpus.is_dir():
        return
    for path in sorted(corpus.glob("*/*.json")):
        yield load_entry(path)


@dataclass
class PullStats:
    scanned: int = 0
    written: int = 0
    kept: int = 0
    sealed_payloads: int = 0


async def pull(
    client: Client,
    corpus: Path,
    *,
    namespace: str,
    workflow_types: list[str],
    ring: codec.KeyRing,
    per_type: int = 50,
    progress: Callable[[str], None] = lambda _: None,
) -> PullStats:
    """Download recent histories (open and closed) of each type into ``corpus``.

    ``client`` is an ordinary temporalio client (through the proxy, with the
    codec: whatever production uses); ``namespace`` is the logical namespace
    whose keys encrypt the corpus; at most ``per_type`` recent runs are looked at.
    """
    stats = PullStats()
    for wtype in workflow_types:
        seen = 0
        async for wf in client.list_workflows(f"WorkflowType = '{wtype}'", limit=per_type):
            seen += 1
            stats.scanned += 1
            handle = client.get_workflow_handle(wf.id, run_id=wf.run_id)
            history = await handle.fetch_history()
            proto = History(events=list(history.events))
            stats.sealed_payloads += seal_history(proto, ring, namespace)
            sealed = WorkflowHistory(wf.id, list(proto.events))
            status = wf.status.name if wf.status is not None else "UNKNOWN"
            path, written = write_entry(corpus, namespace, sealed, wtype, status)
            if written:
                stats.written += 1
            else:
                stats.kept += 1
            progress(
                f"{wtype}: {seen} scanned, {path.relative_to(corpus)} "
                f"{'written' if written else 'unchanged'}"
            )
    return stats


async def pull_project(
    project: specs.Project,
    corpus: Path,
    *,
    per_type: int = 50,
    types: list[str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> PullStats:
    """``paved replay pull``: every workflow type of the specs, through ``paved.connect``.

    The client is the one production code uses (``PAVED_ADDRESS``, the proxy
    with ``PAVED_VIA_PROXY``/``PAVED_API_KEY``, the codec unless ``PAVED_CODEC=off``).
    """
    loaded = project.specs()
    by_ns: dict[str, list[str]] = {}
    for wf in loaded.workflows.workflows:
        if types is None or wf.name in types:
            by_ns.setdefault(wf.namespace, []).append(wf.name)
    total = PullStats()
    for ns, names in sorted(by_ns.items()):
        ring, _ = corpus_keyring(corpus, project.state_dir)
        client = await sdk.connect(ns)
        stats = await pull(
            client,
            corpus,
            namespace=ns,
            workflow_types=names,
            ring=ring,
            per_type=per_type,
            progress=progress,
        )
        for f in ("scanned", "written", "kept", "sealed_payloads"):
            setattr(total, f, getattr(total, f) + getattr(stats, f))
    return total
