"""paved.observe: metrics, alerts, dashboards and the stuck-workflow detector, from the specs.

A service-layer package (beside the proxy, worker and dashboard): it reads the
specs and talks to Temporal and Prometheus, and never imports the other services.
"""

from paved.observe._cloud import CloudScraper, Owners, relabel
from paved.observe._generate import (
    ALERTMANAGER_FILE,
    OUT_DIR,
    RULES_FILE,
    generate,
    panel_queries,
    stale,
    write,
)
from paved.observe._local import LocalStack, Process, local_stack
from paved.observe._prometheus import (
    INSTALL_HINT,
    PromQLError,
    QueryCheck,
    Target,
    alertmanager_binary,
    alertmanager_command,
    check_queries,
    file_sd,
    local_alertmanager_config,
    missing_hint,
    prometheus_binary,
    prometheus_command,
    prometheus_config,
    query,
    target_from_url,
    wait_ready,
)
from paved.observe._queries import Panel, Scope
from paved.observe._stuck import REASONS, Detector, Finding, QueueState, Scan
from paved.observe._stuck_serve import detector_for, metrics_text
from paved.observe._stuck_serve import lines as stuck_lines
from paved.observe._stuck_serve import serve as stuck_serve

__all__ = [
    "ALERTMANAGER_FILE",
    "INSTALL_HINT",
    "OUT_DIR",
    "REASONS",
    "RULES_FILE",
    "CloudScraper",
    "Detector",
    "Finding",
    "LocalStack",
    "Owners",
    "Panel",
    "Process",
    "PromQLError",
    "QueryCheck",
    "QueueState",
    "Scan",
    "Scope",
    "Target",
    "alertmanager_binary",
    "alertmanager_command",
    "check_queries",
    "detector_for",
    "file_sd",
    "generate",
    "local_alertmanager_config",
    "local_stack",
    "metrics_text",
    "missing_hint",
    "panel_queries",
    "prometheus_binary",
    "prometheus_command",
    "prometheus_config",
    "query",
    "relabel",
    "stale",
    "stuck_lines",
    "stuck_serve",
    "target_from_url",
    "wait_ready",
    "write",
]
