"""paved.observe: metrics, alerts, dashboards and the stuck-workflow detector, from the specs.

A service-layer package (beside the proxy, worker and dashboard): it reads the
specs and talks to Temporal and Prometheus, and never imports the other services.
"""

from paved.observe._generate import (
    ALERTMANAGER_FILE,
    OUT_DIR,
    RULES_FILE,
    generate,
    panel_queries,
    stale,
    write,
)
from paved.observe._queries import Panel, Scope
from paved.observe._stuck import REASONS, Detector, Finding, QueueState, Scan
from paved.observe._stuck_serve import detector_for, metrics_text
from paved.observe._stuck_serve import lines as stuck_lines
from paved.observe._stuck_serve import serve as stuck_serve

__all__ = [
    "ALERTMANAGER_FILE",
    "OUT_DIR",
    "REASONS",
    "RULES_FILE",
    "Detector",
    "Finding",
    "Panel",
    "QueueState",
    "Scan",
    "Scope",
    "detector_for",
    "generate",
    "metrics_text",
    "panel_queries",
    "stale",
    "stuck_lines",
    "stuck_serve",
    "write",
]
