"""``Operator``: inputs on disk, the targets, the lease, and the loop around the reconciler.

What ``paved operator run|plan|apply`` and ``paved dev`` call. Inputs are the
spec files ``paved gen`` writes, ``paved.yaml`` and the hand-written
``policy.yaml``; locally they are watched with ``watchfiles`` (inotify), so an
edit or a ``paved gen`` starts a pass at once; a periodic resync (level-based)
catches drift made behind the operator's back. A spec that fails to load keeps
the last good one and shows the error in the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client

from paved.operator._lease import FileLease, Lease, RedisLease
from paved.operator._metrics import Metrics
from paved.operator._reconcile import Backoff, PassResult, Reconciler
from paved.operator._status import status_path, write_status
from paved.operator._target import Inputs, Target
from paved.operator._temporal import TemporalNamespaces
from paved.specs import PROJECT_FILE, Project

log = logging.getLogger("paved.operator")


@dataclass(frozen=True)
class OperatorSettings:
    """How the operator reaches its targets and how it behaves (frozen).

    Attributes:
        temporal_address: the Temporal frontend (dev server or cluster); None: no Temporal target.
        temporal_api_key, temporal_tls: for a cluster behind TLS/API keys.
        policy_out: where the identity target writes the proxies' policy; None: off.
        grace_seconds: how long a deprecated namespace stays before deletion.
        force: delete namespaces even with open workflows (never on a failed read).
        lease_url: ``redis://...`` for a Redis lease; None: a file lock in ``.paved/operator/``.
        lease_ttl: seconds.
        resync_seconds: a pass at least this often, even without a change on disk.
        concurrency: writes in parallel per phase.
        metrics_port: serve Prometheus metrics there; None: off.
        backoff: per-object retry delays.
        clusters: reconcile the clusters ``paved.yaml`` declares (a Temporal target per
            cluster, a Kubernetes target per cluster with ``kubernetes:``) instead of
            the one Temporal at ``temporal_address``; no effect without ``clusters:``.
    """

    temporal_address: str | None = "127.0.0.1:7233"
    temporal_api_key: str | None = None
    temporal_tls: bool = False
    policy_out: Path | None = None
    grace_seconds: float = 7 * 86400.0
    force: bool = False
    lease_url: str | None = None
    lease_ttl: float = 15.0
    resync_seconds: float = 60.0
    concurrency: int = 16
    metrics_port: int | None = None
    backoff: Backoff = field(default_factory=Backoff)
    clusters: bool = False


def load_inputs(project: Project) -> Inputs:
    """The operator's inputs, loaded and validated (raises ``ProjectError`` naming the file)."""
    project = Project.load(project.root)  # paved.yaml may have changed too
    policy_file = project.root / "policy.yaml"
    policy: dict[str, Any] | None = None
    if policy_file.exists():
        from paved.auth import Policy

        Policy.load(policy_file)  # validates; errors name the file and line
        policy = yaml.safe_load(policy_file.read_text(encoding="utf-8"))
    return Inputs(
        project=project.config.project,
        root=project.root,
        config=project.config,
        specs=project.specs(),
        policy=policy,
    )


def temporal_connector(settings: OperatorSettings) -> Callable[[], Awaitable[Client]]:
    address = settings.temporal_address or "127.0.0.1:7233"

    async def connect() -> Client:
        return await Client.connect(
            address,
            namespace="default",
            api_key=settings.temporal_api_key,
            tls=settings.temporal_tls,
        )

    return connect


class Operator:
    """One project's operator.

    Args:
        project: the project (``paved.yaml`` and its specs).
        settings: see ``OperatorSettings``.
        targets: the targets; default: Temporal (and the policy file when
            ``policy_out`` is set). Others (workers, Kubernetes) are added by
            their owners with ``extra_targets``.
    """

    def __init__(
        self,
        project: Project,
        settings: OperatorSettings = OperatorSettings(),
        *,
        targets: Sequence[Target] | None = None,
        extra_targets: Sequence[Target] = (),
        lease: Lease | None = None,
    ) -> None:
        self.project = project
        self.settings = settings
        self.lease: Lease = lease or (
            RedisLease(settings.lease_url, project.config.project, ttl=settings.lease_ttl)
            if settings.lease_url
            else FileLease(project.state_dir / "operator" / "lease")
        )
        self.targets = list(targets) if targets is not None else self._default_targets()
        self.targets += list(extra_targets)
        self.metrics = Metrics()
        self.reconciler = Reconciler(
            self.targets,
            grace_seconds=settings.grace_seconds,
            force=settings.force,
            backoff=settings.backoff,
            concurrency=settings.concurrency,
            may_write=self.lease.held,
            metrics=self.metrics,
        )
        self.status_file = status_path(project.state_dir)
        self.last: PassResult | None = None
        self.passes = 0
        self.writes = 0  # over every pass of this operator
        self._inputs_cache: tuple[tuple[tuple[str, int, int], ...], Inputs] | None = None

    def _default_targets(self) -> list[Target]:
        s = self.settings
        out: list[Target] = []
        if s.clusters and self.project.config.clusters:
            from paved.operator._clusters import cluster_targets

            out += cluster_targets(
                self.project.config.project, self.project.config, fence=lambda: self.lease.token
            )
        elif s.temporal_address:
            out.append(
                TemporalNamespaces(
                    self.project.config.project,
                    temporal_connector(s),
                    fence=lambda: self.lease.token,
                )
            )
        if s.policy_out is not None:
            from paved.operator._identity import PolicyTarget

            out.append(PolicyTarget(s.policy_out))
        return out

    # ----- one-shot commands ------------------------------------------------------------

    async def plan(self) -> PassResult:
        """Read and diff every target; write nothing (no lease needed)."""
        return await self.reconciler.reconcile(load_inputs(self.project), dry_run=True)

    async def apply_once(
        self, *, timeout: float = 120.0, wait_lease: float | None = None
    ) -> PassResult:
        """Take the lease, then pass until converged, nothing left to retry, or ``timeout``."""
        wait = self.lease.ttl * 2 if wait_lease is None else wait_lease
        deadline = time.monotonic() + wait
        while not await self.lease.try_acquire():
            if time.monotonic() > deadline:
                from paved.operator._target import OperatorError

                raise OperatorError(
                    f"another operator holds the lease ({await self.lease.current_holder()})",
                    code="PAVED-OPERATOR-LEASE",
                    fix="let the running operator converge (see `paved status`), or stop it first",
                )
            await asyncio.sleep(min(1.0, self.lease.ttl / 5))
        try:
            end = time.monotonic() + timeout
            while True:
                result = await self._pass()
                if result.converged or time.monotonic() > end:
                    return result
                wait_s = self.reconciler.next_retry_in()
                if result.writes == 0 and wait_s is None:
                    return result  # no progress and nothing to retry: terminal errors, holds
                if wait_s:
                    await asyncio.sleep(min(wait_s, max(0.0, end - time.monotonic())))
        finally:
            await self.lease.release()

    def _inputs(self) -> Inputs:
        """The inputs, re-parsed only when one of their files changed (stat)."""
        root = self.project.root
        files = [
            root / PROJECT_FILE,
            root / "policy.yaml",
            *sorted(self.project.specs_dir.glob("*.yaml")),
        ]
        key = tuple((str(p), *_stat(p)) for p in files)
        if self._inputs_cache is None or self._inputs_cache[0] != key:
            self._inputs_cache = (key, load_inputs(self.project))
        return self._inputs_cache[1]

    async def _pass(self) -> PassResult:
        inputs = self._inputs()
        result = await self.reconciler.reconcile(inputs)
        self.last = result
        self.passes += 1
        self.writes += result.writes
        write_status(
            self.status_file,
            result,
            role="active",
            holder=self.lease.holder,
            fence=self.lease.token,
            passes=self.passes,
        )
        return result

    # ----- the loop ---------------------------------------------------------------------

    async def run(
        self, stop: asyncio.Event, *, on_pass: Callable[[PassResult], None] | None = None
    ) -> None:
        """Reconcile until ``stop`` is set: on every change on disk, retry time or resync.

        ``on_pass`` is called after every pass this operator makes (``paved operator run``
        prints a line; ``paved dev`` echoes what changed)."""
        if self.settings.metrics_port is not None:
            from prometheus_client import start_http_server

            start_http_server(self.settings.metrics_port, registry=self.metrics.registry)
        changed = asyncio.Event()
        tasks = [
            asyncio.create_task(self._watch(changed, stop)),
            asyncio.create_task(self._renew(stop)),
        ]
        try:
            while not stop.is_set():
                if not self.lease.held():
                    try:
                        got = await self.lease.try_acquire()
                    except Exception as e:  # the lease store is down: nobody writes
                        got = False
                        log.warning("lease store unreachable: %s", e)
                    self.metrics.lease_held.set(1 if got else 0)
                    if not got:  # standby: the holder owns the status file
                        await _wait(changed, stop, self.lease.ttl / 3)
                        continue
                    log.info("lease acquired (fence %d)", self.lease.token)
                try:
                    result = await self._pass()
                except Exception as e:  # bad specs: keep going, show it
                    log.error("pass failed: %s", e)
                    write_status(
                        self.status_file,
                        self.last,
                        role="active",
                        note=f"inputs: {e}",
                        holder=self.lease.holder,
                    )
                    await _wait(changed, stop, self.settings.resync_seconds)
                    continue
                if on_pass is not None:
                    on_pass(result)
                retry = self.reconciler.next_retry_in()
                timeout = (
                    self.settings.resync_seconds
                    if retry is None
                    else min(retry, self.settings.resync_seconds)
                )
                if result.drift and not result.errors:
                    timeout = 0.0  # deprecations etc. progress on the next pass
                await _wait(changed, stop, timeout)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.lease.release()
            self.metrics.lease_held.set(0)

    async def _renew(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.lease.ttl / 3)
            if self.lease.token and not await self.lease.renew():
                log.warning("lease lost; standing by")
                self.metrics.lease_held.set(0)

    async def _watch(self, changed: asyncio.Event, stop: asyncio.Event) -> None:
        from watchfiles import awatch

        root = self.project.root
        paths = [
            p
            for p in (root / PROJECT_FILE, root / "policy.yaml", self.project.specs_dir)
            if p.exists()
        ]
        if not paths:
            return
        with contextlib.suppress(Exception):
            async for _ in awatch(*paths, stop_event=stop, debounce=200, step=50):
                changed.set()


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


async def _wait(changed: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:
    """Sleep until a change on disk, ``stop``, or ``timeout``; then clear ``changed``."""
    if timeout > 0 and not changed.is_set():
        waiters = [asyncio.create_task(changed.wait()), asyncio.create_task(stop.wait())]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
    changed.clear()
