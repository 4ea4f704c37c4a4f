"""Dagster code location of cio-retl: one asset per sync of the project file (see docs/dagster.md)."""
