"""Benchmarks that print numbers (`make bench`); targets are judged by ratios in one run."""
