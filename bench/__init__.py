"""Benchmarks: `make bench` runs them all; each compares against a baseline measured in the same run."""
