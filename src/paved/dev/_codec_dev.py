"""The codec server process ``paved dev`` supervises, in local-developer mode.

``python -m paved.dev._codec_dev --project DIR --port N --policy FILE --principal NAME
--origin URL...`` -- started only by ``paved dev`` (see :mod:`paved.dev._access`).
The dev server's UI sends no bearer token, so token-less requests from the UI's
origin act as the local developer principal, whose ``decode`` role is still
checked against the policy (:class:`paved.dashboard.CodecServerConfig`). Loopback
only: the server refuses any other address. ``paved codec-server`` is the
bearer-token-only server for everything else.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from paved import dashboard, specs
from paved._errors import PavedError
from paved.auth import Policy


async def serve(args: argparse.Namespace) -> None:
    project = specs.Project.load(Path(args.project))
    policy = Policy.load(args.policy)
    config = dashboard.config_from_project(
        project,
        policy=policy,
        state_dir=project.state_dir,
        cors_origins=args.origin,
        local_principal=dashboard.local_principal(policy, args.principal),
    )
    server = await dashboard.CodecServer(config, host=args.host, port=args.port).start()
    print(f"codec server (local-developer mode, as {args.principal}) on {server.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="paved-dev-codec-server")
    parser.add_argument("--project", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--policy", required=True)
    parser.add_argument("--principal", required=True)
    parser.add_argument("--origin", action="append", default=[])
    try:
        asyncio.run(serve(parser.parse_args(argv)))
    except PavedError as e:  # a clean line in the log, as the CLI prints it
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
