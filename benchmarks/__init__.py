"""Benchmarks: `make bench` (python -m benchmarks) prints every table; each module also runs alone."""
