"""Stage 1, extract: open a configured warehouse by its type."""

from __future__ import annotations

from pathlib import Path

from cio_retl.project import (BigQueryWarehouse, DuckDBWarehouse, PostgresWarehouse, SnowflakeWarehouse,
                             Warehouse as WarehouseConfig)
from cio_retl.errors import ConfigError
from cio_retl.warehouse.base import Warehouse


def open_warehouse(name: str, config: WarehouseConfig, root: Path) -> Warehouse:
    """A Warehouse for a configured connection; drivers are imported only when used."""
    if isinstance(config, DuckDBWarehouse):
        from cio_retl.warehouse.duckdb import DuckDBReader

        return DuckDBReader(name, config, root)
    if isinstance(config, PostgresWarehouse):
        from cio_retl.warehouse.postgres import PostgresReader

        return PostgresReader(name, config, root)
    if isinstance(config, SnowflakeWarehouse):
        from cio_retl.warehouse.snowflake import SnowflakeReader

        return SnowflakeReader(name, config, root)
    if isinstance(config, BigQueryWarehouse):
        from cio_retl.warehouse.bigquery import BigQueryReader

        return BigQueryReader(name, config, root)
    raise ConfigError(f"warehouses.{name}: unknown warehouse type '{config.type}'")


__all__ = ["Warehouse", "open_warehouse"]
