"""The project file: validation reports every problem at once, with YAML paths; env interpolation."""

from __future__ import annotations

from pathlib import Path

import pytest

from cio_retl.project import load_project
from cio_retl.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "sql").mkdir(exist_ok=True)
    (tmp_path / "sql" / "people.sql").write_text("SELECT 1 AS user_id")
    path = tmp_path / "cio_retl.yaml"
    path.write_text(text)
    return path


GOOD = """
warehouses:
  wh: {type: duckdb, path: w.duckdb}
destination: {site_id: "${SITE:-s1}", api_key: "${KEY}"}
syncs:
  people: {warehouse: wh, model: sql/people.sql, primary_key: user_id, type: identify, mode: mirror}
"""


def test_loads_and_interpolates_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY", "k-123")
    monkeypatch.delenv("SITE", raising=False)
    project = load_project(write(tmp_path, GOOD))
    assert project.destination.site_id == "s1"
    assert project.destination.api_key.get_secret_value() == "k-123"
    assert "k-123" not in repr(project)
    assert project.syncs["people"].key_columns == ["user_id"]
    assert project.syncs["people"].max_delete_fraction == 0.2
    assert project.destination.base_url == "https://track.customer.io"


def test_customerio_env_overrides_destination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY", "k-123")
    monkeypatch.setenv("CUSTOMERIO_REGION", "eu")
    monkeypatch.setenv("CUSTOMERIO_SITE_ID", "from-env")
    project = load_project(write(tmp_path, GOOD))
    assert project.destination.site_id == "from-env"
    assert project.destination.base_url == "https://track-eu.customer.io"
    monkeypatch.setenv("CUSTOMERIO_TRACK_URL", "http://127.0.0.1:9999/")
    assert load_project(tmp_path / "cio_retl.yaml").destination.base_url == "http://127.0.0.1:9999"


def test_every_problem_reported_at_once_with_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEY", raising=False)
    bad = """
warehouses:
  wh: {type: duckdb, path: w.duckdb}
  other: {type: oracle, path: x}
destination: {site_id: s, api_key: "${KEY}", region: mars}
syncs:
  people: {warehouse: wh, model: sql/people.sql, primary_key: user_id, type: identify, mode: sometimes}
  events: {warehouse: nowhere, query: "select 1", table: t, primary_key: id, type: track, colour: blue}
  gone: {warehouse: wh, model: sql/missing.sql, primary_key: id, type: identify}
"""
    with pytest.raises(ConfigError) as caught:
        load_project(write(tmp_path, bad))
    text = str(caught.value)
    assert "destination.api_key: environment variable KEY is not set" in text
    assert "syncs.people.mode: must be 'upsert', 'mirror' or 'append'" in text
    assert "destination.region: must be 'us' or 'eu'" in text
    assert "syncs.events.colour: unknown setting" in text
    assert "syncs.events: set exactly one of model, query, table" in text
    assert "warehouses.other" in text
    assert len(caught.value.problems) >= 6


def test_cross_references_and_missing_model_files(tmp_path: Path) -> None:
    text = """
warehouses: {wh: {type: duckdb, path: w.duckdb}}
syncs:
  a: {warehouse: nope, model: sql/people.sql, primary_key: user_id, type: identify}
  b: {warehouse: wh, model: sql/nothing.sql, primary_key: user_id, type: identify}
  c: {warehouse: wh, query: "select 1", primary_key: id, type: alias, mode: mirror}
"""
    with pytest.raises(ConfigError) as caught:
        load_project(write(tmp_path, text))
    problems = "\n".join(caught.value.problems)
    assert "mode 'mirror' needs type identify, group or segment" in problems
    with pytest.raises(ConfigError) as caught:
        load_project(write(tmp_path, text.replace("mode: mirror", "mode: append")))
    problems = "\n".join(caught.value.problems)
    assert "syncs.a.warehouse: no warehouse named 'nope'" in problems


def test_missing_model_file_named(tmp_path: Path) -> None:
    text = GOOD.replace("sql/people.sql", "sql/nothing.sql").replace("${KEY}", "k")
    with pytest.raises(ConfigError, match=r"syncs.people.model: file .*nothing.sql not found"):
        load_project(write(tmp_path, text))


def test_missing_file_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CIO_RETL_CONFIG"):
        load_project(tmp_path / "nope.yaml")


def test_secrets_can_stay_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEY", raising=False)
    monkeypatch.setenv("CUSTOMERIO_TRACK_API_KEY", "from-env-secret")
    project = load_project(write(tmp_path, GOOD), resolve_secrets=False)
    assert project.destination.api_key.get_secret_value() == "${KEY}"  # the reference, not a value
    assert project.destination.site_id == "${SITE:-s1}"
    assert load_project(tmp_path / "cio_retl.yaml", credentials="none") == project
    with pytest.raises(ConfigError, match="KEY is not set"):
        load_project(tmp_path / "cio_retl.yaml")


def test_commands_that_never_reach_customer_io_read_only_the_warehouse_credentials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CUSTOMERIO_SITE_ID", "CUSTOMERIO_TRACK_API_KEY", "CUSTOMERIO_TRACK_URL", "PG_URL"):
        monkeypatch.delenv(var, raising=False)
    path = write(tmp_path, """
warehouses:
  pg: {type: postgres, url: "${PG_URL}"}
destination: {site_id: "${CUSTOMERIO_SITE_ID}", api_key: "${CUSTOMERIO_TRACK_API_KEY}", url: "${CUSTOMERIO_TRACK_URL}"}
syncs:
  people: {warehouse: pg, model: sql/people.sql, primary_key: user_id, type: identify}
""")
    with pytest.raises(ConfigError) as caught:
        load_project(path, credentials="warehouses")
    assert caught.value.problems == ["warehouses.pg.url: environment variable PG_URL is not set (or write ${PG_URL:-default})"]
    monkeypatch.setenv("PG_URL", "postgresql+psycopg://u:pw@db/x")
    project = load_project(path, credentials="warehouses")
    assert project.warehouses["pg"].url.get_secret_value() == "postgresql+psycopg://u:pw@db/x"
    assert project.destination.site_id == "${CUSTOMERIO_SITE_ID}"  # as written: nothing read it
    assert project.destination.api_key.get_secret_value() == "${CUSTOMERIO_TRACK_API_KEY}"
    monkeypatch.setenv("CUSTOMERIO_TRACK_API_KEY", "env-key")  # the override is not read either
    assert load_project(path, credentials="warehouses").destination.api_key.get_secret_value() != "env-key"
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    assert [p.split(":")[0] for p in caught.value.problems] == ["destination.site_id", "destination.url"]


def test_region_in_any_case(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("${KEY}", "k").replace("destination: {", "destination: {region: EU, "))
    assert load_project(path).destination.region == "eu"
    assert load_project(path).destination.base_url == "https://track-eu.customer.io"


def test_one_pass_reports_every_mistake_with_the_near_name(tmp_path: Path) -> None:
    """The newcomer's rounds: warehouse, then model file, then action, then mapping field — now all at once."""
    path = write(tmp_path, """
warehouses:
  local: {type: duckdb, pathh: w.duckdb}
destination: {site_id: s, api_key: k, regoin: us}
syncs:
  people: {warehouse: locl, model: sql/peopel.sql, primary_key: user_id, type: identify, primery_key: x}
actions:
  createUpdatePersn: {enabled: false}
  trackEvent: {mapping: {dataa: {"@path": "$.properties"}}}
  trackPageView: {mapping: {zzzzzz: 1}}
""")
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    assert sorted(caught.value.problems) == sorted([
        "warehouses.local.path: is required",
        "warehouses.local.pathh: unknown setting (did you mean path?)",
        "destination.regoin: unknown setting (did you mean region?)",
        "syncs.people.primery_key: unknown setting (did you mean primary_key?)",
        "syncs.people.warehouse: no warehouse named 'locl' (did you mean local?)",
        f"syncs.people.model: file {tmp_path / 'sql' / 'peopel.sql'} not found (did you mean sql/people.sql?)",
        "actions.createUpdatePersn: no action named 'createUpdatePersn' (did you mean createUpdatePerson?)",
        "actions.trackEvent.mapping.dataa: trackEvent has no field 'dataa' (did you mean data?)",
        "actions.trackPageView.mapping.zzzzzz: trackPageView has no field 'zzzzzz'; its fields are: id, anonymous_id, "
        "event_id, url, timestamp, data, convert_timestamp",
    ])


def test_incremental_models_cannot_mirror(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("${KEY}", "k"))
    (tmp_path / "sql" / "people.sql").write_text("SELECT * FROM p WHERE updated_at > to_timestamp({{ last_sync_time }})")
    with pytest.raises(ConfigError, match=r"syncs.people: \{\{ last_sync_time \}\} reads only recent rows"):
        load_project(path)
    path.write_text(path.read_text().replace("mode: mirror", "mode: upsert"))
    assert load_project(path).syncs["people"].mode == "upsert"


UI_MAPPING = """
warehouses: {wh: {type: duckdb, path: w.duckdb}}
syncs:
  people: {warehouse: wh, model: sql/people.sql, primary_key: user_id, type: identify}
actions:
  trackEvent:
    mapping: {data: {"@path": "$.properties"}, enable_batching: true, batch_size: 50}
  createUpdatePerson: {enable_batching: false}
"""


def test_ui_only_fields_are_accepted_and_change_nothing(tmp_path: Path) -> None:
    copied = load_project(write(tmp_path, UI_MAPPING))
    assert copied.actions["trackEvent"].mapping == {"data": {"@path": "$.properties"}}
    assert copied.actions["trackEvent"].ignored == ["enable_batching", "batch_size"]
    assert copied.actions["createUpdatePerson"].ignored == ["enable_batching"]
    plain = load_project(write(tmp_path, UI_MAPPING.replace(", enable_batching: true, batch_size: 50", "")
                               .replace("createUpdatePerson: {enable_batching: false}", "createUpdatePerson: {}")))
    assert copied.config_hash("people") == plain.config_hash("people")  # no full resync for pasting them


def test_type_errors_are_in_our_words_and_never_repeat_a_secret(tmp_path: Path) -> None:
    bad = """
warehouses:
  wh: {type: duckdb, path: w.duckdb, batch_size: lots}
  sf: {type: snowflak}
destination: {api_key: 12345678}
syncs:
  people: {warehouse: wh, model: sql/people.sql, primary_key: user_id, type: identify, max_delete_fraction: 2,
           convert_timestamps: maybe}
actions:
  trackEvent: {enabled: "yes please", mapping: [1]}
"""
    with pytest.raises(ConfigError) as caught:
        load_project(write(tmp_path, bad))
    problems = caught.value.problems
    for expected in ['warehouses.wh.batch_size: must be a whole number (got "lots")',
                     "warehouses.sf: `type` must be one of 'duckdb', 'postgres', 'snowflake', 'bigquery' (got \"snowflak\")",
                     'destination.api_key: must be text: YAML read a number; put it in quotes (api_key: "…")',
                     "syncs.people.max_delete_fraction: must be at most 1.0 (got 2)",
                     'syncs.people.convert_timestamps: must be true or false (got "maybe")',
                     'actions.trackEvent.enabled: must be true or false (got "yes please")',
                     "actions.trackEvent.mapping: must be a mapping of names to values (got [1])"]:
        assert expected in problems, (expected, problems)
    text = str(caught.value)
    assert "12345678" not in text and "Input should" not in text and "pydantic" not in text


def test_a_union_setting_gets_one_message_in_its_words_without_pydantic_member_names(tmp_path: Path) -> None:
    bad = """
warehouses:
  wh: {type: duckdb, path: w.duckdb}
destination: {site_id: s, api_key: k}
syncs:
  a: {warehouse: wh, model: sql/people.sql, primary_key: [1, {x: 2}], type: identify}
  b: {warehouse: wh, model: sql/people.sql, primary_key: {x: 1}, type: identify}
  c: {warehouse: wh, model: sql/people.sql, primary_key: user_id, type: identify, upstream: 5}
"""
    with pytest.raises(ConfigError) as caught:
        load_project(write(tmp_path, bad))
    assert caught.value.problems == [
        'syncs.a.primary_key: must be text or a list of text (got [1, {"x": 2}])',
        'syncs.b.primary_key: must be text or a list of text (got {"x": 1})',
        "syncs.c.upstream: must be text or a list of text or a list of lists of text (got 5)"]
    assert "list[str]" not in str(caught.value) and ".str" not in str(caught.value)
