"""kill -9 of the worker process in the middle of an agent run: the run resumes on a new
process and no completed model call is made again (counted at the model)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from paved.dev import DevServer
from tests.agents import harness

ROOT = Path(__file__).resolve().parents[2]


def spawn(address: str, namespace: str, log: Path, reports: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "RESEARCH_MODEL_DELAY": "1.0",
        "RESEARCH_LLM_HEARTBEAT_SECONDS": "2",
        "RESEARCH_REPORTS_DIR": str(reports),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    env.pop("OPENAI_API_KEY", None)
    p = subprocess.Popen(
        [sys.executable, "-m", "tests.agents.run_workers", address, namespace, str(log)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line.strip() == "ready", line
    return p


def model_events(events: Any) -> tuple[int, int]:
    """(scheduled, completed) invoke_model_activity counts."""
    sched: set[int] = set()
    done = 0
    for e in events:
        if e.HasField("activity_task_scheduled_event_attributes") and (
            e.activity_task_scheduled_event_attributes.activity_type.name.startswith(
                "invoke_model_activity"
            )
        ):
            sched.add(e.event_id)
        if (
            e.HasField("activity_task_completed_event_attributes")
            and e.activity_task_completed_event_attributes.scheduled_event_id in sched
        ):
            done += 1
    return len(sched), done


async def test_kill_9_mid_run_resumes_without_repeating_model_calls(
    dev_server: DevServer, namespace: str, tmp_path: Path
) -> None:
    harness.import_example()
    from research.models import SessionInput
    from research.session import ResearchSession

    log = tmp_path / "calls.log"
    client = await harness.connect(dev_server.address, namespace, "research")
    first = spawn(dev_server.address, namespace, log, tmp_path)
    second = None
    try:
        h = await client.start_workflow(
            ResearchSession.run,
            SessionInput(
                session="chaos",
                questions=["what do providers answer past their rate limit?"],
                close_when_idle=True,
                approval_timeout_seconds=0.2,
            ),
            id=f"research-chaos-{uuid.uuid4().hex[:6]}",
            task_queue="research-workflows",
        )
        # wait until two model calls completed and the third is under way
        for _ in range(300):
            sched, done = model_events((await h.fetch_history()).events)
            if done == 2 and sched == 3 and log.exists() and " 2\n" in log.read_text():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the run never reached its third model call")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = spawn(dev_server.address, namespace, log, tmp_path)
        result = await asyncio.wait_for(h.result(), 60)
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
    assert result.answered == 1
    lines = [line.split() for line in log.read_text().splitlines()]
    before = Counter(int(k) for pid, k in lines if int(pid) == first.pid)
    after = Counter(int(k) for pid, k in lines if int(pid) != first.pid)
    # steps 0 and 1 completed before the kill and are never made again; step 2 was cut
    # and is made again by the new process (once, unless the loaded machine timed it out)
    assert before[0] >= 1 and before[1] >= 1 and before[2] >= 1, (before, after)
    assert after[0] == 0 and after[1] == 0, (before, after)
    assert after[2] >= 1, (before, after)
    sched, done = model_events((await h.fetch_history()).events)
    assert (sched, done) == (3, 3)
