"""Loaders: copy the raw schema of a generated DuckDB file into another engine."""
