"""Simulated devices on virtual serial lines, for tests, the demo and benchmarks."""
