"""Replay from real histories: each breaking change names the exact file:line; a patched change passes.

Histories are recorded from ``pipeline.Pipeline`` on the session's real dev
server (with the call-site interceptor the managed worker installs), pulled
into an encrypted corpus, then replayed against each variant in ``variants/``.
"""

from __future__ import annotations

import importlib
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from paved import checks, codec
from paved.sdk import CallSiteInterceptor
from tests.checks import pipeline

HERE = Path(__file__).parent
MARKER = "order-marker-7f3a"


def line_of(module: str, marker: str) -> tuple[str, int, str]:
    path = HERE / "variants" / f"{module}.py"
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines, 1):
        if marker in line:  # the marker comment sits on the line above the statement
            return f"tests/checks/variants/{module}.py", n + 1, lines[n].strip()
    raise AssertionError(marker)


@pytest.fixture(scope="module")
async def recorded(client: Client, dev_server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Three Pipeline runs on a fresh namespace, pulled into an encrypted corpus."""
    from paved.dev import ensure_namespaces

    ns = f"t-{uuid.uuid4().hex[:10]}"
    await ensure_namespaces(client, [ns])
    c = await Client.connect(dev_server.address, namespace=ns)
    queue = f"q-{uuid.uuid4().hex[:6]}"
    async with Worker(
        c,
        task_queue=queue,
        workflows=[pipeline.Pipeline, pipeline.Notify],
        activities=pipeline.ACTIVITIES,
        interceptors=[CallSiteInterceptor("build-1a2b3c")],
        identity="pipeline-worker-1@build-1a2b3c",
    ):
        for i in range(3):
            await c.execute_workflow(
                pipeline.Pipeline.run, f"{MARKER}-{i}", id=f"order-{i}", task_queue=queue
            )
    ring = codec.KeyRing.in_memory()
    corpus = tmp_path_factory.mktemp("replay")
    first = await checks.pull(c, corpus, namespace="shop", workflow_types=["Pipeline"], ring=ring)
    again = await checks.pull(c, corpus, namespace="shop", workflow_types=["Pipeline"], ring=ring)
    return corpus, ring, first, again


async def test_pull_keeps_one_history_per_shape_encrypted(recorded) -> None:  # type: ignore[no-untyped-def]
    corpus, _ring, first, again = recorded
    files = sorted(corpus.glob("*/*.json"))
    # Three runs, one shape: one file; re-running writes nothing new.
    assert [f.parent.name for f in files] == ["Pipeline"]
    assert first.scanned == 3 and first.written == 1 and first.kept == 2
    assert again.written == 0 and again.kept == 3
    assert first.sealed_payloads > 0  # the worker ran without a codec: pull encrypted them
    text = files[0].read_bytes()
    assert MARKER.encode() not in text and b"order:" not in text and b"paid:" not in text
    for entry in checks.iter_corpus(corpus):
        from temporalio.api.history.v1 import History

        assert checks.plaintext_payloads(History(events=list(entry.history.events))) == 0


async def replay_variant(recorded, name: str) -> checks.Outcome:  # type: ignore[no-untyped-def]
    corpus, ring, _, _ = recorded
    mod = importlib.import_module(f"tests.checks.variants.{name}")
    outcomes = await checks.replay_entries(
        list(checks.iter_corpus(corpus)), [mod.Pipeline, pipeline.Notify], ring=ring
    )
    assert len(outcomes) == 1
    return outcomes[0]


@pytest.mark.parametrize(
    ("variant", "kind", "history_label"),
    [
        ("reordered", "reordered", "activity fetch_order"),
        ("timer", "replaced", "activity fetch_order"),
        ("renamed", "renamed", "activity fetch_order"),
        ("child", "added", "activity charge_card"),
    ],
)
async def test_breaking_change_names_the_line(
    recorded, variant: str, kind: str, history_label: str
) -> None:  # type: ignore[no-untyped-def]
    outcome = await replay_variant(recorded, variant)
    d = outcome.divergence
    assert d is not None, f"{variant} replayed cleanly"
    file, line, code = line_of(variant, "# diverges")
    assert d.actual is not None and d.actual.call_site is not None
    assert (d.actual.call_site.file, d.actual.call_site.line) == (file, line)
    assert d.expected is not None and d.expected.label == history_label
    assert d.kind == kind
    # The original command's call site, from the header stamped at record time.
    assert d.recorded_at is not None and d.recorded_at.file == "tests/checks/pipeline.py"
    assert d.recorded_at.build == "build-1a2b3c"
    assert history_label.split()[1] in d.recorded_at.code
    report = checks.describe(outcome)
    assert f"{file}:{line}" in report
    assert code in report
    assert f"event {d.expected.event_id} ActivityTaskScheduled" in report
    assert "workflow.patched(" in report and "[TMPRL1100]" in report


async def test_patched_change_replays(recorded) -> None:  # type: ignore[no-untyped-def]
    outcome = await replay_variant(recorded, "patched")
    assert outcome.ok, checks.describe(outcome)


async def test_unchanged_code_replays_and_junit(recorded) -> None:  # type: ignore[no-untyped-def]
    corpus, ring, _, _ = recorded
    ok = await checks.replay_entries(
        list(checks.iter_corpus(corpus)), [pipeline.Pipeline, pipeline.Notify], ring=ring
    )
    bad = await replay_variant(recorded, "renamed")
    run = checks.ReplayRun(outcomes=[*ok, bad], seconds=0.5)
    root = ET.fromstring(checks.junit_xml(run))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None
    file, line, _ = line_of("renamed", "# diverges")
    assert f"{file}:{line}" in (failure.get("message") or "")


async def test_wrong_key_is_an_error_not_a_pass(recorded) -> None:  # type: ignore[no-untyped-def]
    corpus, _ring, _, _ = recorded
    outcomes = await checks.replay_entries(
        list(checks.iter_corpus(corpus)),
        [pipeline.Pipeline, pipeline.Notify],
        ring=codec.KeyRing.in_memory(),
    )
    assert not outcomes[0].ok
