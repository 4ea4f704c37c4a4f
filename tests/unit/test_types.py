"""The shared type normalisation: one set of Arrow types before the diff, whatever the warehouse."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

from cio_retl.warehouse.types import normalize_batch, normalize_schema, normalize_type, number_json


@pytest.mark.parametrize(("given", "expected"), [
    (pa.timestamp("ns"), pa.timestamp("us", tz="UTC")),
    (pa.timestamp("ms", tz="Europe/Berlin"), pa.timestamp("us", tz="UTC")),
    (pa.large_string(), pa.string()), (pa.string_view(), pa.string()), (pa.date64(), pa.date32()),
    (pa.decimal128(18, 0), pa.int64()), (pa.decimal128(19, 0), pa.json_()), (pa.decimal128(10, 2), pa.float64()),
    (pa.decimal128(38, 9), pa.json_()), (pa.large_list(pa.large_string()), pa.list_(pa.string())),
    (pa.struct([("at", pa.timestamp("ns"))]), pa.struct([("at", pa.timestamp("us", tz="UTC"))])),
    (pa.int32(), pa.int32()), (pa.bool_(), pa.bool_()), (pa.json_(), pa.json_()), (pa.date32(), pa.date32()),
])
def test_normalize_type(given: pa.DataType, expected: pa.DataType) -> None:
    assert normalize_type(given) == expected


def test_timestamps_become_utc_microseconds_naive_read_as_utc_wall_clock() -> None:
    naive = pa.array([datetime(2024, 1, 2, 3, 4, 5, 678901)], pa.timestamp("us"))
    berlin = pa.array([datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)], pa.timestamp("us", tz="Europe/Berlin"))
    batch = normalize_batch(pa.record_batch([naive, berlin], names=["naive", "berlin"]))
    assert batch.column("naive")[0].as_py() == datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    assert batch.column("berlin")[0].as_py() == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_decimals_never_lose_digits() -> None:
    small = pa.array([Decimal("12.50"), None, Decimal("-3.00")], pa.decimal128(10, 2))
    whole = pa.array([Decimal(10**17 + 1), None, None], pa.decimal128(18, 0))
    wide = pa.array([Decimal("12.500000000"), None, Decimal("12345678901234567890.123456789")], pa.decimal128(38, 9))
    batch = normalize_batch(pa.record_batch([small, whole, wide], names=["price", "count", "total"]))
    assert batch.schema == pa.schema([("price", pa.float64()), ("count", pa.int64()), ("total", pa.json_())])
    assert batch.column("price").to_pylist() == [12.5, None, -3.0]
    assert batch.column("count").to_pylist() == [10**17 + 1, None, None]
    assert batch.column("total").to_pylist() == ["12.5", None, "12345678901234567890.123456789"]  # exact JSON numbers


def test_number_json_trims_zeros_and_quotes_nan() -> None:
    assert number_json(pa.array(["1.6666666666666667", "100", "2.50", "NaN", None])).to_pylist() == [
        "1.6666666666666667", "100", "2.5", '"NaN"', None]


def test_already_normal_batches_pass_through_untouched_and_json_stays_json() -> None:
    batch = pa.record_batch([pa.array(['{"a": [1, 2]}']).cast(pa.json_()), pa.array([True]), pa.array([date(2024, 1, 2)])],
                            names=["attrs", "flag", "born"])
    assert normalize_batch(batch) is batch
    assert normalize_schema(batch.schema) == batch.schema


def test_whole_decimals_lose_their_zero_fraction_so_ids_stay_integers() -> None:
    text = pa.array(["12.000000000", "12.500", "0.000", "-3.10", "1.0E+5", "NaN"])
    assert number_json(text).to_pylist() == ["12", "12.5", "0", "-3.1", "1E+5", '"NaN"']


def test_nanosecond_timestamps_floor_to_the_microsecond_at_any_depth_and_before_1970() -> None:
    """Snowflake TIMESTAMP_*(9) and DuckDB TIMESTAMP_NS: floored, never rounded up nor truncated toward 1970."""
    ns = pa.timestamp("ns")
    batch = pa.RecordBatch.from_pydict({
        "at": pa.array([1_704_164_645_999_999_999, -1_000_000_001, None], ns),
        "many": pa.array([[1_704_164_645_999_999_999], None, []], pa.list_(ns)),
        "by_name": pa.array([[("k", -1)], None, []], pa.map_(pa.string(), ns))})
    out = normalize_batch(batch)
    assert out.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert out.column("at").cast(pa.int64()).to_pylist() == [1_704_164_645_999_999, -1_000_001, None]
    assert out.column("many").to_pylist()[0][0].microsecond == 999_999
    assert out.column("by_name").type == pa.map_(pa.string(), pa.timestamp("us", tz="UTC"))
    assert out.column("by_name").to_pylist()[0] == [("k", datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc))]


def test_snowflake_reads_a_nine_digit_timestamp_in_nanoseconds() -> None:
    from cio_retl.warehouse.snowflake import _batches, arrow_type

    assert arrow_type(8, None, 9) == pa.timestamp("ns") and arrow_type(8, None, 6) == pa.timestamp("us")
    assert arrow_type(7, None, 9) == pa.timestamp("ns", tz="UTC")
    schema = pa.schema([("at", arrow_type(8, None, 9))])
    downloaded = pa.table({"AT": pa.array([1_704_164_645_123_456_789], pa.timestamp("ns"))})
    [batch] = _batches("people", None, downloaded, schema)  # the reader is only named in errors
    assert batch.column("at").to_pylist() == [datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)]
