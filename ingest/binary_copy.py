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

import queue
import threading
from collections.abc import Callable, Iterator
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
QUEUED_TABLES = 32  # tables (a document's new rows each) an EarlyCopy holds before the parser waits

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
        names = pq.read_schema(self._file_path).names
        columns = ", ".join(sql_client.escape_column_name(n) for n in names)
        table = sql_client.make_qualified_table_name(self.load_table_name)  # staging or final dataset
        # psycopg 3 on a connection of its own (as dlt's ADBC job has): it takes Arrow's buffers as they
        # are and sends without the GIL; psycopg2's copy_expert wants a copy of each chunk as bytes.
        url = self._job_client.config.credentials.to_native_representation()
        query = f"COPY {table} ({columns}) FROM STDIN (FORMAT binary)"
        try:
            with psycopg.connect(url) as conn, conn.cursor() as cursor, cursor.copy(query) as copy:
                for chunk in encoded(self._file_path):
                    copy.write(memoryview(chunk))
            # leaving `psycopg.connect` committed the COPY (or rolled it back on an error)
        except (psycopg.IntegrityError, psycopg.DataError, psycopg.ProgrammingError) as exc:
            # the same file would fail again: fail the job now instead of letting dlt retry it
            raise DestinationTerminalException(f"COPY into {table}: {exc}") from exc


class EarlyCopy:
    """The new rows of one append table, sent by binary COPY while the load is still parsing its files.

    The loader parses (dlt's extract) before dlt's load step can start, and the server would wait for
    it. Here each document's rows go to the server as soon as they are parsed, in a transaction of
    their own that stays open: dlt still writes them to its load package as ever, and the load job for
    that file (EarlyCopyJob) only commits what was sent when it covers exactly the file's rows and
    columns. Otherwise, or when the COPY failed, the transaction is rolled back and the file is loaded
    by its own COPY: the package stays the one record of the load (a retried or restarted load reads
    it), the early COPY only saves time.
    """

    def __init__(self, connect: Callable[[], Any], dataset: str, table: str) -> None:
        self.dataset, self.table = dataset, table
        self.load_id: str | None = None
        self.names: list[str] = []
        self.rows = 0
        self._connect = connect
        self._conn: Any = None
        # a few documents ahead at most: a parse faster than the server waits instead of holding rows
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=QUEUED_TABLES)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._closed = self._cancelled = False

    def send(self, table: pa.Table, load_id: str) -> None:
        """Queue a parsed table's rows (every table of one load has the same columns)."""
        if self._closed or not table.num_rows:
            return
        if self._thread is None:
            self.load_id, self.names = load_id, [*table.schema.names, "_dlt_load_id"]
            self._thread = threading.Thread(target=self._run, name=f"early-copy-{self.table}", daemon=True)
            self._thread.start()
        elif table.schema.names != self.names[:-1] or load_id != self.load_id:
            self.abandon()  # not one set of columns: leave every row to the file's own COPY
            return
        if self._put(table):
            self.rows += table.num_rows

    def close(self) -> None:
        """No more rows: the COPY ends once the server has the rows queued so far."""
        if not self._closed:
            self._closed = True
            self._put(None)

    def _put(self, item: pa.Table | None) -> bool:
        """Queue an item unless the COPY's thread has ended (it failed: nothing takes items any more)."""
        while True:
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                if self._thread is None or not self._thread.is_alive():
                    return False

    def covers(self, file_path: str, load_id: str) -> bool:
        """Whether the rows sent are exactly the rows and columns of this load file."""
        if self._thread is None or self._error is not None or load_id != self.load_id:
            return False
        metadata = pq.read_metadata(file_path)
        return metadata.num_rows == self.rows and sorted(metadata.schema.names) == sorted(self.names)

    def commit(self) -> None:
        """Wait for the COPY to end and commit it; raises what failed the COPY (nothing committed)."""
        self.close()
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        try:
            self._conn.commit()
        finally:
            self._conn.close()

    def abandon(self) -> None:
        """Roll back whatever was sent (the file's own COPY loads those rows)."""
        self._cancelled = True
        self.close()
        if self._thread is not None:
            self._thread.join()
        if self._conn is not None and not self._conn.closed:
            self._conn.rollback()
            self._conn.close()

    def _batches(self) -> Iterator[pa.Table]:
        """The queued tables, BATCH_ROWS rows at a time: a document's few thousand rows would cost the
        encoder more calls, each taking the interpreter from the parser."""
        pending: list[pa.Table] = []
        rows = 0
        while (table := self._queue.get()) is not None:
            if self._cancelled:
                pending, rows = [], 0
                continue
            pending.append(table)
            rows += table.num_rows
            if rows >= BATCH_ROWS:
                yield pa.concat_tables(pending).combine_chunks()
                pending, rows = [], 0
        if pending and not self._cancelled:
            yield pa.concat_tables(pending).combine_chunks()

    def _run(self) -> None:
        from psycopg import sql
        from psycopg.copy import QueuedLibpqWriter

        load_id = pa.DictionaryArray.from_arrays(pa.array([0], pa.int32()), pa.array([self.load_id]))
        query = sql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT binary)").format(
            sql.Identifier(self.dataset),
            sql.Identifier(self.table),
            sql.SQL(", ").join(sql.Identifier(n) for n in self.names),
        )
        try:
            self._conn = self._connect()
            # a safety net: should the load step never claim these rows, nothing stays locked for long
            self._conn.execute("set idle_in_transaction_session_timeout = '120s'")
            # the rows are encoded here while psycopg sends the previous ones from a thread of its own
            with self._conn.cursor() as cursor, cursor.copy(query, writer=QueuedLibpqWriter(cursor)) as copy:
                copy.write(HEADER)
                for table in self._batches():
                    ids = load_id.take(pa.array(np.zeros(table.num_rows, np.int32)))
                    for batch in table.append_column("_dlt_load_id", ids).to_batches():
                        copy.write(memoryview(encode_batch(batch)))
                copy.write(TRAILER)
        except Exception as exc:  # noqa: BLE001 - reported to the load job, which loads the file itself
            self._error = exc
            self._closed = True
            if self._conn is not None and not self._conn.closed:
                self._conn.rollback()  # now: a lock held until the load step would stall dlt's DDL
                self._conn.close()


# Early COPYs of the loads running in this process, by (dataset, table): EarlyCopies adds them,
# GridhousePostgresClient takes each for the first load file of its table.
EARLY_COPIES: dict[tuple[str, str], EarlyCopy] = {}


class EarlyCopies:
    """The early COPYs of one load, a table each, fed by the vendor's walk (ingest/sources/base.py)."""

    def __init__(self, connect: Callable[[], Any], dataset: str) -> None:
        self.dataset = dataset
        self._connect = connect
        self._copies: dict[str, EarlyCopy] = {}

    def send(self, table_name: str, table: pa.Table) -> None:
        import dlt

        early = self._copies.get(table_name)
        if early is None:
            early = self._copies[table_name] = EarlyCopy(self._connect, self.dataset, table_name)
            EARLY_COPIES[(self.dataset, table_name)] = early
        early.send(table, dlt.current.load_package_state()["load_id"])

    def close(self) -> None:
        """Every row is parsed: the COPYs end and wait for their load jobs."""
        for early in self._copies.values():
            early.close()

    def abandon(self) -> None:
        """The load is over: roll back what no load job committed."""
        for name, early in self._copies.items():
            if EARLY_COPIES.get((self.dataset, name)) is early:
                del EARLY_COPIES[(self.dataset, name)]
            early.abandon()


class EarlyCopyJob(BinaryCopyJob):
    """Commits the rows an EarlyCopy sent; the file's own COPY when that COPY failed."""

    def __init__(self, file_path: str, early: EarlyCopy) -> None:
        super().__init__(file_path)
        self._early = early

    def run(self) -> None:
        try:
            self._early.commit()
        except Exception:  # noqa: BLE001 - nothing was committed: load the file itself
            self._early.abandon()
            super().run()


class GridhousePostgresClient(PostgresClient):
    def create_load_job(self, table: Any, file_path: str, load_id: str, restore: bool = False) -> LoadJob:
        early = EARLY_COPIES.pop((self.sql_client.dataset_name, table["name"]), None)
        copied = ParsedLoadJobFileName.parse(file_path).file_format == "parquet" and encodable(
            pq.read_schema(file_path), table.get("columns", {})
        )
        if copied and early is not None and not restore and early.covers(file_path, load_id):
            return EarlyCopyJob(file_path, early)
        if early is not None:  # its uncommitted rows would make this file's load wait on their keys
            early.abandon()
        if copied:
            return BinaryCopyJob(file_path)
        return super().create_load_job(table, file_path, load_id, restore)


class gridhouse_postgres(postgres):  # noqa: N801 (dlt's destination factories are lower case)
    """dlt's postgres destination whose parquet files are loaded by BinaryCopyJob."""

    @property
    def client_class(self) -> type[PostgresClient]:
        return GridhousePostgresClient
