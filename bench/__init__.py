"""Benchmarks (``make bench``): every number printed beside a baseline measured in the same run."""
