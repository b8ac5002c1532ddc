"""``paved dev`` assembled in one place: the project and the options in, a platform out.

:func:`assemble` decides everything before anything starts and returns a
:class:`~paved.dev.Platform` holding frozen :class:`DevSettings`:

1. the physical namespaces of the local environment, from the specs' ``Routes``
   (created, with their search attributes, by the operator's pass at start-up);
2. who the developer is (:func:`paved.dev.dev_access`: policy and API key);
3. the wiring: with the proxy (the default) Temporal listens on an internal free
   port and ``paved proxy`` on ``--port``, so the ``temporal`` CLI, SDK defaults,
   workers and services all go through it; children get ``PAVED_VIA_PROXY=1``,
   the dev key and ``PAVED_CODEC=off`` (the proxy alone encrypts, with
   ``.paved/keys.json``, the key ring the codec server decodes with). With
   ``--no-proxy`` Temporal listens on ``--port`` and workers encrypt themselves;
4. every child process as a ``paved`` subcommand: ``paved proxy --config``
   (the config written from ``paved.proxy.ProxyConfig``), ``paved codec-server
   --local-developer`` (when the UI runs), ``paved worker run`` per managed
   worker (one unit of the operator's ``ReplicaSet`` each, at the spec's replica
   count, defined by the operator's workers target), and the project's ``services:``.

The CLI parses options and prints; nothing else of ``paved dev`` lives there.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from paved import observe, proxy, specs
from paved._errors import RuntimeSetupError
from paved._net import free_port
from paved._proc import paved_command
from paved.dev import _access as access_mod
from paved.dev import _autoscale as autoscale_mod
from paved.dev import _platform as platform_mod
from paved.dev import _specsync as specsync
from paved.dev._settings import DevOptions, DevSettings, worker_process
from paved.operator import ProcessTemplate

Echo = Callable[[str], None]


def search_attributes(loaded: specs.Specs) -> dict[str, str]:
    """Every namespace's custom search attributes (registered at launch on all of the
    local namespaces; one type per name across the project)."""
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


def routes_here(project: specs.Project, environment: str) -> list[specs.Route]:
    """The routes of ``environment`` that ``paved dev`` creates (the UI links list them)."""
    routes = project.routes()
    return [
        r
        for ns in project.config.namespaces
        for r in routes.routes_of(ns)
        if r.environment == environment
    ]


def assemble(
    project: specs.Project, options: DevOptions, *, echo: Echo = print
) -> platform_mod.Platform:
    """The platform ``paved dev`` runs for ``project``: decided, not yet started.

    First the specs are regenerated from the code and compared with the files on
    disk: written when they differ (one line says what changed), or, with
    ``options.check_specs``, ``PAVED-SETUP-SPECS-STALE``. Raises ``PavedError``
    (nothing started, nothing to clean up) then, when the specs have no namespace
    for the environment, or when the developer's credentials are missing. Start it with ``await platform.run()``.
    """
    # Specs never silently stale: regenerated from the code and written (or refused).
    generated = specsync.at_start(project, check=options.check_specs, echo=echo)
    loaded = project.specs()
    env_name = options.environment
    routes = project.routes()
    local = routes.in_environment(env_name)
    if not local:
        raise RuntimeSetupError(
            f"no namespace in specs/namespaces.yaml has environment {env_name!r}",
            code="PAVED-SETUP-NO-NAMESPACE",
            fix=f"add {env_name!r} to `environments:` in paved.yaml and run `paved gen`",
        )
    access = access_mod.dev_access(project, env_name)
    root, state = project.root, project.state_dir
    address = f"127.0.0.1:{options.port}"
    base: dict[str, str] = dict(os.environ)
    base.update(
        PAVED_ADDRESS=address, PAVED_ENV=env_name, PAVED_PROJECT=str(root), PYTHONUNBUFFERED="1"
    )
    # Workers heartbeat their slots to Temporal often enough for the autoscaler.
    base.setdefault("PAVED_WORKER_HEARTBEAT_SECONDS", str(autoscale_mod.HEARTBEAT_SECONDS))
    temporal_port = options.port
    metrics = 0
    if options.use_proxy:
        temporal_port, metrics = free_port(), free_port()
        # The proxy alone encrypts on the wire; a second layer would hide nothing more.
        base.update(PAVED_VIA_PROXY="1", PAVED_API_KEY=access.api_key, PAVED_CODEC="off")
    # Observability: every child traces (PAVED_TRACING), logs JSON lines and links
    # each workflow it starts to its logs and trace (paved.observe.local_stack).
    ui_url = f"http://127.0.0.1:{options.ui_port}" if options.ui_port is not None else None
    stack = observe.local_stack(project, ui_url=ui_url)
    base.update(stack.child_env())
    platform: list[tuple[str, ProcessTemplate]] = []
    notes: list[str] = []

    # The codec server's URL is given to the dev server's UI when it starts.
    codec_endpoint = None
    if options.ui_port is not None:
        codec_port = free_port()
        codec_endpoint = f"http://127.0.0.1:{codec_port}"
        argv = paved_command("codec-server", "--project", str(root), "--port", str(codec_port),
                             "--policy", str(access.policy_path),
                             "--local-developer", access.principal)  # fmt: skip
        for origin in (
            f"http://127.0.0.1:{options.ui_port}",
            f"http://localhost:{options.ui_port}",
        ):
            argv += ["--cors-origin", origin]
        platform.append(("codec-server", _template(argv, base, root, f"{codec_endpoint}/healthz")))
        notes.append(
            f"codec server {codec_endpoint} (local-developer mode: the UI's requests "
            f"act as {access.principal}; decode permission still checked)"
        )

    proxy_config = None
    if options.use_proxy:
        proxy_config = proxy.ProxyConfig(
            listen=address,
            upstream=proxy.UpstreamConfig(address=f"127.0.0.1:{temporal_port}", connections=2),
            policy=str(access.policy_path),
            project=str(root),
            encryption=proxy.EncryptionConfig(enabled=True, keys_file=str(state / "keys.json")),
            metrics_port=metrics,
            policy_reload_seconds=2.0,
        )
        argv = paved_command("proxy", "--config", str(state / "dev-proxy.yaml"))
        platform.append(
            ("proxy", _template(argv, base, root, f"http://127.0.0.1:{metrics}/metrics"))
        )
        where = (
            f"`export PAVED_API_KEY=$(cat {access.key_file})`"
            if access.key_file
            else "your PAVED_API_KEY"
        )
        notes.append(f"proxy {address} -> Temporal; credentials of {access.principal}: {where}")
        logical = sorted({r.logical for r in routes_here(project, options.environment)})
        for name in logical[:3]:
            notes.append(f"  try: PAVED_ADDRESS={address} paved temporal workflow list -n {name}")

    # After the proxy: the detector connects through it (and retries until it listens).
    for proc in stack.processes():
        platform.append((proc.name, _template(proc.command, base, root, proc.health_url)))
    notes += [f"{name:<28} {url}" for name, url in stack.urls().items()]
    notes += stack.notes

    workers = []
    for w in loaded.workers.workers:
        t = worker_process(project, w, routes, env_name, base)
        if t is not None:  # None: the worker's namespace does not exist in this environment
            workers.append((w.name, t, w.replicas))

    services = []
    for name, svc in sorted(project.config.services.items()):
        subst = {"python": sys.executable, "port": str(svc.port or "")}
        health = (
            f"http://127.0.0.1:{svc.port}{svc.health_path}"
            if svc.port and svc.health_path
            else None
        )
        services.append(
            (name, _template([p.format(**subst) for p in svc.command], {**base, **svc.env}, root,
                             health, drain=10.0), svc.port)
        )  # fmt: skip

    settings = DevSettings(
        project=project,
        options=options,
        access=access,
        namespaces=tuple(r.physical for r in local),
        search_attributes=search_attributes(loaded),
        temporal_port=temporal_port,
        public_ports=(options.port,) if options.use_proxy else (),
        address=address,
        ui_codec_endpoint=codec_endpoint,
        proxy_config=proxy_config,
        platform=tuple(platform),
        workers=tuple(workers),
        services=tuple(services),
        notes=tuple(notes),
        child_env=dict(base),
        observe=stack,
        worker_files=dict(generated.worker_files),
    )
    return platform_mod.Platform(settings, echo=echo)


def _template(
    argv: list[str], env: Mapping[str, str], cwd: Path, health: str | None, drain: float = 5.0
) -> ProcessTemplate:
    # `paved ...` commands (proxy, codec server, observe processes) may start as forks of
    # the worker zygote too: temporalio, pydantic and Paved already imported.
    forkable = argv[:3] == paved_command()
    return ProcessTemplate(tuple(argv), dict(env), cwd, health, drain, forkable=forkable)
