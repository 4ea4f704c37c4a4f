"""A password the server rejects: one WarehouseError naming the sync, the warehouse and what to check, never the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from cio_retl.project import PostgresWarehouse
from cio_retl.errors import WarehouseError
from cio_retl.warehouse import open_warehouse
from tests.conftest import run_pg
from tests.pg_server import PASSWORD_ROLE

WRONG = "hunter2-wr0ng:p@ss"


def test_a_rejected_password_is_named_without_the_password(pg_database: str) -> None:
    run_pg(pg_database, f"DROP ROLE IF EXISTS {PASSWORD_ROLE}; CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD 'right-one'")
    host = pg_database.split("@", 1)[1]
    for written in (WRONG.replace(":", "%3A").replace("@", "%40"), "right-one"):
        url = f"postgresql://{PASSWORD_ROLE}:{written}@{host}"
        warehouse = open_warehouse("pg", PostgresWarehouse(type="postgres", url=url), Path("."))
        if written == "right-one":
            warehouse.check()  # the rule really is a password check, not a refusal
            continue
        with pytest.raises(WarehouseError) as caught:
            list(warehouse.stream("SELECT 1", sync="people"))
        message = str(caught.value)
        assert "sync 'people': warehouse 'pg': cannot connect" in message
        assert "password authentication failed" in message and "check the user and password" in message
        assert WRONG not in message and written not in message and "hunter2" not in message


@pytest.mark.parametrize(("change", "hint"), [(("postgres@", "nobody@"), "check the user and password"),
                                              (("/t_", "/no_such_db_"), "the database in the URL does not exist")])
def test_an_unknown_role_or_database_gets_its_own_hint(pg_database: str, change: tuple[str, str], hint: str) -> None:
    url = pg_database.replace(*change)
    with pytest.raises(WarehouseError, match=f"(?s)cannot connect: .*does not exist.*{hint}"):
        open_warehouse("pg", PostgresWarehouse(type="postgres", url=url), Path(".")).check()
