"""The plain side of bench/bench_worker.py: pure temporalio, no Paved import.

Kept outside the ``wfbench`` package so `paved gen` never sees it.
"""
