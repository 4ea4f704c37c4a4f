"""`validate` against a real DuckDB warehouse file: every problem reported at once, errors vs warnings."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from cio_retl.project import load_project
from cio_retl.cli.validate import validate_project


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute("CREATE TABLE people AS SELECT 'u1' AS user_id, 'Ann' AS first_name, 1704164645000 AS signed_up_at")
    con.execute("CREATE TABLE orders AS SELECT 'o1' AS order_id, 'u1' AS user_id, 9.5 AS total")
    con.execute("CREATE TABLE nobody AS SELECT 1 AS id, 'x' AS plan")
    con.close()
    config = {
        "warehouses": {"wh": {"type": "duckdb", "path": "wh.duckdb"}},
        "syncs": {
            "people": {"warehouse": "wh", "table": "people", "primary_key": "user_id", "type": "identify"},
            "orders": {"warehouse": "wh", "table": "orders", "primary_key": "order_id", "type": "track", "event": "Order Placed"},
            "orders_again": {"warehouse": "wh", "table": "orders", "primary_key": "order_id", "type": "track",
                             "event": "order placed"},
            "nobody": {"warehouse": "wh", "table": "nobody", "primary_key": "id", "type": "identify"},
        },
        "actions": {
            "trackEvent": {"trigger": 'type = "track" and traits.plan = "pro"'},
            "createUpdatePerson": {"mapping": {"custom_attributes": {"name": {"@path": "$.traits.firstName"}}}},
        },
    }
    (tmp_path / "cio_retl.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_validate_reports_everything(project_dir: Path) -> None:
    problems = [str(p) for p in validate_project(load_project(project_dir / "cio_retl.yaml"))]
    expected = [
        "error: syncs.nobody: model table nobody lacks column(s) user_id or email or anonymous_id; it returns id, plan",
        "warning: syncs.people: column signed_up_at holds values like 1704164645000: milliseconds?",
        "warning: actions.trackEvent.trigger: can never fire for any sync",
        "error: actions.createUpdatePerson.mapping.custom_attributes.name: no column of sync nobody, people provides "
        "$.traits.firstName (did you mean $.traits.first_name?): name is left out of every createUpdatePerson "
        "operation of those syncs; fix the path, or list it under actions.createUpdatePerson.optional_paths",
        "warning: syncs.orders_again: event 'order placed' differs only in case from 'Order Placed'",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected), problems


def test_validate_clean_project_and_bad_trigger(project_dir: Path) -> None:
    path = project_dir / "cio_retl.yaml"
    config = yaml.safe_load(path.read_text())
    del config["syncs"]["nobody"], config["syncs"]["orders_again"]
    config["actions"] = {}
    path.write_text(yaml.safe_dump(config))
    assert [p.severity for p in validate_project(load_project(path))] == ["warning"]  # only the milliseconds column
    config["actions"] = {"trackEvent": {"trigger": 'type = "track" and'}}
    path.write_text(yaml.safe_dump(config))
    problems = [str(p) for p in validate_project(load_project(path))]
    assert any("column 19" in p and p.startswith("error") for p in problems), problems


def test_validate_warns_before_a_mass_wipe(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute("CREATE TABLE users AS SELECT 'u' || i AS user_id, 'N' || i AS name, i AS plan_id FROM range(50) t(i)")
    con.execute("CREATE TABLE plans AS SELECT 999 AS id, 'pro' AS plan")  # the join below matches nothing
    con.execute("CREATE TABLE orders AS SELECT 'o1' AS order_id, 'u1' AS user_id, NULL::VARCHAR AS coupon")
    con.close()
    (tmp_path / "cio_retl.yaml").write_text(yaml.safe_dump({
        "warehouses": {"wh": {"type": "duckdb", "path": "wh.duckdb"}},
        "syncs": {"people": {"warehouse": "wh", "primary_key": "user_id", "type": "identify", "query":
                             "SELECT u.user_id, p.plan AS email, u.name, NULL AS anonymous_id FROM users u "
                             "LEFT JOIN plans p ON p.id = u.plan_id"},
                  "orders": {"warehouse": "wh", "table": "orders", "primary_key": "order_id", "type": "track",
                             "event": "Order"}},
        "actions": {"createUpdatePerson": {"mapping": {"custom_attributes": {"full_name": {"@path": "$.traits.nmae"},
                                                                              "name": {"@path": "$.traits.name"}},
                                                       "enable_batching": True, "batch_size": 100}}}}))
    problems = [str(p) for p in validate_project(load_project(tmp_path / "cio_retl.yaml"))]
    assert problems == [  # syncs in file order (safe_dump sorts them); anonymous_id may well be NULL everywhere
        "warning: syncs.orders: column coupon is NULL in all 1 sampled rows: every event would carry coupon = null; "
        "a broken join? check the model",
        "warning: syncs.people: column email is NULL in all 50 sampled rows: every person would get email = null, "
        "clearing it in Customer.io; a broken join? check the model",
        "error: actions.createUpdatePerson.mapping.custom_attributes.full_name: no column of sync people provides "
        "$.traits.nmae (did you mean $.traits.name?): full_name is left out of every createUpdatePerson operation "
        "of that sync; fix the path, or list it under actions.createUpdatePerson.optional_paths if those models "
        "lack it on purpose",
        "warning: actions: note: batch_size and enable_batching (fields of Customer.io's UI) are accepted and ignored "
        "in createUpdatePerson: cio-retl sizes its own batches; nothing to fix",
    ]
