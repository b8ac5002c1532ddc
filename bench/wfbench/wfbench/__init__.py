"""One-activity workflows for bench/bench_worker.py (importable: the sandbox re-imports them)."""
