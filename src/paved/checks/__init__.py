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
from paved.checks._schema import DEFAULT_DIR as SCHEMA_DIR
from paved.checks._schema import EXCEPTIONS_FILE as SCHEMA_EXCEPTIONS_FILE
from paved.checks._schema import generate as generate_schemas
from paved.checks._schema import write as write_schemas
from paved.checks._schema_check import check as check_schemas
from paved.checks._schema_check import stale as stale_schemas
from paved.checks._steps import Step, history_steps, shape_of

__all__ = [
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
    "Outcome",
    "PullStats",
    "RecordingRunner",
    "ReplayRun",
    "Step",
    "check_schemas",
    "corpus_keyring",
    "describe",
    "format_finding",
    "generate_schemas",
    "history_steps",
    "iter_corpus",
    "junit_xml",
    "lint_files",
    "lint_project",
    "load_entry",
    "plaintext_payloads",
    "project_files",
    "project_workflows",
    "pull",
    "pull_project",
    "replay_entries",
    "replay_project",
    "run_checks",
    "sandboxed_runner",
    "seal_history",
    "shape_of",
    "stale_schemas",
    "summary",
    "write_entry",
    "write_schemas",
]
