"""Benchmark commands: they print ratios measured in one run, never assert timings in tests."""
