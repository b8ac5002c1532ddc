"""``paved dev``'s frozen settings: the developer's options and what :func:`paved.dev.assemble` decided.

The platform (:mod:`paved.dev._platform`) carries them out; its runtime state
(processes, the dev server) lives in the platform and its replica sets, never here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from paved import observe, proxy, specs
from paved.dev._access import DevAccess
from paved.operator import ProcessTemplate, worker_template


@dataclass(frozen=True)
class DevOptions:
    """What the developer chose (``paved dev`` flags).

    Attributes:
        port: where workers, clients and the ``temporal`` CLI connect: the proxy,
            or Temporal itself with ``use_proxy=False``.
        ui_port: the Temporal UI; None runs headless (and without the codec server).
        environment: whose physical namespaces are created locally.
        use_proxy: put the proxy in front of Temporal.
        max_failed_starts: a worker or service that exits this many times in a row is
            no longer restarted (``PAVED-SETUP-UNHEALTHY``) until a project file changes.
        check_specs: refuse to start or reload when the specs on disk are stale
            (``PAVED-SETUP-SPECS-STALE``) instead of writing them.
    """

    port: int = 7233
    ui_port: int | None = 8233
    environment: str = "dev"
    use_proxy: bool = True
    max_failed_starts: int = 5
    check_specs: bool = False


@dataclass(frozen=True)
class DevSettings:
    """Everything :func:`assemble` decided; the platform only carries it out.

    Attributes:
        project: the project.
        options: the developer's options.
        access: the developer's policy and key.
        namespaces: the local environment's physical namespaces (from ``Routes``);
            the operator creates them.
        search_attributes: declared custom search attributes; the operator adds
            each to the namespaces that declare it.
        temporal_port: where Temporal listens (internal when the proxy is on).
        public_ports: checked free before anything starts.
        address: where workers, services and clients connect.
        ui_codec_endpoint: the codec server URL the UI calls, or None.
        proxy_config: the proxy's config (``.paved/dev-proxy.yaml``), or None.
        platform: units started and healthy before any worker: proxy, codec server.
        workers: ``(worker name, template, replicas)`` per managed worker at start
            (the operator's workers target asks :meth:`worker_template` on every
            pass, so a worker added by `paved gen` while `paved dev` runs starts too).
        services: the project's ``services:`` from ``paved.yaml``.
        notes: lines printed with the URLs (where the key is, how to use the CLI).
        child_env: the environment every child starts from (address, credentials).
        observe: Prometheus, Alertmanager, the stuck detector and the page
            (:func:`paved.observe.local_stack`): their configs, the dev server's
            metrics port and dynamic config, the scrape targets.
        worker_files: per worker, the project's source files its process imports
            (from the start-up generation): what a save is mapped to on reload.
    """

    project: specs.Project
    options: DevOptions
    access: DevAccess
    namespaces: tuple[str, ...]
    search_attributes: Mapping[str, str]
    temporal_port: int
    public_ports: tuple[int, ...]
    address: str
    ui_codec_endpoint: str | None
    proxy_config: proxy.ProxyConfig | None
    platform: tuple[tuple[str, ProcessTemplate], ...]
    workers: tuple[tuple[str, ProcessTemplate, int], ...]
    services: tuple[tuple[str, ProcessTemplate, int | None], ...]
    notes: tuple[str, ...]
    child_env: Mapping[str, str]
    observe: observe.LocalStack | None = None
    worker_files: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.project.state_dir

    @property
    def logs(self) -> Path:
        return self.project.state_dir / "logs"

    @property
    def proxy_config_path(self) -> Path:
        return self.project.state_dir / "dev-proxy.yaml"

    def worker_template(self, worker: specs.WorkerSpec) -> ProcessTemplate | None:
        """How ``paved dev`` runs one replica of ``worker`` (also one added to the specs
        after start-up): what the operator's workers target asks for; None when the
        worker's namespace has no physical namespace in this environment."""
        return worker_process(
            self.project, worker, self.project.routes(), self.options.environment, self.child_env
        )


def worker_process(
    project: specs.Project,
    worker: specs.WorkerSpec,
    routes: specs.Routes,
    environment: str,
    env: Mapping[str, str],
) -> ProcessTemplate | None:
    """One replica of ``worker`` under ``paved dev``, or None when its namespace has no
    physical namespace in ``environment``.

    Workers run in the developer's home region (the first of ``regions:``) when
    their namespace has it: the region the dev principal and the proxy use.
    """
    mine = [r for r in routes.routes_of(worker.namespace) if r.environment == environment]
    if not mine:
        return None
    home = project.config.regions[0]
    route = next((r for r in mine if r.region == home), mine[0])
    return worker_template(project, worker, region=route.region, environment=environment, env=env)
