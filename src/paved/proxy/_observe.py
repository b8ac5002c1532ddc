"""Proxy observability: Prometheus metrics and structured access logs.

Metrics live in a registry per proxy instance (several proxies can run in one
process, as the replica tests do) and can be served on ``metrics_port``:

    paved_proxy_requests_total{method, namespace, code}
    paved_proxy_request_duration_seconds{method}      histogram
    paved_proxy_payloads_total{direction}             encrypted / decrypted / undecryptable
    paved_proxy_rate_limited_total{namespace, bucket}
    paved_proxy_policy_reloads_total{result}          ok / error
    paved_proxy_routes_reloads_total{result}          ok / error
    paved_proxy_long_polls_in_flight{method}          worker polls waiting upstream now
    paved_proxy_undelivered_tasks_total{method, outcome}  a task came as its poll's caller left:
                                                      returned / failed (to give it back) / left

Access logs go to the ``paved.proxy.access`` logger, one JSON object per call:
principal, team, kind, credential id (never the key), method, logical and
physical namespace, gRPC code, milliseconds, the authorization decision's
reason (``decision``) and, for a call the proxy refused, why (``reason``). Payloads, keys and tokens are
never logged; error details from Temporal are not logged either (they can
quote workflow data).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

access_log = logging.getLogger("paved.proxy.access")

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 70)


class Metrics:
    """The proxy's metrics, with label children cached (labels() is not free)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "paved_proxy_requests", "RPCs served", ["method", "namespace", "code"], registry=r
        )
        self.latency = Histogram(
            "paved_proxy_request_duration_seconds",
            "RPC latency",
            ["method"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.payloads = Counter(
            "paved_proxy_payloads", "Payloads processed", ["direction"], registry=r
        )
        self.rate_limited = Counter(
            "paved_proxy_rate_limited",
            "Calls refused by rate limits",
            ["namespace", "bucket"],
            registry=r,
        )
        self.routes_reloads = Counter(
            "paved_proxy_routes_reloads", "Routes reloads", ["result"], registry=r
        )
        self.policy_reloads = Counter(
            "paved_proxy_policy_reloads", "Policy reloads", ["result"], registry=r
        )
        self.long_polls = Gauge(
            "paved_proxy_long_polls_in_flight",
            "Long polls (worker polls, update and result polls) waiting on Temporal",
            ["method"],
            registry=r,
        )
        self.undelivered = Counter(
            "paved_proxy_undelivered_tasks",
            "Tasks that arrived for a poll whose caller had left (see proxy/_polls.py)",
            ["method", "outcome"],
            registry=r,
        )
        self._req_children: dict[tuple[str, str, str], Any] = {}
        self._lat_children: dict[str, Any] = {}
        self._poll_children: dict[str, Any] = {}
        self.encrypted = self.payloads.labels("encrypted")
        self.decrypted = self.payloads.labels("decrypted")
        self.undecryptable = self.payloads.labels("undecryptable")

    def observe(self, method: str, namespace: str, code: str, seconds: float) -> None:
        key = (method, namespace, code)
        c = self._req_children.get(key)
        if c is None:
            c = self._req_children[key] = self.requests.labels(method, namespace, code)
        c.inc()
        h = self._lat_children.get(method)
        if h is None:
            h = self._lat_children[method] = self.latency.labels(method)
        h.observe(seconds)

    def long_poll(self, method: str) -> Any:
        """The in-flight gauge of one long-poll method."""
        g = self._poll_children.get(method)
        if g is None:
            g = self._poll_children[method] = self.long_polls.labels(method)
        return g

    def text(self) -> str:
        return generate_latest(self.registry).decode()


def log_access(
    *,
    method: str,
    code: str,
    seconds: float,
    principal: Any | None,
    namespace: str,
    physical: str,
    peer: str,
    reason: str = "",
    decision: str = "",
) -> None:
    """One structured access-log line (only built when INFO is enabled)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    entry = {
        "ts": round(time.time(), 3),
        "method": method,
        "code": code,
        "ms": round(seconds * 1000, 2),
        "principal": getattr(principal, "name", None),
        "team": getattr(principal, "team", None),
        "kind": getattr(principal, "kind", None),
        "credential": getattr(principal, "credential_id", None),
        "namespace": namespace,
        "physical": physical,
        "peer": peer,
    }
    if reason:
        entry["reason"] = reason
    if decision:
        entry["decision"] = decision
    access_log.info(json.dumps(entry, separators=(",", ":")))
