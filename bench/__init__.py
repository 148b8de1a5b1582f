"""Benchmarks: run them from the repository root (see each module)."""
