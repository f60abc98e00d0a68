"""Benchmarks: every timing next to a baseline measured in the same run."""
