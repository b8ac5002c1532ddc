"""``paved proxy``, ``paved policy ...`` and ``paved temporal ...``.

Thin commands over ``paved.proxy`` and ``paved.auth``: run the proxy from its
config file, create and check API keys and policy files, and run the real
``temporal`` CLI through the proxy with the user's credentials (so humans pass
the same authentication, RBAC and residency checks as services).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import click

from paved import auth
from paved._errors import AuthError
from paved._paths import find_project_root
from paved._proc import stop_on_signals


@click.command("proxy")
@click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False), help="proxy.yaml"
)
@click.option("--listen", default=None, help="host:port to listen on (overrides the config file)")
def proxy_cmd(config_path: str, listen: str | None) -> None:
    """Run the Paved proxy in front of Temporal (SIGHUP reloads the policy)."""
    import asyncio

    from paved.proxy import build_proxy

    server = build_proxy(config_path, listen=listen)

    async def run() -> None:
        await server.start()
        click.echo(
            f"paved proxy listening on {server.address} -> {server.upstream.address}", err=True
        )
        stop = stop_on_signals()
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, server.reload_policy)
        await stop.wait()
        await server.stop(grace=2.0)

    asyncio.run(run())


@click.group("policy")
def policy_group() -> None:
    """Create API keys and check policy files for the proxy and codec server."""


@policy_group.command("new-key")
@click.argument("key_id")
def new_key(key_id: str) -> None:
    """Print a new API key (once) and the entry to add under a principal's api_keys."""
    key, entry = auth.new_api_key(key_id)
    click.echo(f"api key (give it to the caller; it is not stored anywhere): {key}", err=True)
    click.echo(f'- {{id: {entry["id"]}, hash: "{entry["hash"]}"}}')


@policy_group.command("hash-key")
def hash_key() -> None:
    """Read an API key on stdin and print its policy-file hash."""
    key = sys.stdin.readline().strip()
    if not key:
        raise AuthError(
            "no key on stdin", code="PAVED-AUTH-MISSING", fix='echo "$KEY" | paved policy hash-key'
        )
    click.echo(auth.hash_api_key(key))


@policy_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def check(path: str) -> None:
    """Validate a policy file (errors name the line)."""
    policy = auth.Policy.load(path)
    n_keys = sum(len(p.api_keys) for p in policy.config.principals)
    click.echo(
        f"{path}: ok ({len(policy.config.teams)} teams, {len(policy.config.principals)} principals, {n_keys} API keys"
        f"{', JWT' if policy.config.jwt else ''})"
    )


@click.command(
    "temporal",
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "allow_interspersed_args": False,
    },
)
@click.option(
    "--proxy",
    "proxy_address",
    envvar="PAVED_ADDRESS",
    default="127.0.0.1:7233",
    show_default=True,
    help="the Paved proxy (env PAVED_ADDRESS)",
)
@click.option(
    "--api-key-env",
    default="PAVED_API_KEY",
    show_default=True,
    help="environment variable holding your API key or JWT",
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def temporal_cmd(proxy_address: str, api_key_env: str, args: tuple[str, ...]) -> None:
    """Run the real `temporal` CLI through the proxy with your credentials.

    \b
    Namespaces are logical names: `paved temporal workflow list -n imagegen`.
    The credential is passed in the environment, never on the command line.
    """
    from paved.dev import temporal_binary
    from paved.sdk import RuntimeEnv

    key = os.environ.get(api_key_env)
    if not key:
        # Inside a project whose `paved dev` runs: its proxy and dev key, said aloud.
        local = None if os.environ.get("PAVED_ADDRESS") else RuntimeEnv.local_dev()
        if local is not None:
            key, proxy_address = local[0].api_key, local[0].address
            click.echo(
                f"paved: through the running `paved dev` at {proxy_address} as {local[1]} "
                f"({api_key_env} overrides)",
                err=True,
            )
        elif find_project_root() is not None:
            raise AuthError(
                f"{api_key_env} is not set and no `paved dev` runs for this project",
                code="PAVED-AUTH-MISSING",
                fix="start `paved dev` in the project (its dev key is then used), "
                f"or export {api_key_env}=<your key>",
            )
        else:
            raise AuthError(
                f"{api_key_env} is not set: the proxy needs your API key or JWT",
                code="PAVED-AUTH-MISSING",
                fix=f"export {api_key_env}=<your key> (ask your platform team, or `paved policy new-key`)",
            )
    assert key is not None
    env = dict(os.environ)
    env.update(
        {
            "TEMPORAL_ADDRESS": proxy_address,
            "TEMPORAL_API_KEY": key,
            # the proxy listens in plaintext on loopback; the CLI would turn TLS on for an API key
            "TEMPORAL_TLS": os.environ.get("PAVED_PROXY_TLS", "false"),
        }
    )
    proc = subprocess.Popen([str(temporal_binary()), *args], env=env)
    with contextlib.suppress(KeyboardInterrupt):
        proc.wait()
    sys.exit(proc.returncode if proc.returncode is not None else 1)


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(proxy_cmd)
    group.add_command(policy_group)
    group.add_command(temporal_cmd)
