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

__all__ = [
    "ALERTMANAGER_FILE",
    "OUT_DIR",
    "RULES_FILE",
    "Panel",
    "Scope",
    "generate",
    "panel_queries",
    "stale",
    "write",
]
