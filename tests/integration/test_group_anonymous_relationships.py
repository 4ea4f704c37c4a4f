"""A mirror group sync of anonymous memberships (group_id, anonymous_id) on a real DuckDB file: removing a row
deletes only that relationship, never the object (the row had a person, so it was a relationship)."""

from __future__ import annotations

from cio_retl.pipeline.sync import run_sync
from tests.conftest import RecordingDelivery


def test_removed_anonymous_membership_deletes_the_relationship_not_the_object(make_project, warehouse_sql) -> None:
    warehouse_sql("CREATE TABLE m AS SELECT * FROM (VALUES ('acme', 'anon-1'), ('acme', 'anon-2'), ('zeta', 'anon-1')) "
                  "t(group_id, anonymous_id)")
    project = make_project({"m": {"table": "m", "primary_key": ["group_id", "anonymous_id"], "type": "group",
                                  "mode": "mirror", "max_delete_fraction": 0.5}})
    first = RecordingDelivery()
    assert run_sync(project, "m", deliver=first).added == 3
    assert {op["action"] for op in first.sent} == {"identify_anonymous"}
    warehouse_sql("DELETE FROM m WHERE anonymous_id = 'anon-2'")
    second = RecordingDelivery()
    assert run_sync(project, "m", deliver=second).removed == 1
    [op] = second.sent
    assert (op["type"], op["action"], op["identifiers"]) == (
        "object", "delete_relationships", {"object_type_id": "1", "object_id": "acme"})
    assert op["cio_relationships"] == [{"identifiers": {"anonymous_id": "anon-2"}}]
