"""``python -m paved.worker run NAME``: ``paved worker run`` without loading the whole CLI.

What the local replicas (``paved dev``, the operator's ``ReplicaSet``) start:
``python -m paved.cli`` imports every subcommand (the operator, the proxy, the
scaffolder...), 1-2.5 s on a loaded 2-core machine, on every worker start and
every reload. This entry imports the worker alone; the behaviour, the options
and the error output (``error: [PAVED-...]``, exit 2) are ``paved worker run``'s.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from paved import specs
from paved._errors import PavedError
from paved.worker._runtime import serve_forever


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m paved.worker")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run managed worker NAME (as `paved worker run`)")
    run.add_argument("name")
    run.add_argument("--project", default=None)
    run.add_argument("--http-port", type=int, default=0)
    run.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    # Traces and JSON logs name the process as `paved worker run NAME` does (their
    # service name is read from the command line otherwise).
    os.environ.setdefault("PAVED_SERVICE_NAME", f"worker {args.name}")
    try:
        project = specs.Project.load(Path(args.project)) if args.project else specs.Project.find()
        serve_forever(project, args.name, http_port=args.http_port, log_level=args.log_level)
    except PavedError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
