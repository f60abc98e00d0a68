"""Series marks: which rows of a fact file are new, already held as they are, or possibly corrections.

For each series (e.g. one device's `BatteryPowerW`) the memory (ingest/memory.py) keeps the highest time
loaded (`hwm_ms`), how many points up to it were loaded (`n`) and a checksum over their times and values
(the sum of a 64-bit hash per row). When a file comes again (changed):
- rows after the mark are new: they are appended (a plain COPY, no merge);
- rows at or before the mark whose count and checksum equal the mark's are held as they are: skipped;
- otherwise those rows may hold late points or corrections: they go to `<table>_late`, whose rows are
  upserted after the load (ingest/settle.py): a different value replaces the held one, audited.
The marks only decide how much work a load does; correctness never depends on them: a "new" row whose
key is held after all fails its file's COPY, and the file goes through `<table>_late` instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MASK_63 = (1 << 63) - 1  # checksums are stored as a bigint
SERIES_SEPARATOR = "\u241f"  # joins the key columns of a series in the marks' names
NULL_HASH = np.uint64(0x9E3779B97F4A7C15)


SeriesCodes = tuple[np.ndarray, list[str]]  # a series code per row, and the name of each code


def series_name(*key: object) -> str:
    """The name of a series in the marks: its key values joined by U+241F."""
    return SERIES_SEPARATOR.join(map(str, key))


@dataclass(frozen=True)
class Split:
    new: pa.Table
    late: pa.Table
    skipped: int


def split(
    table: pa.Table,
    key: tuple[str, ...],
    times_ms: np.ndarray,
    hashes: np.ndarray,
    marks: dict[str, list[int]],
    trust: bool,
    series: SeriesCodes | None = None,
    changed: set[str] | None = None,
) -> Split:
    """Split `table` by its series marks and update `marks` to what the table now holds.

    `times_ms` are each row's time in epoch milliseconds, `hashes` each row's hash (row_hashes);
    `trust=False` (a full refresh) sends every old row late. `series` (a code per row, the name of each
    code) saves reading the key columns when the parser already knows them. The names of the series
    whose mark changed are added to `changed`.
    """
    if table.num_rows == 0:
        return Split(table, table, 0)
    codes, names = series if series is not None else _series_codes(table, key)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    bounds = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1], True])
    new_mask = np.zeros(table.num_rows, dtype=bool)
    late_mask = np.zeros(table.num_rows, dtype=bool)
    skipped = 0
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        rows = order[start:end]
        name = names[sorted_codes[start]]
        t, h = times_ms[rows], hashes[rows]
        hwm, count, checksum = marks.get(name, (-1, 0, 0))
        is_new = t > hwm
        old = ~is_new
        new_mask[rows[is_new]] = True
        n_old = int(old.sum())
        if n_old == 0 or (trust and n_old == count and _sum(h[old]) == checksum):
            skipped += n_old
            mark = [max(hwm, int(t.max())), count + int(is_new.sum()), (checksum + _sum(h[is_new])) & MASK_63]
        else:
            late_mask[rows[old]] = True
            mark = [max(hwm, int(t.max())), int(t.size), _sum(h)]
        if mark != list(marks.get(name, ())):
            marks[name] = mark
            if changed is not None:
                changed.add(name)
    return Split(_rows(table, new_mask), _rows(table, late_mask), skipped)


def row_hashes(table: pa.Table, columns: tuple[str, ...]) -> np.ndarray:
    """A 64-bit hash per row over `columns` (the key time and the values), the same in every process."""
    hashes = np.zeros(table.num_rows, dtype=np.uint64)
    for column in columns:
        hashes = _mix(hashes * np.uint64(31) + _column_hashes(table[column].combine_chunks()))
    return hashes


def _column_hashes(column: pa.Array) -> np.ndarray:
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        column = pc.dictionary_encode(column)  # each distinct string is hashed once
        kind = column.type
    if pa.types.is_dictionary(kind):
        words = column.dictionary
        if pa.types.is_string(words.type) or pa.types.is_large_string(words.type):
            distinct = _string_hashes(words.to_pylist())
        else:
            distinct = _column_hashes(words)
        indices = column.indices.fill_null(0).to_numpy(zero_copy_only=False)
        values = distinct[indices] if len(distinct) else np.zeros(len(column), np.uint64)
    else:
        if pa.types.is_timestamp(kind):
            column = pc.cast(column, pa.timestamp("us", kind.tz)).cast(pa.int64())
        elif pa.types.is_boolean(kind):
            column = column.cast(pa.int64())
        filled = column.fill_null(0).to_numpy(zero_copy_only=False)
        values = _mix(np.ascontiguousarray(filled).view(np.uint64))
    if column.null_count:
        values = np.where(column.is_valid().to_numpy(zero_copy_only=False), values, NULL_HASH)
    return values


def _string_hashes(strings: list[str]) -> np.ndarray:
    return np.array(
        [int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in strings],
        dtype=np.uint64,
    )


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: every input bit moves every output bit (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _rows(table: pa.Table, mask: np.ndarray) -> pa.Table:
    """The rows of `table` where `mask` holds; the table itself (no copy) when that is all of them."""
    if mask.all():
        return table
    if not mask.any():
        return table.slice(0, 0)
    return table.filter(pa.array(mask))


def _sum(values: np.ndarray) -> int:
    return int(np.sum(values, dtype=np.uint64)) & MASK_63


def _series_codes(table: pa.Table, key: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """An integer code per row for its series, and the series names (key columns joined by U+241F).

    Each key column is dictionary-encoded on its own and the codes are combined as numbers, so no
    string is built per row.
    """
    codes = np.zeros(table.num_rows, dtype=np.int64)
    names = [""]
    for i, column in enumerate(key):
        encoded = pc.dictionary_encode(pc.cast(table[column], pa.string())).combine_chunks()
        labels = encoded.dictionary.to_pylist()
        combined = pc.dictionary_encode(codes * len(labels) + encoded.indices.to_numpy(zero_copy_only=False))
        codes = combined.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        separator = SERIES_SEPARATOR if i else ""
        names = [
            names[c // len(labels)] + separator + labels[c % len(labels)]
            for c in combined.dictionary.to_pylist()
        ]
    return codes, names
