"""``paved dev``: the embedded platform in one command.

Starts, in order, and supervises until Ctrl-C:

1. the real Temporal dev server (SQLite under ``.paved/``, WAL, UI on), with
   every physical namespace of the local environment created at launch;
2. the codec server and the proxy, when those layers are enabled (optional
   hooks: :attr:`Platform.extra_services`);
3. every managed worker of the specs as its own process (``paved worker run``),
   and the project's own ``services:`` (front ends, fakes) from ``paved.yaml``.

A process that dies is restarted with exponential backoff (a crash loop is
reported, not hidden). Ctrl-C / SIGTERM stops everything it started, children
first, and waits for them: nothing is left behind. Each process's output goes to
``.paved/logs/<name>.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from paved import sdk, specs
from paved._errors import RuntimeSetupError
from paved._net import free_port, port_in_use
from paved._proc import die_with_parent
from paved.dev import _devserver as devserver

if TYPE_CHECKING:
    from paved.dev._access import DevAccess

Echo = Callable[[str], None]


@dataclass
class Managed:
    """A child process ``paved dev`` supervises."""

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    health_url: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        if not self.alive():
            return False
        if self.health_url is None:
            return True
        try:
            with urllib.request.urlopen(self.health_url, timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)


@dataclass
class Platform:
    """Everything ``paved dev`` runs for one project."""

    project: specs.Project
    port: int = 7233
    ui_port: int | None = 8233
    environment: str = "dev"
    echo: Echo = print
    children: list[Managed] = field(default_factory=list)
    server: devserver.DevServer | None = None
    # Hooks for other layers (proxy, codec server): called with the platform
    # after the dev server is up; each returns the Managed processes it adds.
    extra_services: list[Callable[[Platform], list[Managed]]] = field(default_factory=list)
    worker_address: str | None = None
    started_at: float = field(default_factory=time.time)
    worker_env: dict[str, str] = field(default_factory=dict)
    ui_codec_endpoint: str | None = None
    # Set when the proxy takes ``port``: Temporal then listens on this internal port.
    temporal_port: int | None = None
    # Ports checked before anything starts (the dev server checks its own).
    public_ports: list[int] = field(default_factory=list)
    # Extra lines printed with the URLs (where the key is, how to use the CLI).
    notes: list[str] = field(default_factory=list)
    # The proxy goes in front of Temporal (hook in paved.cli._proxy); False: everything direct.
    use_proxy: bool = True
    access: DevAccess | None = None

    @property
    def logs(self) -> Path:
        return self.project.state_dir / "logs"

    def physical_namespaces(self, loaded: specs.Specs) -> list[str]:
        out = []
        for ns in loaded.namespaces.namespaces:
            out += [p.name for p in ns.physical if p.environment == self.environment]
        return sorted(out)

    def search_attributes(self, loaded: specs.Specs) -> dict[str, str]:
        """Every namespace's custom search attributes (registered at launch for all of
        the local namespaces; one type per name across the project)."""
        out: dict[str, str] = {}
        for ns in loaded.namespaces.namespaces:
            for name, typ in ns.search_attributes.items():
                if out.get(name, typ) != typ:
                    raise RuntimeSetupError(
                        f"search attribute {name!r} is {out[name]} in one namespace and {typ} in {ns.name!r}",
                        code="PAVED-SETUP-SEARCH-ATTRIBUTE",
                        fix="use one type per search attribute name in paved.yaml",
                    )
                out[name] = typ
        return out

    def base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PAVED_ADDRESS=self.worker_address or (self.server.address if self.server else ""),
            PAVED_ENV=self.environment,
            PAVED_PROJECT=str(self.project.root),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.worker_env)
        return env

    def start(self) -> None:
        t0 = time.monotonic()
        loaded = self.project.specs()
        state = self.project.state_dir
        state.mkdir(parents=True, exist_ok=True)
        _ensure_gitignore(self.project.root)
        namespaces = self.physical_namespaces(loaded)
        if not namespaces:
            raise RuntimeSetupError(
                f"no namespace in specs/namespaces.yaml has environment {self.environment!r}",
                code="PAVED-SETUP-NO-NAMESPACE",
                fix=f"add {self.environment!r} to `environments:` in paved.yaml and run `paved gen`",
            )
        for port in self.public_ports:
            if port_in_use(port):
                raise RuntimeSetupError(
                    f"port {port} on 127.0.0.1 is already in use; another `paved dev` or "
                    "Temporal server may be running",
                    code="PAVED-SETUP-PORT",
                    fix=f"stop whatever listens there (`lsof -i :{port}`) or choose another --port",
                )
        temporal_port = self.temporal_port or self.port
        self.echo(
            f"starting Temporal dev server on 127.0.0.1:{temporal_port} (SQLite {state / 'temporal.db'})"
        )
        self.server = devserver.DevServer(
            db_file=state / "temporal.db",
            port=temporal_port,
            ui_port=self.ui_port,
            namespaces=namespaces,
            search_attributes=self.search_attributes(loaded),
            ui_codec_endpoint=self.ui_codec_endpoint,
            log_file=self.logs / "temporal.log",
        )
        self.logs.mkdir(parents=True, exist_ok=True)
        self.server.start()
        self.echo(
            f"  Temporal ready in {time.monotonic() - t0:.1f}s; namespaces: {', '.join(namespaces)}"
        )
        for hook in self.extra_services:
            for m in hook(self):
                self._launch(m)
        # Workers connect through the proxy: let it listen first, so that a
        # normal start shows no worker crash-and-restart.
        self._wait_started(list(self.children), timeout=60.0)
        for w in loaded.workers.workers:
            self._launch(self._worker_process(w, loaded))
        for name, svc in sorted(self.project.config.services.items()):
            self._launch(self._service_process(name, svc))

    def _wait_started(self, procs: list[Managed], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(m.healthy() for m in procs):
                return
            dead = [m for m in procs if not m.alive()]
            if dead:
                raise RuntimeSetupError(
                    f"{dead[0].name} exited at start (code {dead[0].proc.returncode if dead[0].proc else '?'})",
                    code="PAVED-SETUP-UNHEALTHY",
                    fix=f"see {dead[0].log_path}",
                )
            time.sleep(0.1)
        sick = [m.name for m in procs if not m.healthy()]
        raise RuntimeSetupError(
            f"not healthy after {timeout:.0f}s: {', '.join(sick)}",
            code="PAVED-SETUP-UNHEALTHY",
            fix=f"see the logs in {self.logs}",
        )

    def pids(self) -> dict[str, int]:
        """Every process ``paved dev`` started, by name (for ``.paved/dev.json``)."""
        out = {m.name: m.proc.pid for m in self.children if m.proc is not None and m.alive()}
        if self.server is not None and self.server.proc is not None:
            out["temporal"] = self.server.proc.pid
        return out

    def write_status(self) -> None:
        status = {
            "pid": os.getpid(),
            "started": self.started_at,
            "urls": self.urls(),
            "pids": self.pids(),
        }
        path = self.project.state_dir / "dev.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(status, indent=2))
        tmp.replace(path)

    def _launch(self, m: Managed) -> None:
        self.children.append(m)
        m.start()
        self.echo(f"  started {m.name} (pid {m.proc.pid if m.proc else '?'}; log {m.log_path})")

    def _worker_process(self, w: specs.WorkerSpec, loaded: specs.Specs) -> Managed:
        ns = loaded.namespace(w.namespace)
        region = ns.regions[0]
        port = free_port()
        env = self.base_env()
        env.update(PAVED_REGION=region)
        return Managed(
            name=f"worker {w.name}",
            command=[
                sys.executable,
                "-m",
                "paved.cli",
                "worker",
                "run",
                w.name,
                "--project",
                str(self.project.root),
                "--http-port",
                str(port),
            ],
            env=env,
            cwd=self.project.root,
            log_path=self.logs / f"worker-{w.name}.log",
            health_url=f"http://127.0.0.1:{port}/healthz",
        )

    def _service_process(self, name: str, svc: specs.ServiceConfig) -> Managed:
        if svc.port is not None and port_in_use(svc.port):
            raise RuntimeSetupError(
                f"service {name!r}: port {svc.port} is already in use",
                code="PAVED-SETUP-PORT",
                fix=f"stop what listens on {svc.port} or change services.{name}.port in paved.yaml",
            )
        subst = {"python": sys.executable, "port": str(svc.port or "")}
        cmd = [part.format(**subst) for part in svc.command]
        env = self.base_env()
        env.update(svc.env)
        health = (
            f"http://127.0.0.1:{svc.port}{svc.health_path}"
            if svc.port and svc.health_path
            else None
        )
        return Managed(
            name=f"service {name}",
            command=cmd,
            env=env,
            cwd=self.project.root,
            log_path=self.logs / f"service-{name}.log",
            health_url=health,
        )

    async def wait_healthy(self, timeout: float = 60.0) -> float:
        """Wait until every child answers its health check; return seconds waited."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if all(m.healthy() for m in self.children):
                return time.monotonic() - t0
            await asyncio.sleep(0.1)
        sick = [m.name for m in self.children if not m.healthy()]
        raise RuntimeSetupError(
            f"not healthy after {timeout:.0f}s: {', '.join(sick)}",
            code="PAVED-SETUP-UNHEALTHY",
            fix=f"see the logs in {self.logs}",
        )

    async def supervise(self, stop: asyncio.Event) -> None:
        """Restart dead children (exponential backoff) until ``stop`` is set."""
        while not stop.is_set():
            now = time.monotonic()
            for m in self.children:
                if m.alive() or now < m.next_start:
                    continue
                if m.next_start == 0.0 or m.proc is not None:
                    code = m.proc.returncode if m.proc else None
                    delay = min(30.0, 0.5 * (2 ** min(m.restarts, 6)))
                    # A process that ran a while before dying starts a new backoff series.
                    if m.started_at and now - m.started_at > 60:
                        m.restarts, delay = 0, 0.5
                    self.echo(
                        f"  {m.name} exited (code {code}); restarting in {delay:.1f}s (see {m.log_path})"
                    )
                    m.proc = None
                    m.next_start = now + delay
                    m.restarts += 1
                    continue
                m.start()
                m.next_start = 0.0
                self.echo(f"  restarted {m.name} (pid {m.proc.pid if m.proc else '?'})")
                self.write_status()
            if (
                self.server is not None
                and self.server.proc is not None
                and self.server.proc.poll() is not None
            ):
                self.echo(
                    "  Temporal dev server exited; restarting it on the same port and database"
                )
                self.server.proc = None
                self.server.start()
                self.write_status()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop children (SIGTERM, then SIGKILL) and the dev server; wait for all."""
        for m in self.children:
            m.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for m in self.children:
            if m.proc is None:
                continue
            try:
                m.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                m.signal(signal.SIGKILL)
                m.proc.wait()
        if self.server is not None:
            self.server.stop()

    def urls(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.server is not None:
            internal = " (internal; use the proxy)" if self.temporal_port else ""
            out["temporal"] = self.server.address + internal
            if self.server.ui_url:
                out["ui"] = self.server.ui_url
        if self.worker_address:
            out["workers/clients connect to"] = self.worker_address
        for name, svc in sorted(self.project.config.services.items()):
            if svc.port:
                out[f"service {name}"] = f"http://127.0.0.1:{svc.port}"
        for m in self.children:
            if m.health_url and m.name.startswith("worker"):
                out[m.name] = m.health_url.replace("/healthz", "/metrics")
        return out


def _ensure_gitignore(root: Path) -> None:
    """``.paved/`` holds keys and data: make sure git never picks it up."""
    gi = root / ".gitignore"
    lines = gi.read_text(encoding="utf-8").splitlines() if gi.exists() else []
    if not any(line.strip() in (".paved", ".paved/", "/.paved", "/.paved/") for line in lines):
        with open(gi, "a", encoding="utf-8") as f:
            f.write(("\n" if lines and lines[-1] else "") + ".paved/\n")


async def run_dev(platform: Platform) -> None:
    """Start the platform, print URLs, supervise until SIGINT/SIGTERM, stop everything."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    t0 = time.monotonic()
    supervisor: asyncio.Task[None] | None = None
    try:
        platform.start()
        # Supervise from the first moment: a worker that crashes while the others
        # are still starting is restarted, not reported as unhealthy 60 s later.
        supervisor = asyncio.create_task(platform.supervise(stop))
        healthy = asyncio.create_task(platform.wait_healthy())
        await asyncio.wait([healthy, supervisor], return_when=asyncio.FIRST_COMPLETED)
        if not healthy.done():  # Ctrl-C during start-up
            healthy.cancel()
            return
        waited = healthy.result()
        platform.echo(
            f"all {len(platform.children)} processes healthy in {time.monotonic() - t0:.1f}s "
            f"(children took {waited:.1f}s)"
        )
        for k, v in platform.urls().items():
            platform.echo(f"  {k:<28} {v}")
        for note in platform.notes:
            platform.echo(f"  {note}")
        platform.echo("Ctrl-C stops everything.")
        platform.write_status()
        await supervisor
    finally:
        stop.set()
        if supervisor is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        platform.echo("stopping ...")
        platform.stop()
        with contextlib.suppress(FileNotFoundError):
            (platform.project.state_dir / "dev.json").unlink()
        platform.echo("stopped; nothing left running")


def default_environment() -> str:
    return sdk.RuntimeEnv.from_env().environment
