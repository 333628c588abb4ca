"""Benchmarks: each prints a table and writes a JSON result under bench/results/."""
