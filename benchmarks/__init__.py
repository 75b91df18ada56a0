"""Benchmarks: each compares against a baseline in the same run; figures go to BENCHMARKS.md.

Run them as modules from the repository root, e.g. `python -m benchmarks.bench_votes`.
"""
