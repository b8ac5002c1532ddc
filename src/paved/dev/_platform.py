"""``paved dev`` running: the dev server and the replica sets that carry out :class:`DevSettings`.

:func:`paved.dev.assemble` decides; :meth:`Platform.run` starts, in order, and
supervises until Ctrl-C:

1. the real Temporal dev server (SQLite under ``.paved/``, WAL, UI on);
2. the codec server and the proxy (``platform`` units), healthy before any worker;
3. the operator, in-process (``paved.operator.Operator``): its first pass creates
   every physical namespace of the local environment with its retention, owner
   data and search attributes, and defines every managed worker of the specs
   (``paved worker run``, at its replica count) in the workers' replica set;
   then it keeps reconciling: a ``paved gen`` while ``paved dev`` runs adds
   namespaces and starts new workers, a removed worker is drained;
4. the project's own ``services:``;
5. reload on save (:class:`paved.dev._reload.Reloader`): a saved file regenerates
   the specs and restarts only the workers whose code or spec changed.

The child processes are run by the operator's local replica-set target
(``paved.operator.ReplicaSet``): one set for the platform's processes, one for
the services and one for the workers (keyed by worker name: the handle the
operator, the autoscaler and the inner loop use, :attr:`Platform.workers`). A
process that dies is restarted with exponential backoff (a crash loop is
reported, not hidden); the dev server is restarted on the same port and
database. Ctrl-C / SIGTERM drains workers and services first, then the proxy
and codec server, then Temporal, and waits for each: nothing is left behind.
Each process's output goes to ``.paved/logs/<name>.log``; ``.paved/dev.json``
lists pids and URLs while it runs (``paved status`` reads it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from paved import autoscale, specs
from paved._errors import PavedError, RuntimeSetupError
from paved._net import port_in_use
from paved._proc import stop_on_signals
from paved._zygote import Zygote
from paved._zygote import enabled as zygote_enabled
from paved.dev import _access as access_mod
from paved.dev import _autoscale as autoscale_mod
from paved.dev import _devserver as devserver
from paved.dev._crashes import CrashWatch
from paved.dev._reload import Reloader
from paved.dev._settings import DevSettings
from paved.operator import (
    Operator,
    OperatorSettings,
    PassResult,
    ReplicaSet,
    TemporalNamespaces,
    WorkerReplicas,
)

Echo = Callable[[str], None]


class Platform:
    """Everything ``paved dev`` runs for one project: settings in, processes out.

    Attributes:
        settings: what :func:`paved.dev.assemble` decided (frozen).
        server: the Temporal dev server, once started.
        workers: the managed workers' replica set (unit = worker name).
        services: the project's services (unit = service name).
        platform: the proxy and the codec server.
    """

    def __init__(self, settings: DevSettings, *, echo: Echo = print) -> None:
        self.settings = settings
        self.echo = echo
        self.server: devserver.DevServer | None = None
        logs = settings.logs
        # Workers (and the `paved ...` platform processes) start as forks of one
        # pre-imported process (paved._zygote), not each a fresh interpreter importing
        # temporalio (PAVED_ZYGOTE=off: plain processes). Stopped with the last set.
        self.zygote = (
            Zygote(logs / "worker-zygote.log", cwd=settings.project.root)
            if zygote_enabled()
            else None
        )
        self.platform = ReplicaSet(logs, echo=echo, on_change=self.write_status, zygote=self.zygote)
        self.services = ReplicaSet(logs, kind="service", echo=echo, on_change=self.write_status)
        self.workers = ReplicaSet(
            logs, kind="worker", echo=echo, on_change=self.write_status, zygote=self.zygote
        )
        self.crashes = CrashWatch(
            (self.workers, self.services),
            echo=echo,
            max_failed_starts=settings.options.max_failed_starts,
        )
        self.reloader = Reloader(
            settings.project,
            self.workers,
            check=settings.options.check_specs,
            worker_files=settings.worker_files,
            echo=echo,
            release=self._release_held,
            on_namespaces=self._namespaces_changed,
        )
        self.operator: Operator | None = None  # once Temporal runs
        self.autoscaler: autoscale.Autoscaler | None = None  # once the workers run
        self._autoscaled = frozenset(w.name for w in autoscale.autoscaled_workers(settings.project))
        self._namespaces_pass: Operator | None = None
        self.started_at = time.time()
        self._running = False

    @property
    def sets(self) -> tuple[ReplicaSet, ...]:
        return (self.platform, self.services, self.workers)

    # ----- lifecycle ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Start everything, print the URLs, supervise until SIGINT/SIGTERM (or ``stop``),
        then stop everything."""
        stop = stop_on_signals(stop)
        s = self.settings
        t0 = time.monotonic()
        loops: list[asyncio.Task[None]] = []
        try:
            if self.zygote is not None and self.zygote.start():
                # Importing while the dev server starts; the workers fork from it later.
                self.echo(f"  started worker zygote (pid {self.zygote.pid})")
            self._start_temporal()
            loops = [asyncio.create_task(rs.run(stop)) for rs in self.sets]
            loops.append(asyncio.create_task(self._watch_temporal(stop)))
            loops.append(asyncio.create_task(self.crashes.run(stop, self.write_status)))
            # Reload on save (and a held crash loop started again) from the first moment.
            loops.append(asyncio.create_task(self.reloader.run(stop)))
            starting = asyncio.create_task(self._start_children())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait([starting, stopped], return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():  # Ctrl-C during start-up
                starting.cancel()
                return
            stopped.cancel()
            waited = starting.result()
            if self.operator is not None:
                loops.append(
                    asyncio.create_task(self.operator.run(stop, on_pass=self._operator_echo))
                )
            self.autoscaler = await self._start_autoscaler()
            if self.autoscaler is not None:
                loops.append(asyncio.create_task(self.autoscaler.run(stop)))
            self._running = True
            n = sum(rs.processes() for rs in self.sets)
            self.echo(
                f"all {n} processes healthy in {time.monotonic() - t0:.1f}s "
                f"(children took {waited:.1f}s)"
            )
            for k, v in self.urls().items():
                self.echo(f"  {k:<28} {v}")
            for note in s.notes:
                self.echo(f"  {note}")
            for name in self.crashes.held():
                self.echo(f"  {name}: NOT running (PAVED-SETUP-UNHEALTHY above); fix and save")
            # dev.json first: whoever waits for the last line may read it at once.
            self.write_status()
            self.echo("Ctrl-C stops everything.")
            await stop.wait()
        finally:
            stop.set()
            for task in loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._running = False
            self.echo("stopping ...")
            self.stop()
            with contextlib.suppress(FileNotFoundError):
                (s.state_dir / "dev.json").unlink()
            self.echo("stopped; nothing left running")

    def _start_temporal(self) -> None:
        s = self.settings
        s.state_dir.mkdir(parents=True, exist_ok=True)
        _ensure_gitignore(s.project.root)
        for port in s.public_ports:
            if port_in_use(port):
                raise RuntimeSetupError(
                    f"port {port} on 127.0.0.1 is already in use; another `paved dev` or "
                    "Temporal server may be running",
                    code="PAVED-SETUP-PORT",
                    fix=f"stop whatever listens there (`lsof -i :{port}`) or choose another --port",
                )
        for name, _, svc_port in s.services:
            if svc_port is not None and port_in_use(svc_port):
                raise RuntimeSetupError(
                    f"service {name!r}: port {svc_port} is already in use",
                    code="PAVED-SETUP-PORT",
                    fix=f"stop what listens on {svc_port} or change services.{name}.port in paved.yaml",
                )
        db = s.state_dir / "temporal.db"
        self.echo(f"starting Temporal dev server on 127.0.0.1:{s.temporal_port} (SQLite {db})")
        t0 = time.monotonic()
        s.logs.mkdir(parents=True, exist_ok=True)
        self.server = devserver.DevServer(
            db_file=db,
            port=s.temporal_port,
            ui_port=s.options.ui_port,
            ui_codec_endpoint=s.ui_codec_endpoint,
            log_file=s.logs / "temporal.log",
            metrics_port=s.observe.temporal_metrics_port if s.observe else None,
            # Worker heartbeats and ListWorkers: the autoscaler's slot signal.
            extra_dynamic_config={
                **devserver.INNER_LOOP_DYNAMIC_CONFIG,
                **autoscale.SIGNALS_DYNAMIC_CONFIG,
                **(s.observe.dynamic_config() if s.observe else {}),
            },
        )
        self.server.start()
        self.echo(f"  Temporal ready in {time.monotonic() - t0:.1f}s")
        env = s.options.environment
        temporal = TemporalNamespaces.at(
            s.project.config.project,
            self.server.address,
            name="temporal",
            select=lambda r: r.environment == env,
            adopt=True,  # namespaces an older `paved dev` created in .paved/temporal.db
            wait_usable=True,  # workers start right after the pass
        )
        workers = WorkerReplicas(
            self.workers,
            s.worker_template,
            # A crash loop held by CrashWatch (replicas 0) is not the operator's to undo,
            # nor are the replicas of a worker the autoscaler sizes.
            autoscaled=lambda w: w in self._autoscaled or f"worker {w}" in self.crashes.held(),
        )
        settings = OperatorSettings(
            temporal_address=None,
            resync_seconds=30.0,
            # Prometheus scrapes it (paved.observe's targets) when observability is on.
            metrics_port=s.observe.operator_metrics_port if s.observe is not None else None,
        )
        # Namespaces first (the platform's children may need them), workers once the
        # proxy they connect through is healthy: two passes, the same targets.
        self._namespaces_pass = Operator(s.project, settings, targets=[temporal])
        self.operator = Operator(s.project, settings, targets=[temporal, workers])

    async def _start_children(self) -> float:
        """Proxy and codec server first (workers connect through the proxy: a normal
        start shows no worker crash-and-restart), then workers and services."""
        s = self.settings
        if s.proxy_config is not None:
            data = s.proxy_config.model_dump(mode="json", exclude_defaults=True)
            s.proxy_config_path.write_text(
                "# Generated by `paved dev` on every start.\n"
                + yaml.safe_dump(data, sort_keys=False)
            )
        if s.observe is not None:
            s.observe.write_configs()  # prometheus.yml, alertmanager.yml, observe.json
        t0 = time.monotonic()
        assert self.operator is not None and self._namespaces_pass is not None
        first = await self._namespaces_pass.apply_once(timeout=60.0)
        for name, template in s.platform:
            self.platform.define(name, template)
        await self.platform.wait_healthy(timeout=60.0, fail_fast=True)
        result = await self.operator.apply_once(timeout=60.0)
        self.echo(
            f"  operator: namespaces: {', '.join(s.namespaces)}; "
            f"{len(self.workers.desired())} worker(s) defined "
            f"({self._namespaces_pass.writes + self.operator.writes} writes, "
            f"{first.errors + result.errors} errors; `paved status` shows each)"
        )
        for name, template, _ in s.services:
            self.services.define(name, template)
        # Supervision is on from the first moment: a worker that crashes while the
        # others still start is restarted, not reported as unhealthy 60 s later.
        await asyncio.gather(
            self.workers.wait_healthy(timeout=60.0), self.services.wait_healthy(timeout=60.0)
        )
        return time.monotonic() - t0

    async def _start_autoscaler(self) -> autoscale.Autoscaler | None:
        """The autoscaler loop for workers whose policy asks for it (talks to Temporal directly)."""
        if not self._autoscaled or self.server is None:
            return None
        loop = await autoscale_mod.start_autoscaler(
            self.settings.project,
            self.settings.options.environment,
            self.server.address,
            self.workers,
            proxy_metrics_url=self.proxy_metrics_url,
            echo=self.echo,
            held=lambda w: f"worker {w}" in self.crashes.held(),
        )
        if loop is not None:
            names = ", ".join(sorted(loop.workers))
            self.echo(
                f"  autoscaler: scaling {names} every {loop.interval:g}s (`paved autoscale explain`)"
            )
        return loop

    @property
    def proxy_metrics_url(self) -> str | None:
        c = self.settings.proxy_config
        return f"http://127.0.0.1:{c.metrics_port}/metrics" if c and c.metrics_port else None

    def _operator_echo(self, result: PassResult) -> None:
        """Say what the in-process operator changed after start-up (quiet when nothing did)."""
        for t in result.targets:
            if t.read_error:
                self.echo(f"  operator: {t.name}: {t.read_error}")
            for o in t.objects:
                if o.state in ("applied", "error"):
                    detail = o.last_error or "; ".join(o.drift) or o.reason
                    self.echo(f"  operator: {o.op} {o.kind} {o.name} {o.state} {detail}".rstrip())

    async def _watch_temporal(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            server = self.server
            if server is not None and server.proc is not None and server.proc.poll() is not None:
                self.echo(
                    "  Temporal dev server exited; restarting it on the same port and database"
                )
                server.proc = None
                server.start()
                self.write_status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    def stop(self) -> None:
        """Drain workers and services, then stop the proxy, codec server and Temporal."""
        for rs in (self.workers, self.services, self.platform):
            rs.stop()
        if self.server is not None:
            self.server.stop()

    def _release_held(self) -> list[str]:
        """A file changed: start the units held after a crash loop again."""
        names = self.crashes.release()
        if names:
            self.echo(f"  files changed; starting {', '.join(names)} again")
            self.write_status()
        return names

    def _namespaces_changed(self, names: list[str]) -> None:
        """The specs gained or lost a namespace: the generated dev policy follows (the proxy
        reloads it within seconds); the operator registers the namespace itself."""
        s = self.settings
        if not s.access.generated:
            self.echo(
                f"  namespaces now {', '.join(names)}: give your principal roles on them "
                f"in {s.access.policy_path} (the proxy reloads it)"
            )
            return
        try:
            access_mod.dev_access(specs.Project.load(s.project.root), s.options.environment)
        except PavedError as e:
            self.echo(f"  dev policy not updated: {e}")
            return
        self.echo(f"  dev policy: {s.access.principal} may use {', '.join(names)}")

    # ----- what is running ----------------------------------------------------------------

    def pids(self) -> dict[str, int]:
        """Every process ``paved dev`` started, by name (for ``.paved/dev.json``)."""
        out: dict[str, int] = {}
        for rs in self.sets:
            out.update(rs.pids())
        if self.server is not None and self.server.proc is not None:
            out["temporal"] = self.server.proc.pid
        return out

    def urls(self) -> dict[str, str]:
        s = self.settings
        out: dict[str, str] = {}
        if self.server is not None:
            internal = " (internal; use the proxy)" if s.proxy_config is not None else ""
            out["temporal"] = self.server.address + internal
            if self.server.ui_url:
                out["ui"] = self.server.ui_url
                # The workflows page of each physical namespace (the bare UI opens `default`).
                routes = s.project.routes()
                for physical in s.namespaces:
                    route = routes.by_physical(physical)
                    label = f"ui {route.logical}" if route is not None else f"ui {physical}"
                    out[label] = f"{self.server.ui_url}/namespaces/{physical}/workflows"
        if s.proxy_config is not None:
            out["workers/clients connect to"] = s.address
            if s.proxy_config.metrics_port:
                out["proxy metrics"] = f"http://127.0.0.1:{s.proxy_config.metrics_port}/metrics"
        if s.observe is not None:
            out["operator metrics"] = s.observe.operator_metrics_url
        for name, _, port in s.services:
            if port:
                out[f"service {name}"] = f"http://127.0.0.1:{port}"
        for r in self.workers.status():
            if r.health_url and r.state != "stopped":
                out[r.name] = r.health_url.replace("/healthz", "/metrics")
        return out

    def write_status(self) -> None:
        """``.paved/dev.json``: pid, start time, URLs and pids (once start-up is done)."""
        if not self._running:
            return
        status = {
            "pid": os.getpid(),
            "started": self.started_at,
            "urls": self.urls(),
            # What paved.connect(), paved run and paved temporal use without PAVED_API_KEY.
            "address": self.settings.address,
            "via_proxy": self.settings.proxy_config is not None,
            "principal": self.settings.access.principal,
            "proxy_metrics": self.proxy_metrics_url,
            "key_file": str(self.settings.access.key_file or ""),
            "pids": self.pids(),
            # Per replica, what the replica sets saw (paved status shows crashes).
            "replicas": [
                {"name": r.name, "state": r.state, "pid": r.pid, "restarts": r.restarts,
                 "last_exit": r.last_exit, "last_error": r.last_error,
                 **self.crashes.replica_fields(r.name)}
                for rs in self.sets
                for r in rs.status()
            ],
        }  # fmt: skip
        path = self.settings.state_dir / "dev.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(status, indent=2))
        tmp.replace(path)
        if self.settings.observe is not None:
            # Prometheus's targets follow what runs now (replicas get a new port on restart).
            running = [
                (r.name, r.health_url)
                for rs in self.sets
                for r in rs.status()
                if r.state != "stopped"
            ]
            self.settings.observe.write_targets(self.settings.observe.targets(running))


def _ensure_gitignore(root: Path) -> None:
    """``.paved/`` holds keys and data: make sure git never picks it up."""
    gi = root / ".gitignore"
    lines = gi.read_text(encoding="utf-8").splitlines() if gi.exists() else []
    if not any(line.strip() in (".paved", ".paved/", "/.paved", "/.paved/") for line in lines):
        with open(gi, "a", encoding="utf-8") as f:
            f.write(("\n" if lines and lines[-1] else "") + ".paved/\n")
