"""Benchmarks and evaluation harnesses (run as scripts: `python bench/<name>.py`)."""
