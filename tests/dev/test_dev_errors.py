"""Errors where the developer looks: ``paved dev`` (a subprocess) prints a worker's Paved
error once, holds it after N failed starts (``PAVED-SETUP-UNHEALTHY``) while the rest keeps
running, ``paved status`` shows the error, and saving the fix brings the worker back."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from dev_project import PAVED, generate, small_project
from test_paved_dev import start_dev, wait_for_line
from tests.conftest import unique_pkg, write_project

from paved.dev._crashes import CrashWatch, parse_error
from paved.operator import ReplicaStatus


def test_parse_error_takes_the_last_paved_block() -> None:
    log = (
        "INFO starting\n"
        "error: [PAVED-WORKER-STALE] old one\n  fix: run `paved gen`\n"
        "Traceback (most recent call last):\n"
        "error: [PAVED-DEF-UNKNOWN-NAMESPACE] /p/app/flows.py:12: workflow 'X' uses unknown "
        "namespace 'doc' (did you mean 'docs'?) (known: docs)\n"
        "  fix: write namespace='docs'\n"
    )
    err = parse_error(log)
    assert err is not None
    assert err.code == "PAVED-DEF-UNKNOWN-NAMESPACE"
    assert err.place == "/p/app/flows.py:12"
    assert err.fix == "write namespace='docs'"
    assert parse_error("plain output\nValueError: boom\n") is None


class _OneWorker:
    """A replica set of one worker whose replica the test moves by hand."""

    kind = "worker"

    def __init__(self, log: Path) -> None:
        self.log = log
        self.want = 1
        self.now = ReplicaStatus("w", 0, "worker w", "running", 1, 0, None, None, None, log)

    def desired(self) -> dict[str, int]:
        return {"w": self.want}

    def set_desired(self, unit: str, n: int) -> None:
        self.want = n

    def status(self, unit: str | None = None) -> list[ReplicaStatus]:
        return [self.now]


def test_an_error_printed_before_the_watch_first_looks_is_shown_once(tmp_path: Path) -> None:
    """The race behind the flaky broken-decorator test: under load the crash watch's first
    pass can come after a worker printed its error but before it exited. That error is
    this run's, so it is read (not skipped as an earlier session's output), and the same
    error of the next run is not printed again."""
    log = tmp_path / "w.log"
    log.write_text("error: [PAVED-WORKER-STALE] a previous paved dev session\n")
    err = (
        "error: [PAVED-DEF-UNKNOWN-NAMESPACE] /p/flows.py:3: activity 'a' uses unknown "
        "namespace 'devtt' (did you mean 'devt'?) (known: devt)\n  fix: write namespace='devt'\n"
    )
    rs = _OneWorker(log)
    start = log.stat().st_size
    rs.now = ReplicaStatus(
        "w", 0, "worker w", "running", 1, 0, None, None, None, log, log_offset=start
    )
    with open(log, "a") as f:
        f.write(err)  # printed, not exited yet
    out: list[str] = []
    watch = CrashWatch([rs], echo=out.append, max_failed_starts=2)  # type: ignore[list-item]
    watch.check()  # first look: running, nothing to report
    last = err.splitlines()[0]  # the replica set's last error line of the run
    rs.now = ReplicaStatus(
        "w", 0, "worker w", "backoff", None, 1, 2, last, None, log, log_offset=start
    )
    watch.check()
    second = log.stat().st_size
    with open(log, "a") as f:
        f.write(err)  # the next run fails the same way
    rs.now = ReplicaStatus(
        "w", 0, "worker w", "backoff", None, 2, 2, last, None, log, log_offset=second
    )
    watch.check()
    text = "\n".join(out)
    assert text.count("uses unknown namespace 'devtt'") == 2, text  # once + the hold
    assert "PAVED-WORKER-STALE" not in text
    assert "[PAVED-SETUP-UNHEALTHY] worker w failed 2 starts" in text and rs.want == 0


def test_broken_decorator_is_printed_once_held_and_comes_back(tmp_path: Path) -> None:
    pkg = unique_pkg("devx")
    project = generate(write_project(tmp_path / "proj", small_project(pkg)))
    flows = project.root / pkg / "flows.py"
    good = flows.read_text()
    # The typo a developer makes after `paved gen`: the worker now fails at import.
    flows.write_text(
        good.replace('@paved.activity(namespace="devt"', '@paved.activity(namespace="devtt"')
    )
    r = start_dev(project.root, tmp_path / "dev.out", "--max-failed-starts", "2", "--no-ui")
    try:
        wait_for_line(r, "[PAVED-SETUP-UNHEALTHY] worker devt-worker failed 2 starts", 150)
        # The rest keeps running and start-up completes.
        wait_for_line(r, "Ctrl-C stops everything", 60)
        out = r.output()
        assert (
            out.count("uses unknown namespace 'devtt' (did you mean 'devt'?)") == 2
        )  # once + hold
        assert f"{flows}:" in out  # file:line of the decorator
        assert "fix: write namespace='devt'" in out
        assert r.proc.poll() is None

        st = subprocess.run(
            [*PAVED, "status", "--project", str(project.root)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "worker devt-worker: stopped, HELD" in st.stdout, st.stdout
        assert "[PAVED-DEF-UNKNOWN-NAMESPACE]" in st.stdout

        mark = len(r.output())
        flows.write_text(good)
        wait_for_line(r, "starting worker devt-worker again", 60)
        deadline = time.monotonic() + 90
        while True:
            reps = [x for x in r.status()["replicas"] if x["name"] == "worker devt-worker"]
            if reps and reps[0]["state"] == "running":
                break
            assert time.monotonic() < deadline, r.output()[mark:]
            time.sleep(0.3)
    finally:
        if r.proc.poll() is None:
            r.proc.send_signal(signal.SIGINT)
            r.proc.wait(60)
    assert r.proc.returncode == 0, r.output()
