"""The tier without a hidden global: temporalio's own Replayer issues the commands ``paved worker run`` did.

A project whose namespace is tier 0 (not the default 2) runs a workflow under
``paved worker run`` (a real subprocess, a real dev server). Its history is
then replayed in this process with ``temporalio.worker.Replayer`` and nothing
of Paved's runtime: the activity options the replayed workflow asks for must
equal the ``ActivityTaskScheduled`` events the managed worker recorded, and be
tier 0's. Before, the replay silently used tier 2.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

import paved
from paved import sdk
from paved.dev import DevServer, ensure_namespaces

ISSUED: list[StartActivityInput] = []


class _Outbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> ActivityHandle[Any]:
        ISSUED.append(input)
        return super().start_activity(input)


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        return await super().execute_workflow(input)


class RecordActivities(Interceptor):
    """Records the activity commands a workflow issues (temporalio's interceptor API)."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _Inbound


def _project(root: Path, pkg: str, namespace: str) -> None:
    files = {
        "paved.yaml": f"project: replay\npackages: [{pkg}]\nnamespaces:\n"
        f"  {namespace}:\n    owner: team-replay\n    tier: 0\n",
        f"{pkg}/__init__.py": "",
        f"{pkg}/flows.py": f"""\
import paved
from temporalio import workflow

@paved.activity(namespace="{namespace}", worker="{namespace}-w")
async def double(n: int) -> int:
    return 2 * n

@paved.workflow(namespace="{namespace}", worker="{namespace}-w", name="{pkg}-flow")
class TwiceFlow:
    @workflow.run
    async def run(self, n: int) -> int:
        a = await paved.execute_activity(double, n)
        return await paved.execute_activity(double, a)
""",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "paved.cli", "gen", "--project", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr


@pytest.fixture
def imported_here(tmp_path: Path) -> Iterator[Path]:
    """Project modules imported by this test leave the registry and sys.modules afterwards."""
    path = list(sys.path)
    try:
        with sdk.registry_scope():
            yield tmp_path
    finally:
        sys.path[:] = path
        root = str(tmp_path.resolve())
        for name, mod in list(sys.modules.items()):
            if (getattr(mod, "__file__", None) or "").startswith(root):
                del sys.modules[name]


def _seconds(d: Any) -> float:
    return float(d.seconds) + d.nanos / 1e9


async def test_replayer_issues_the_commands_of_paved_worker_run(
    imported_here: Path, dev_server: DevServer, client: Client
) -> None:
    root = imported_here
    pkg, namespace = f"rp_{uuid.uuid4().hex[:8]}", f"rp-{uuid.uuid4().hex[:6]}"
    _project(root, pkg, namespace)
    env = paved.RuntimeEnv(address=dev_server.address)
    await ensure_namespaces(client, [env.namespace_for(namespace)])

    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "paved.cli", "worker", "run", f"{namespace}-w"),
            *("--project", str(root), "--http-port", "-1", "--log-level", "WARNING"),
        ],
        cwd=root,
        env={
            **os.environ,
            "PAVED_ADDRESS": dev_server.address,
            "PAVED_REGION": env.region,
            "PAVED_ENV": env.environment,
            "PAVED_CODEC": "off",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        c = await paved.connect(namespace, env=env, codec=None)
        handle = await c.start_workflow(
            f"{pkg}-flow",
            5,
            id=f"replay-{uuid.uuid4().hex[:8]}",
            task_queue=f"{namespace}-w-workflows",
            result_type=int,
        )
        assert await handle.result() == 20
        history = await handle.fetch_history()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]

    recorded = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert len(recorded) == 2
    # The managed worker used the namespace's tier 0 (24h to close, unlimited attempts).
    assert _seconds(recorded[0].schedule_to_close_timeout) == 24 * 3600
    assert recorded[0].retry_policy.maximum_attempts == 0

    # Now temporalio's own Replayer, in a process where no Paved runtime ran.
    sys.path.insert(0, str(root))
    flows = importlib.import_module(f"{pkg}.flows")
    ISSUED.clear()
    result = await Replayer(
        workflows=[flows.TwiceFlow],
        interceptors=[RecordActivities()],
        data_converter=paved.data_converter(),
    ).replay_workflow(history)
    assert result.replay_failure is None, result.replay_failure
    assert len(ISSUED) == len(recorded)
    for issued, scheduled in zip(ISSUED, recorded, strict=True):
        assert issued.activity == scheduled.activity_type.name
        assert issued.task_queue == scheduled.task_queue.name
        assert issued.schedule_to_close_timeout == timedelta(
            seconds=_seconds(scheduled.schedule_to_close_timeout)
        )
        assert issued.start_to_close_timeout == timedelta(
            seconds=_seconds(scheduled.start_to_close_timeout)
        )
        policy = issued.retry_policy
        assert policy is not None
        assert policy.initial_interval == timedelta(
            seconds=_seconds(scheduled.retry_policy.initial_interval)
        )
        assert policy.maximum_attempts == scheduled.retry_policy.maximum_attempts
        assert policy.maximum_interval == timedelta(
            seconds=_seconds(scheduled.retry_policy.maximum_interval)
        )


def test_a_namespace_without_a_tier_is_an_error_naming_it(imported_here: Path) -> None:
    root = imported_here
    pkg = f"nt_{uuid.uuid4().hex[:8]}"
    (root / pkg).mkdir()
    (root / pkg / "__init__.py").write_text("")
    (root / pkg / "acts.py").write_text(
        "import paved\n\n"
        '@paved.activity(namespace="nowhere", worker="nowhere-w")\n'
        "async def lost() -> None: ...\n\n"
        '@paved.activity(namespace="nowhere", worker="nowhere-w", tier=3)\n'
        "async def pinned() -> None: ...\n"
    )
    sys.path.insert(0, str(root))
    acts = importlib.import_module(f"{pkg}.acts")
    with pytest.raises(paved.DefinitionError) as e:
        sdk.activity_options(acts.lost)
    assert e.value.code == "PAVED-TIER-MISSING"
    assert "'nowhere'" in str(e.value)
    assert "paved.yaml" in str(e.value)
    # An explicit tier= needs no project file.
    assert sdk.activity_options(acts.pinned)["retry_policy"].maximum_attempts == 5
