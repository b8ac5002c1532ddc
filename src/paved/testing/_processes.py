"""A project's processes, as separate OS processes, for end-to-end and chaos tests and benchmarks.

``ProjectProcesses`` starts what ``paved dev`` would start for a project (its
managed workers through ``paved worker run``, and any other command of the
project, e.g. a front end) against a given Temporal address, region and
environment, each with its own log file. Tests kill (``kill -9``) and restart
them by name; :meth:`ProjectProcesses.stop` drains what is left with SIGTERM.
Subclass it and extend :meth:`ProjectProcesses.env` to pass a project's own
settings.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from paved import codec, specs

PAVED = Path(sys.executable).parent / "paved"


def _new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@dataclass(kw_only=True)
class ProjectProcesses:
    """The processes of the project in ``project``, wired to one Temporal server.

    Attributes:
        project: the project root (holding ``paved.yaml`` and ``specs/``).
        address: Temporal frontend (or proxy) the processes connect to.
        log_dir: directory of the log files, ``<name>.log`` per process.
        environment, region: select the physical namespaces.
        keys: ``{logical namespace: base64 key}`` shared by every process through
            ``PAVED_KEYS_<NS>``, so nothing is written to the project's ``.paved/``
            and runs stay isolated (one fresh key per namespace by default).
        namespaces: logical namespaces to make keys for (default: all of the specs').
    """

    project: Path
    address: str
    log_dir: Path
    environment: str = "dev"
    region: str = "local"
    keys: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.project = Path(self.project).resolve()
        if not self.keys and (self.project / "specs" / "namespaces.yaml").exists():
            loaded = specs.Project.load(self.project).specs()
            self.keys = {ns.name: _new_key() for ns in loaded.namespaces.namespaces}

    def env(self) -> dict[str, str]:
        """The environment of every process (extend it in a subclass)."""
        env = dict(os.environ)
        env.update(
            PAVED_ADDRESS=self.address,
            PAVED_ENV=self.environment,
            PAVED_REGION=self.region,
            PAVED_PROJECT=str(self.project),
            PYTHONPATH=os.pathsep.join([str(self.project), env.get("PYTHONPATH", "")]),
            PYTHONUNBUFFERED="1",
        )
        for ns, key in self.keys.items():
            env[codec.env_var_for(ns)] = f"test:{key}"
        return env

    def spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        """Start ``cmd`` in the project directory as process ``name`` (log: ``<log_dir>/<name>.log``)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=self.project,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.procs[name] = proc
        return proc

    def start_worker(
        self, name: str, *, log_level: str = "WARNING", http_port: int = -1
    ) -> subprocess.Popen[bytes]:
        """``paved worker run NAME`` of the project as process ``name``; with ``http_port``
        it serves ``/healthz`` and ``/metrics`` there (default -1: no HTTP port)."""
        return self.spawn(
            name,
            [
                *(str(PAVED), "worker", "run", name, "--project", str(self.project)),
                *("--http-port", str(http_port), "--log-level", log_level),
            ],
        )

    def kill(self, name: str) -> None:
        """``kill -9`` process ``name``: no drain, no goodbye to Temporal."""
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process still running, then SIGKILL what has not exited in ``timeout``."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def log_tails(self, chars: int = 2000) -> str:
        """The end of every log file, for assertion messages."""
        out = []
        for p in sorted(self.log_dir.glob("*.log")):
            text = p.read_text(errors="replace")
            out.append(f"--- {p.name}\n{text[-chars:]}")
        return "\n".join(out)

    def __enter__(self) -> ProjectProcesses:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
