"""PostgreSQL URLs: psycopg 3 as the default driver, malformed URLs translated, the password never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from cio_retl.project import PostgresWarehouse
from cio_retl.errors import WarehouseError
from cio_retl.warehouse import open_warehouse
from cio_retl.warehouse.postgres import _passwords, engine_url

SECRET = "hunter2-s3cret"


def test_urls_without_a_driver_use_psycopg_3() -> None:
    assert engine_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert engine_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert engine_url("postgresql+psycopg://u:p@h/db") == "postgresql+psycopg://u:p@h/db"


def test_the_password_is_known_as_written_and_decoded() -> None:
    assert _passwords("postgresql://me:p%40ss@h:5432/db") == ["p%40ss", "p@ss"]
    assert _passwords("postgresql://me:p@ss@h/db") == ["p@ss"]
    assert _passwords("postgresql://me@h/db") == []


@pytest.mark.parametrize("url", [f"not a url {SECRET}", f"postgresql://u:{SECRET}@127.0.0.1:notaport/db",
                                 f"mysql://u:{SECRET}@h/db", f"postgres://u:{SECRET}@127.0.0.1:1/db",
                                 f"postgresql://u:{SECRET}%40x@127.0.0.1:1/db"])
def test_bad_urls_are_warehouse_errors_without_the_password(url: str) -> None:
    warehouse = open_warehouse("pg", PostgresWarehouse(type="postgres", url=url), Path("."))
    with pytest.raises(WarehouseError) as caught:
        warehouse.check()
    message = str(caught.value)
    assert "warehouse 'pg': cannot connect" in message and SECRET not in message
