"""The peer, side by side: the image workflow on DBOS Transact, in the same run as Paved.

    python bench/bench_dbos.py --requests 200                 # proxy, dbos-sqlite, dbos-pg
    python bench/bench_dbos.py --sides proxy,dbos-pg --rounds 3 --min-delay-ms 400 --max-delay-ms 800

This is ``bench/bench_burst.py`` with DBOS sides by default: the same GPU service
(one process for every side), the same burst, the same report (wall against the
physical minimum, GPU busy fraction from the service's timeline, 202 and
completion latencies, CPU per request of every process), rounds alternating
sides. A DBOS side runs ``bench/dbos_app.py`` (front end and workflows in one
process, as a DBOS application is deployed) on SQLite, or on PostgreSQL: a
throwaway cluster (``initdb`` + ``pg_ctl`` from ``/usr/local/bin`` or PATH) in
the run's temporary directory, whose CPU (all backends) is counted with the app's.
Needs ``pip install -e '.[bench]'`` (dbos).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from paved.dev import free_port, wait_for_port

HERE = Path(__file__).resolve().parent


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or f"/usr/local/bin/{name}"
    if not Path(found).exists():
        raise RuntimeError(f"{name} not found: PostgreSQL is needed for the dbos-pg side")
    return found


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temporary directory (run as ``postgres`` when root)."""

    def __init__(self) -> None:
        # its own directory: the postgres user must reach it (the run's is root-only)
        import tempfile

        self.d = Path(tempfile.mkdtemp(prefix="paved-bench-pg-"))
        self.port = free_port()
        self.pid = 0

    def _as_owner(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        import pwd

        user = "postgres" if _has_user("postgres") else "nobody"
        pw = pwd.getpwnam(user)
        shutil.chown(self.d, pw.pw_uid, pw.pw_gid)
        return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"]

    def __enter__(self) -> PostgresCluster:
        who = self._as_owner()
        data = self.d / "data"
        subprocess.run(
            [*who, _pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
        )
        opts = f"-p {self.port} -k {self.d} -c listen_addresses=127.0.0.1 -c max_connections=300"
        subprocess.run(
            [
                *who,
                _pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(self.d / "pg.log"),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        self.pid = int((data / "postmaster.pid").read_text().split()[0])
        return self

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/imagegen_dbos"

    def __exit__(self, *exc: object) -> None:
        subprocess.run(
            [
                *self._as_owner(),
                _pg_bin("pg_ctl"),
                "-D",
                str(self.d / "data"),
                "-m",
                "fast",
                "stop",
            ],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.d, ignore_errors=True)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


class DbosApp:
    """``bench/dbos_app.py`` on ``backend`` ("sqlite" or "pg"), for one side of one round."""

    def __init__(self, backend: str, d: Path, gpu_url: str, capacity: int) -> None:
        self.backend, self.d, self.gpu_url, self.capacity = backend, d, gpu_url, capacity
        self.port = free_port()
        self.stack = contextlib.ExitStack()
        self.proc: subprocess.Popen[bytes] | None = None
        self.pg: PostgresCluster | None = None

    def __enter__(self) -> DbosApp:
        self.d.mkdir(parents=True, exist_ok=True)
        if self.backend == "pg":
            self.pg = self.stack.enter_context(PostgresCluster())
            db = self.pg.url
        elif self.backend == "sqlite":
            db = f"sqlite:///{self.d / 'dbos.sqlite'}"
        else:
            raise ValueError(f"unknown DBOS backend {self.backend!r}")
        log = open(self.d / "dbos-app.log", "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "dbos_app.py"),
                "--port",
                str(self.port),
                "--db",
                db,
                "--gpu-url",
                self.gpu_url,
                "--capacity",
                str(self.capacity),
                "--blob-dir",
                str(self.d / "images"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.stack.callback(self._stop)
        try:
            wait_for_port(self.port, timeout=120, proc=self.proc)
        except BaseException:
            self.stack.close()
            raise
        return self

    def _stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stack.close()

    def pids(self) -> dict[str, int]:
        assert self.proc is not None
        out = {"dbos app": self.proc.pid}
        if self.pg is not None:
            out["postgres (all backends)"] = self.pg.pid
        return out

    async def burst(self, http: aiohttp.ClientSession, n: int, timeout: float) -> dict[str, Any]:
        """The same burst as bench_burst.paved_burst, against the DBOS app."""
        from bench_burst import pct, submit

        base = f"http://127.0.0.1:{self.port}"
        sent = await submit(http, f"{base}/images", n)
        deadline = time.monotonic() + timeout
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            async with http.get(f"{base}/results", params={"prefix": f"img-{sent.run}"}) as r:
                rows = await r.json()
            if len(rows) >= len(sent.submitted) and all(
                w["status"] in ("SUCCESS", "ERROR", "CANCELLED") for w in rows
            ):
                break
            await asyncio.sleep(1.0)
        done = [
            w["updated"] / 1000 - sent.submitted[w["id"]] for w in rows if w["status"] == "SUCCESS"
        ]
        last = max((w["updated"] / 1000 for w in rows), default=sent.t_first)
        wall = last - sent.t_first
        return {
            "requests": n,
            "completed": len(done),
            "refused": sent.refused,
            "failed_or_unfinished": len(sent.submitted) - len(done),
            "wall_s": wall,
            "images_per_s": len(done) / wall if wall else None,
            "accept_p50_s": pct(sent.accept_s, 50),
            "accept_p99_s": pct(sent.accept_s, 99),
            "completion_p50_s": pct(done, 50),
            "completion_p99_s": pct(done, 99),
        }


def main() -> None:
    sys.path.insert(0, str(HERE))
    if not any(a == "--sides" or a.startswith("--sides=") for a in sys.argv[1:]):
        sys.argv[1:1] = ["--sides", "proxy,dbos-sqlite,dbos-pg"]
    import bench_burst

    bench_burst.main()


if __name__ == "__main__":
    main()
