"""``paved keys rotate|list`` and ``paved codec-server`` (``paved dev`` runs the latter
with the hidden ``--local-developer`` option)."""

from __future__ import annotations

from pathlib import Path

import click

from paved import codec, specs
from paved._errors import ProjectError
from paved._proc import stop_on_signals
from paved.cli._options import load_project as _project
from paved.cli._options import project_option


def _policy_path(project: specs.Project, given: str | None) -> Path:
    if given:
        return Path(given)
    for candidate in (project.root / "policy.yaml", project.state_dir / "policy.yaml"):
        if candidate.exists():
            return candidate
    raise ProjectError(
        "the codec server needs a policy (who may decode which namespace)",
        code="PAVED-PROJECT-NO-POLICY",
        fix="write policy.yaml in the project root (see docs) or pass --policy FILE",
    )


@click.group()
def keys() -> None:
    """Encryption keys of the logical namespaces (in .paved/keys.json or PAVED_KEYS_*)."""


@keys.command("rotate")
@project_option
@click.argument("namespace")
def keys_rotate(project_dir: str | None, namespace: str) -> None:
    """Make a new active key for NAMESPACE; older keys stay to decode old payloads.

    Running workers and clients pick the new key up within a second, without a
    restart: no downtime.
    """
    project = _project(project_dir)
    ring = codec.KeyRing(codec.default_key_provider(project.state_dir))
    before = ring.provider.load(namespace)
    result = ring.rotate(namespace)
    if before is not None:
        click.echo(f"{namespace}: retired {before.active_id}")
    click.echo(f"{namespace}: active key is now {result.active_id} ({len(result.keys)} keys)")


@keys.command("list")
@project_option
def keys_list(project_dir: str | None) -> None:
    """List namespaces with their active and retired key ids (never the keys)."""
    project = _project(project_dir)
    provider = codec.default_key_provider(project.state_dir)
    names = provider.namespaces()
    if not names:
        click.echo("no keys yet (they are created on first use)")
    for ns in names:
        found = provider.load(ns)
        if found is None:
            continue
        click.echo(f"{ns}: active {found.active_id}")
        for kid in found.retired_ids:
            click.echo(f"{ns}: retired {kid}")


@click.command("codec-server")
@project_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8234, show_default=True, type=int)
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), default=None,
              help="Policy file (default: policy.yaml in the project root or .paved/).")  # fmt: skip
@click.option("--namespace-map", multiple=True, metavar="PHYSICAL=LOGICAL",
              help="Extra physical -> logical namespace mappings (besides the specs).")  # fmt: skip
@click.option("--cors-origin", multiple=True, default=("http://127.0.0.1:8233", "http://localhost:8233"),
              show_default=True, help="Browser origin of the Temporal UI (repeatable).")  # fmt: skip
@click.option("--local-developer", metavar="PRINCIPAL", default=None, hidden=True,
              help="(paved dev) requests without a token from a --cors-origin act as PRINCIPAL; "
              "loopback only, decode permission still checked.")  # fmt: skip
def codec_server(
    project_dir: str | None,
    host: str,
    port: int,
    policy_file: str | None,
    namespace_map: tuple[str, ...],
    cors_origin: tuple[str, ...],
    local_developer: str | None,
) -> None:
    """Serve /encode and /decode for the Temporal UI and CLI, enforcing decode permission.

    \b
    UI:  temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8234
    CLI: temporal workflow show -w ID --codec-endpoint http://127.0.0.1:8234 \\
             --codec-auth "Bearer $PAVED_API_KEY"
    """
    import asyncio

    from paved import dashboard
    from paved.auth import Policy

    project = _project(project_dir)
    policy = Policy.load(_policy_path(project, policy_file))
    config = dashboard.config_from_project(
        project,
        policy=policy,
        state_dir=project.state_dir,
        namespace_map=dashboard.parse_namespace_map(namespace_map),
        cors_origins=cors_origin,
        local_principal=(
            dashboard.local_principal(policy, local_developer) if local_developer else None
        ),
    )

    async def serve() -> None:
        server = await dashboard.CodecServer(config, host=host, port=port).start()
        mode = f", local-developer mode as {local_developer}" if local_developer else ""
        click.echo(f"codec server on {server.url} (policy {policy.source}{mode})")
        stop = stop_on_signals()
        await stop.wait()
        await server.stop()

    asyncio.run(serve())


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(keys)
    group.add_command(codec_server)
