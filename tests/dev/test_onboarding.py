"""The onboarding of issue 9, replayed end to end as a new user types it.

In an empty directory: ``paved new worker`` with flags, append a second workflow
of our own to the generated module, ``paved dev``, ``paved run`` of the printed
stub line and of the new workflow -> results, Ctrl-C -> nothing left running (no
child process, every port free). No ``paved gen``: ``paved dev`` regenerates the
specs from the code at start. Each step is asserted; the wall time and the count
of commands typed are printed (``-s`` shows them) and written to
``onboarding.json`` in the test's temp directory.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import psutil
from dev_project import PAVED

from paved.dev import free_port, port_in_use

SECOND_WORKFLOW = '''

@paved.workflow(namespace="onboard", worker="hello-bot")
class ShoutWorkflow:
    """A workflow of our own, added after scaffolding."""

    @workflow.run
    async def run(self, request: HelloBotRequest) -> str:
        result: HelloBotResult = await paved.execute_activity(hello_bot_step, request)
        return result.echo.upper() + "!"
'''


def test_onboarding_from_an_empty_directory(tmp_path: Path) -> None:
    root = tmp_path / "hello"
    root.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAVED_")}
    typed: list[str] = []

    def paved(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        typed.append(shlex.join(["paved", *args]))
        r = subprocess.run(
            [*PAVED, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout
        )
        assert r.returncode == 0, f"paved {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
        return r

    t0 = time.monotonic()
    # 1. Scaffold: flags, no prompts. It prints the exact `paved run` line of its stub.
    new = paved("new", "worker", "--name", "hello-bot", "--owner", "team-hello",
                "--namespace", "onboard", "--yes")  # fmt: skip
    m = re.search(r"^\s+(paved run HelloBotWorkflow --input .+)$", new.stdout, re.M)
    assert m, new.stdout
    printed = shlex.split(m.group(1))
    assert (root / "specs" / "workflows.yaml").exists()

    # 2. A workflow of our own, appended to the generated module (an edit, not a command).
    with open(root / "hello_bot" / "workflows.py", "a", encoding="utf-8") as f:
        f.write(SECOND_WORKFLOW)
    assert "ShoutWorkflow" not in (root / "specs" / "workflows.yaml").read_text()

    # 3. paved dev (it writes the specs of the new workflow itself; free ports here so
    # that tests can run side by side, a user types `paved dev`).
    port, ui_port = free_port(), free_port()
    typed.append("paved dev")
    out = tmp_path / "dev.out"
    with open(out, "wb") as f:
        dev = subprocess.Popen(
            [*PAVED, "dev", "--port", str(port), "--ui-port", str(ui_port)],
            cwd=root, env=env, stdout=f, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while "Ctrl-C stops everything" not in out.read_text(errors="replace"):
            assert dev.poll() is None, out.read_text(errors="replace")
            assert time.monotonic() < deadline, out.read_text(errors="replace")
            time.sleep(0.2)
        t_dev = time.monotonic() - t0
        assert "ShoutWorkflow" in (root / "specs" / "workflows.yaml").read_text()

        # 4. The printed line, as printed, and the new workflow: results on stdout.
        stub = paved(*printed[1:])
        assert json.loads(stub.stdout) == {"echo": "hello", "characters": 5}
        assert "as dev-local" in stub.stderr
        t_first = time.monotonic() - t0
        shout = paved("run", "ShoutWorkflow", "--input", '{"text": "it works"}')
        assert json.loads(shout.stdout) == "IT WORKS!"
        t_second = time.monotonic() - t0

        state = json.loads((root / ".paved" / "dev.json").read_text())
        children = {p.pid for p in psutil.Process(dev.pid).children(recursive=True)}
        children |= set(state["pids"].values())
        temporal_port = int(state["urls"]["temporal"].split()[0].rsplit(":", 1)[1])
    finally:
        # 5. Ctrl-C: everything stops.
        if dev.poll() is None:
            dev.send_signal(signal.SIGINT)
        code = dev.wait(90)
    t_total = time.monotonic() - t0
    assert code == 0, out.read_text(errors="replace")
    assert "stopped; nothing left running" in out.read_text(errors="replace")
    left = [p for p in children if psutil.pid_exists(p) and _alive(p)]
    assert not left, f"still running after Ctrl-C: {left}"
    for p in (port, ui_port, temporal_port):
        assert not port_in_use(p), f"port {p} still in use"
    assert not (root / ".paved" / "dev.json").exists()

    report = {
        "commands_typed": len(typed),
        "commands": typed,
        "edits": 1,
        "seconds_to_paved_dev_ready": round(t_dev, 1),
        "seconds_to_first_result": round(t_first, 1),
        "seconds_to_second_result": round(t_second, 1),
        "seconds_total_with_shutdown": round(t_total, 1),
        "load_average": os.getloadavg(),
    }
    (tmp_path / "onboarding.json").write_text(json.dumps(report, indent=2))
    print("\nonboarding:", json.dumps(report))
    assert len(typed) == 4  # new worker, dev, run (stub), run (our workflow)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
