"""Runnable benchmarks; each prints ours beside a baseline measured in the same run."""
