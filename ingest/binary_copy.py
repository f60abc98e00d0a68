"""dlt's parquet load files into PostgreSQL by `COPY ... FROM STDIN (FORMAT binary)`, encoded by Arrow.

dlt's own parquet job (ADBC) converts every field of every row in a per-field C++ loop and the server
waits on it; here numpy lays out the fixed-width fields (lengths, numbers, times: big-endian) and one
Arrow join per batch puts them and the strings' bytes in row order, no Python per row. The rows' bytes
go to the server as they are (psycopg 3) while the next batch is read and encoded in a thread. The
server does the same work as for any plain COPY in binary format.

Only the types the raw tables use are encoded (text, bigint, double, boolean, timestamptz, and Arrow
dictionaries of them), and only into columns of that type; any other file goes to dlt's ADBC job.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dlt.common.destination.client import HasFollowupJobs, LoadJob, RunnableLoadJob
from dlt.common.destination.exceptions import DestinationTerminalException
from dlt.common.storages.load_package import ParsedLoadJobFileName
from dlt.destinations.impl.postgres.factory import postgres
from dlt.destinations.impl.postgres.postgres import PostgresClient

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags, header extension length
TRAILER = b"\xff\xff"
NULL = b"\xff\xff\xff\xff"  # a field of length -1
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970
BATCH_ROWS = 50_000

# dlt data type of the target column for each Arrow type the encoder writes
DLT_TYPES = {"string": "text", "large_string": "text", "int64": "bigint", "double": "double", "bool": "bool"}


def dlt_type(arrow_type: pa.DataType) -> str | None:
    """The dlt column type whose binary COPY format this Arrow type is encoded in; None: not encoded."""
    if pa.types.is_dictionary(arrow_type):
        return dlt_type(arrow_type.value_type)
    if pa.types.is_timestamp(arrow_type):
        return "timestamp" if arrow_type.tz is not None else None
    return DLT_TYPES.get(str(arrow_type))


def encodable(schema: pa.Schema, columns: dict[str, Any]) -> bool:
    """Whether every column of the file is encoded and lands in a column of the matching type."""
    for field in schema:
        column = columns.get(field.name)
        wanted = dlt_type(field.type)
        if column is None or wanted is None or column.get("data_type") != wanted:
            return False
        # a precision makes bigint a smaller integer and double a real; varchar(n) is text on the wire
        if wanted in ("bigint", "double") and column.get("precision") is not None:
            return False
        if wanted == "timestamp" and column.get("timezone") is False:
            return False
    return True


def _fixed(values: np.ndarray, width: int) -> pa.Array:
    """Fields of a fixed-width type: a big-endian int32 length and the big-endian value."""
    fields = np.empty(len(values), dtype=[("n", ">i4"), ("v", values.dtype.newbyteorder(">"))])
    fields["n"] = width
    fields["v"] = values
    array = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(4 + width), len(values), [None, pa.py_buffer(fields.view(np.uint8))]
    )
    return array.cast(pa.large_binary())


def encode_column(column: pa.Array) -> pa.Array:
    """Each value's binary COPY field (length + bytes, or length -1 for null), as a large_binary array."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        if column.null_count == 0:  # encode the few distinct values once
            return encode_column(column.dictionary).take(column.indices)
        return encode_column(column.dictionary_decode())
    if column.null_count:
        filler = "" if pa.types.is_string(kind) or pa.types.is_large_string(kind) else 0
        if pa.types.is_boolean(kind):
            filler = False
        encoded = encode_column(column.fill_null(pa.scalar(filler, kind)))
        return pc.if_else(pc.is_valid(column), encoded, pa.scalar(NULL, pa.large_binary()))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        lengths = pc.binary_length(column).to_numpy(zero_copy_only=False).astype(">i4")
        prefix = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(4), len(column), [None, pa.py_buffer(lengths.view(np.uint8))]
        )
        return pc.binary_join_element_wise(
            prefix.cast(pa.large_binary()), column.cast(pa.large_binary()), pa.scalar(b"", pa.large_binary())
        )
    if pa.types.is_int64(kind) or pa.types.is_float64(kind):
        return _fixed(column.to_numpy(), 8)
    if pa.types.is_boolean(kind):
        return _fixed(column.to_numpy(zero_copy_only=False).astype(np.uint8), 1)
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        micros = pc.cast(column, pa.timestamp("us", kind.tz), safe=False).cast(pa.int64()).to_numpy()
        return _fixed(micros - PG_EPOCH_US, 8)
    raise TypeError(f"no binary COPY encoding for {kind}")


def _fixed_part(fields: list[tuple[Any, np.ndarray | int]], n: int) -> pa.Array:
    """Consecutive fixed-width bytes of every row (lengths and values, big-endian) as one array."""
    record = np.empty(n, dtype=[(f"f{i}", dtype) for i, (dtype, _) in enumerate(fields)])
    for i, (_, values) in enumerate(fields):
        record[f"f{i}"] = values
    array = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(record.itemsize), n, [None, pa.py_buffer(record.view(np.uint8))]
    )
    return array.cast(pa.large_binary())


def encode_batch(batch: pa.RecordBatch) -> pa.Buffer:
    """The rows of a batch in COPY's binary format (without header and trailer).

    Each row is its field count, then per column a length and the value's bytes. The fixed-width runs
    between two strings (lengths, numbers, times) are laid out together by numpy; one join per batch
    then places them and the strings' bytes in row order.
    """
    n = batch.num_rows
    if n == 0:
        return pa.py_buffer(b"")
    parts: list[pa.Array] = []
    fixed: list[tuple[Any, np.ndarray | int]] = [(">i2", batch.num_columns)]  # (dtype, values)

    def flush() -> None:
        if fixed:
            parts.append(_fixed_part(fixed, n))
            fixed.clear()

    for column in batch.columns:
        kind = column.type
        if (
            pa.types.is_dictionary(kind)
            and column.null_count == 0
            and (pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type))
        ):  # the few distinct values' lengths and bytes, taken per row
            values = column.dictionary.cast(pa.large_binary())
            fixed.append(
                (">i4", pc.binary_length(values).take(column.indices).to_numpy(zero_copy_only=False))
            )
            flush()
            parts.append(values.take(column.indices))
            continue
        if column.null_count == 0 and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            fixed.append((">i4", pc.binary_length(column).to_numpy(zero_copy_only=False)))
            flush()
            parts.append(column.cast(pa.large_binary()))
        elif column.null_count == 0 and (pa.types.is_int64(kind) or pa.types.is_float64(kind)):
            values = column.to_numpy()
            fixed += [(">i4", 8), (values.dtype.newbyteorder(">"), values)]
        elif column.null_count == 0 and pa.types.is_timestamp(kind) and kind.tz is not None:
            micros = pc.cast(column, pa.timestamp("us", kind.tz), safe=False).cast(pa.int64()).to_numpy()
            fixed += [(">i4", 8), (">i8", micros - PG_EPOCH_US)]
        else:  # nulls (a length of -1 and no bytes), booleans, dictionaries of other types
            flush()
            parts.append(encode_column(column))
    flush()
    rows = pc.binary_join_element_wise(*parts, pa.scalar(b"", pa.large_binary()))
    offsets = np.frombuffer(rows.buffers()[1], np.int64, n + 1, rows.offset * 8)
    return rows.buffers()[2][int(offsets[0]) : int(offsets[-1])]


def encoded(path: str) -> Iterator[pa.Buffer]:
    """The file's COPY data, batch by batch; the next batch is read and encoded while one is sent."""
    yield pa.py_buffer(HEADER)
    with ThreadPoolExecutor(1) as pool:
        pending: Future[pa.Buffer] | None = None
        for batch in pq.ParquetFile(path).iter_batches(BATCH_ROWS):
            ahead = pool.submit(encode_batch, batch)
            if pending is not None:
                yield pending.result()
            pending = ahead
        if pending is not None:
            yield pending.result()
    yield pa.py_buffer(TRAILER)


class BinaryCopyJob(RunnableLoadJob, HasFollowupJobs):
    def __init__(self, file_path: str) -> None:
        super().__init__(file_path)
        self._job_client: PostgresClient = None  # type: ignore[assignment]

    def run(self) -> None:
        import psycopg

        sql_client = self._job_client.sql_client
        table = sql_client.make_qualified_table_name(self.load_table_name)  # staging or final dataset
        try:
            try:
                self._copy(table)
            except psycopg.errors.UniqueViolation:
                # Keys already held, e.g. rows of a load that died before its memory was saved: the
                # file's rows go through `<table>_late`, whose upsert (ingest/settle.py) changes only
                # what differs. So no result depends on the series marks being right.
                late = self._late_table()
                if late is None:
                    raise
                self._copy(late)
        except (psycopg.IntegrityError, psycopg.DataError, psycopg.ProgrammingError) as exc:
            # the same file would fail again: fail the job now instead of letting dlt retry it
            raise DestinationTerminalException(f"COPY into {table}: {exc}") from exc

    def _copy(self, table: str) -> None:
        """The whole file into `table` in one transaction: committed whole or not at all."""
        import psycopg

        names = pq.read_schema(self._file_path).names
        columns = ", ".join(self._job_client.sql_client.escape_column_name(n) for n in names)
        query = f"COPY {table} ({columns}) FROM STDIN (FORMAT binary)"
        # psycopg 3 on a connection of its own (as dlt's ADBC job has): it takes Arrow's buffers as they
        # are and sends without the GIL; psycopg2's copy_expert wants a copy of each chunk as bytes.
        with psycopg.connect(self._url()) as conn, conn.cursor() as cursor, cursor.copy(query) as copy:
            for chunk in encoded(self._file_path):
                copy.write(memoryview(chunk))
        # leaving `psycopg.connect` committed the COPY (or rolled it back on an error)

    def _late_table(self) -> str | None:
        """`<table>_late` beside the final table, when the loader made one (fact tables only)."""
        import psycopg

        sql_client = self._job_client.sql_client
        name = f"{self.load_table_name}_late"
        with psycopg.connect(self._url()) as conn:
            (found,) = conn.execute(
                "select to_regclass(format('%%I.%%I', %s::text, %s::text))", (sql_client.dataset_name, name)
            ).fetchone()
        return None if found is None else sql_client.make_qualified_table_name(name)

    def _url(self) -> str:
        return self._job_client.config.credentials.to_native_representation()


class GridhousePostgresClient(PostgresClient):
    def create_load_job(self, table: Any, file_path: str, load_id: str, restore: bool = False) -> LoadJob:
        copied = ParsedLoadJobFileName.parse(file_path).file_format == "parquet" and encodable(
            pq.read_schema(file_path), table.get("columns", {})
        )
        if copied:
            return BinaryCopyJob(file_path)
        return super().create_load_job(table, file_path, load_id, restore)


class gridhouse_postgres(postgres):  # noqa: N801 (dlt's destination factories are lower case)
    """dlt's postgres destination whose parquet files are loaded by BinaryCopyJob."""

    @property
    def client_class(self) -> type[PostgresClient]:
        return GridhousePostgresClient
