"""``paved replay pull`` and ``paved replay test`` as a user runs them: a small Paved project,
histories recorded on the session's dev server by a plain worker (no codec: Temporal holds
plaintext), pulled through ``paved.connect`` and encrypted on the way to disk."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from paved.dev import DevServer, ensure_namespaces

PAVED = Path(sys.executable).parent / "paved"
MARKER = "pull-marker-51c0"


def paved_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PAVED), *args], cwd=cwd, capture_output=True, text=True, timeout=180, env=env
    )


async def test_pull_then_test(dev_server: DevServer, client: Client, tmp_path: Path) -> None:
    logical = f"rp{uuid.uuid4().hex[:8]}"
    sfx = uuid.uuid4().hex[:6]  # type names are process-global (the registry): unique per run
    pkg = f"pullflow_{sfx}"
    (tmp_path / "paved.yaml").write_text(
        f"project: p\npackages: [{pkg}]\nregions: [local]\nenvironments: [dev]\n"
        f"namespaces:\n  {logical}: {{owner: team, tier: 2, retention: 1d}}\n"
    )
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / pkg / "flows.py").write_text(
        textwrap.dedent(f"""
        from temporalio import workflow
        import paved

        @paved.activity(namespace="{logical}", worker="w")
        async def greet_{sfx}(name: str) -> str:
            return "hello " + name

        @paved.workflow(namespace="{logical}", worker="w")
        class Greeter{sfx}:
            @workflow.run
            async def run(self, name: str) -> str:
                first = await paved.execute_activity(greet_{sfx}, name)
                if name.endswith("-twice"):
                    return await paved.execute_activity(greet_{sfx}, first)
                return first
        """)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAVED_KEYS_")}
    env |= {"PAVED_ADDRESS": dev_server.address, "PAVED_ENV": "dev", "PAVED_REGION": "local"}
    assert paved_cli("gen", cwd=tmp_path, env=env).returncode == 0
    physical = f"{logical}-dev-local"
    await ensure_namespaces(client, [physical])

    sys.path.insert(0, str(tmp_path))  # the sandbox re-imports the workflow module
    try:
        mod = __import__(f"{pkg}.flows", fromlist=["x"])
        greeter, greet = getattr(mod, f"Greeter{sfx}"), getattr(mod, f"greet_{sfx}")
        c = await Client.connect(dev_server.address, namespace=physical)
        runner = SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules("paved", "pydantic")
        )
        async with (
            Worker(c, task_queue="w-workflows", workflows=[greeter], workflow_runner=runner),
            Worker(c, task_queue="w-activities", activities=[greet]),
        ):
            for name in (f"{MARKER}-a", f"{MARKER}-b", f"{MARKER}-twice"):
                await c.execute_workflow(
                    greeter.run, name, id=f"g-{uuid.uuid4().hex[:8]}", task_queue="w-workflows"
                )
    finally:
        sys.path.remove(str(tmp_path))

    r = paved_cli("replay", "pull", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 runs scanned, 2 files written" in r.stdout  # two shapes: one greeting, two
    assert "arrived in the clear and were encrypted" in r.stdout
    files = sorted((tmp_path / "replay" / f"Greeter{sfx}").glob("*.json"))
    assert len(files) == 2
    for f in files:
        assert MARKER not in f.read_text() and "hello" not in f.read_text()
    again = paved_cli("replay", "pull", cwd=tmp_path, env=env)
    assert "0 files written" in again.stdout
    assert sorted((tmp_path / "replay" / f"Greeter{sfx}").glob("*.json")) == files

    t = paved_cli("replay", "test", "--junit", str(tmp_path / "j.xml"), cwd=tmp_path, env=env)
    assert t.returncode == 0, t.stdout + t.stderr
    assert "replay: 2 histories OK" in t.stdout
    # Without the key ring the corpus cannot be read: an error, never a pass.
    (tmp_path / ".paved" / "keys.json").rename(tmp_path / "keys.moved")
    bad = paved_cli("replay", "test", cwd=tmp_path, env=env)
    assert bad.returncode == 1 and "FAILED" in bad.stdout
