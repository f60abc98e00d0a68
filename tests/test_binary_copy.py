"""The loader's parquet COPY path (ingest/binary_copy.py): Arrow columns encoded into COPY's binary format
land as the same values PostgreSQL reads back, nulls and dictionaries included; files it cannot encode
go to dlt's own job."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.binary_copy import HEADER, TRAILER, encodable, encode_batch, encode_column, encoded


def _copy(conn, table: pa.Table) -> list[tuple]:
    with conn.connect() as db:
        db.execute(
            "create table t (s varchar, i bigint, d double precision, b boolean, ts timestamptz, k varchar(64))"
        )
        with db.cursor().copy("copy t (s, i, d, b, ts, k) from stdin (format binary)") as copy:
            copy.write(HEADER)
            for batch in table.to_batches(max_chunksize=2):  # several batches, one COPY
                copy.write(encode_batch(batch).to_pybytes())
            copy.write(TRAILER)
        rows = db.execute("select s, i, d, b, ts, k from t order by i nulls last, s").fetchall()
        db.commit()
    return rows


def test_every_type_with_nulls_round_trips(fresh_db):
    times = [datetime(2025, 2, 6, 13, 2, 42, 123456, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, tzinfo=UTC)]
    table = pa.table(
        {
            "s": pa.array(["ä€ text", "", None, "x"], pa.string()),
            "i": pa.array([-(2**63), 2**63 - 1, 0, None], pa.int64()),
            "d": pa.array([0.5, float("inf"), None, -1e300], pa.float64()),
            "b": pa.array([True, False, None, True], pa.bool_()),
            "ts": pa.array([*times, None, times[0]], pa.timestamp("us", tz="UTC")),
            "k": pa.DictionaryArray.from_arrays(pa.array([0, 1, 0, None], pa.int8()), pa.array(["a", "bb"])),
        }
    )
    assert _copy(fresh_db, table) == [
        ("ä€ text", -(2**63), 0.5, True, times[0], "a"),
        (None, 0, None, None, None, "a"),
        ("", 2**63 - 1, float("inf"), False, times[1], "bb"),
        ("x", None, -1e300, True, times[0], None),
    ]


def test_other_time_units_and_constant_dictionaries(fresh_db):
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    table = pa.table(
        {
            "s": pa.array(["a", "b"]),
            "i": pa.array([1, 2], pa.int64()),
            "d": pa.array([1.0, 2.0]),
            "b": pa.array([False, True]),
            "ts": pa.array([at, at], pa.timestamp("ms", tz="Europe/Berlin")),
            "k": pa.DictionaryArray.from_arrays(pa.array([0, 0], pa.int8()), pa.array(["load"])),
        }
    )
    assert _copy(fresh_db, table) == [("a", 1, 1.0, False, at, "load"), ("b", 2, 2.0, True, at, "load")]


def test_rows_laid_out_together_equal_the_fields_one_by_one():
    """encode_batch lays out fixed-width runs with numpy; each field alone gives the same bytes."""
    batch = pa.record_batch(
        {
            "s": pa.array(["", "abc", "ü" * 300]),
            "i": pa.array([1, -2, 3], pa.int64()),
            "d": pa.array([0.1, float("nan"), -0.0]),
            "ts": pa.array([0, 1, -1], pa.timestamp("ns", tz="UTC")),
            "k": pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], pa.int8()), pa.array(["x", "yz"])),
            "n": pa.DictionaryArray.from_arrays(pa.array([0, 0, 1], pa.int8()), pa.array([7, 8], pa.int64())),
            "b": pa.array([True, False, True]),
        }
    )
    fields = [encode_column(c).to_pylist() for c in batch.columns]
    one_by_one = b"".join(b"\x00\x07" + b"".join(f[r] for f in fields) for r in range(batch.num_rows))
    assert encode_batch(batch).to_pybytes() == one_by_one


def test_a_file_is_header_batches_trailer(tmp_path):
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"i": pa.array(range(5), pa.int64())}), path)
    data = b"".join(chunk.to_pybytes() for chunk in encoded(str(path)))
    assert data.startswith(HEADER) and data.endswith(TRAILER)
    assert len(data) == len(HEADER) + 5 * (2 + 4 + 8) + len(TRAILER)
    assert encode_batch(pa.record_batch({"i": pa.array([], pa.int64())})).size == 0


@pytest.mark.parametrize(
    ("arrow_type", "column", "ok"),
    [
        (pa.string(), {"data_type": "text", "precision": 64}, True),
        (pa.int64(), {"data_type": "bigint"}, True),
        (pa.int64(), {"data_type": "bigint", "precision": 32}, False),  # an integer column
        (pa.int32(), {"data_type": "bigint"}, False),
        (pa.float64(), {"data_type": "text"}, False),
        (pa.timestamp("us", tz="UTC"), {"data_type": "timestamp"}, True),
        (pa.timestamp("us", tz="UTC"), {"data_type": "timestamp", "timezone": False}, False),
        (pa.timestamp("us"), {"data_type": "timestamp"}, False),
        (pa.dictionary(pa.int8(), pa.string()), {"data_type": "text"}, True),
    ],
)
def test_only_known_types_into_matching_columns(arrow_type, column, ok):
    assert encodable(pa.schema([pa.field("c", arrow_type)]), {"c": column}) is ok
    assert encodable(pa.schema([pa.field("c", arrow_type)]), {}) is False
