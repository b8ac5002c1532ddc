"""Rendering replay outcomes: the text a developer reads and the JUnit XML CI shows.

A failure reads like this::

    FAIL Pipeline  id=order-7 run=01a2...  replay/Pipeline/3f9c0a1b2c4d.json
      history   event 5 ActivityTaskScheduled: activity fetch_order
                recorded at app/workflows.py:48 (build 1a2b3c, worker pipeline-worker-812@1a2b3c)
                    order = await workflow.execute_activity(fetch_order, ...)
      code now  activity load_order
                at app/workflows.py:48 in Pipeline.run
                    order = await workflow.execute_activity(load_order, ...)
      temporal  [TMPRL1100] Nondeterminism error: Activity type of scheduled event ...
      why       activity 'fetch_order' became 'load_order' in the code
      fix       guard the change so that old runs keep their path (paste):
                    if workflow.patched('Pipeline-load_order'): ...
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from paved.checks import _replay as replay


def _rel(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def _indented(text: str, pad: str) -> list[str]:
    return [pad + line for line in text.splitlines()]


def describe(outcome: replay.Outcome, root: Path | None = None) -> str:
    """The full report of one outcome (empty for a success)."""
    e = outcome.entry
    head = f"FAIL {e.workflow_type}  id={e.workflow_id} run={e.run_id}  {_rel(e.path, root)}"
    if outcome.error is not None:
        return f"{head}\n  error     {outcome.error}"
    d = outcome.divergence
    if d is None:
        return ""
    pad = " " * 14
    lines = [head]
    if d.expected is not None:
        lines.append(
            f"  history   event {d.expected.event_id} {d.expected.event_type}: {d.expected.label}"
        )
        if d.recorded_at is not None:
            who = f"build {d.recorded_at.build}" if d.recorded_at.build else ""
            if d.recorded_by:
                who = f"{who}, worker {d.recorded_by}" if who else f"worker {d.recorded_by}"
            lines.append(f"{pad}recorded at {d.recorded_at}" + (f" ({who})" if who else ""))
            lines.append(f"{pad}    {d.recorded_at.code}")
        elif d.recorded_by:
            lines.append(f"{pad}recorded by worker {d.recorded_by} (no call-site header)")
    else:
        lines.append("  history   (no command event at this point: the recorded run ended here)")
    if d.actual is not None:
        lines.append(f"  code now  {d.actual.label}")
        site = d.actual.call_site
        if site is not None:
            lines.append(f"{pad}at {site} in {site.function}")
            lines.append(f"{pad}    {site.code}")
        else:
            lines.append(f"{pad}(issued by the SDK after the workflow function returned)")
    else:
        lines.append("  code now  (nothing: the code no longer issues this command here)")
    lines.append(f"  temporal  {d.temporal_message}")
    lines.append(f"  why       {d.hint}")
    lines.append("  fix       guard the change so that runs started before it keep their path:")
    lines.extend(_indented(d.snippet, pad + "    "))
    return "\n".join(lines)


def summary(run: replay.ReplayRun) -> str:
    n, bad = len(run.outcomes), len(run.failed)
    rate = n / run.seconds if run.seconds > 0 else 0.0
    word = "history" if n == 1 else "histories"
    if bad:
        return f"replay: {bad} of {n} {word} FAILED ({run.seconds:.2f}s, {rate:.0f}/s)"
    return f"replay: {n} {word} OK ({run.seconds:.2f}s, {rate:.0f}/s)"


def junit_xml(run: replay.ReplayRun, root: Path | None = None) -> str:
    """JUnit XML: one test case per history, failures carry the full report."""
    suite = ET.Element(
        "testsuite",
        name="paved replay",
        tests=str(len(run.outcomes)),
        failures=str(sum(1 for o in run.outcomes if o.divergence is not None)),
        errors=str(sum(1 for o in run.outcomes if o.error is not None)),
        time=f"{run.seconds:.3f}",
    )
    for o in run.outcomes:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"replay.{o.entry.workflow_type}",
            name=_rel(o.entry.path, root),
            file=_rel(o.entry.path, root),
        )
        if o.divergence is not None:
            d = o.divergence
            first = d.actual.call_site if d.actual and d.actual.call_site else None
            msg = f"non-determinism at {first}: {d.hint}" if first else d.hint
            ET.SubElement(case, "failure", message=msg, type="Nondeterminism").text = describe(
                o, root
            )
        elif o.error is not None:
            ET.SubElement(case, "error", message=o.error[:200], type="ReplayError").text = describe(
                o, root
            )
    top = ET.Element("testsuites")
    top.append(suite)
    ET.indent(top)
    text: str = ET.tostring(top, encoding="unicode", xml_declaration=True)
    return text + "\n"
