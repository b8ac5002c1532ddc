"""CI guardrails: replay tests from real histories, golden schemas, ``paved lint``, ``paved check``.

``paved.checks`` sits beside the services (it imports auth, specs, sdk and
codec only). See docs/checks.md.
"""

from paved.checks._check import CheckRun
from paved.checks._check import run_all as run_checks
from paved.checks._corpus import (
    DEMO_KEYS,
    Entry,
    PullStats,
    corpus_keyring,
    iter_corpus,
    load_entry,
    plaintext_payloads,
    pull,
    pull_project,
    seal_history,
    write_entry,
)
from paved.checks._divergence import Divergence
from paved.checks._lint import format_finding, lint_files, lint_project, project_files
from paved.checks._lint_rules import RULES as LINT_RULES
from paved.checks._lint_rules import Finding
from paved.checks._loadtest import LoadReport, StepResult, TypeStats, read_history
from paved.checks._readiness import (
    CLOUD_DEFAULT_APS,
    CLOUD_DEFAULT_RPS,
    Item,
    Readiness,
    judge_capacity,
    judge_code,
    judge_headroom,
    judge_load,
    judge_spread,
    run_readiness,
)
from paved.checks._recorder import RECORDER, RecordingRunner, sandboxed_runner
from paved.checks._replay import (
    DEFAULT_CORPUS,
    Outcome,
    ReplayRun,
    project_workflows,
    replay_entries,
    replay_project,
)
from paved.checks._report import describe, junit_xml, summary
from paved.checks._safety import Safety
from paved.checks._safety import analyse as analyse_safety
from paved.checks._schema import DEFAULT_DIR as SCHEMA_DIR
from paved.checks._schema import EXCEPTIONS_FILE as SCHEMA_EXCEPTIONS_FILE
from paved.checks._schema import generate as generate_schemas
from paved.checks._schema import write as write_schemas
from paved.checks._schema_check import check as check_schemas
from paved.checks._schema_check import stale as stale_schemas
from paved.checks._steps import Step, history_steps, shape_of

__all__ = [
    "CLOUD_DEFAULT_APS",
    "CLOUD_DEFAULT_RPS",
    "DEFAULT_CORPUS",
    "DEMO_KEYS",
    "LINT_RULES",
    "RECORDER",
    "SCHEMA_DIR",
    "SCHEMA_EXCEPTIONS_FILE",
    "CheckRun",
    "Divergence",
    "Entry",
    "Finding",
    "Item",
    "LoadReport",
    "Outcome",
    "PullStats",
    "Readiness",
    "RecordingRunner",
    "ReplayRun",
    "Safety",
    "Step",
    "StepResult",
    "TypeStats",
    "analyse_safety",
    "check_schemas",
    "corpus_keyring",
    "describe",
    "format_finding",
    "generate_schemas",
    "history_steps",
    "iter_corpus",
    "judge_capacity",
    "judge_code",
    "judge_headroom",
    "judge_load",
    "judge_spread",
    "junit_xml",
    "lint_files",
    "lint_project",
    "load_entry",
    "plaintext_payloads",
    "project_files",
    "project_workflows",
    "pull",
    "pull_project",
    "read_history",
    "replay_entries",
    "replay_project",
    "run_checks",
    "run_readiness",
    "sandboxed_runner",
    "seal_history",
    "shape_of",
    "stale_schemas",
    "summary",
    "write_entry",
    "write_schemas",
]
