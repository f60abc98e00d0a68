"""Series high-water marks: which rows of a fact file are new, already loaded, or possibly late.

For each series (e.g. one device's `BatteryPowerW`), the state keeps the highest time loaded and the
count and sum of the times loaded. When a file comes again (changed):
- rows after the mark are new: they are appended (a plain COPY, no merge);
- rows at or before the mark whose (count, sum of times) equals the state are already loaded: skipped;
- otherwise those rows may hold late points: they go to `<table>_late` and are moved into the table
  after the load with `on conflict do nothing`, so nothing is duplicated and nothing is lost.
The marks only decide how much work a load does; correctness never depends on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MASK_64 = (1 << 63) - 1
SERIES_SEPARATOR = "\u241f"  # joins the key columns of a series in the marks' names


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
    times: np.ndarray,
    marks: dict[str, list[int]],
    trust: bool,
    series: SeriesCodes | None = None,
) -> Split:
    """Split `table` by its series marks and update `marks` to what the table now holds.

    `times` are epoch milliseconds per row; `trust=False` (a full refresh) sends every old row late.
    `series` (a code per row, the name of each code) saves reading the key columns when the parser
    already knows them.
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
        series = names[sorted_codes[start]]
        t = times[rows]
        hwm, count, total = marks.get(series, (-1, 0, 0))
        is_new = t > hwm
        old = t[~is_new]
        new_mask[rows[is_new]] = True
        if old.size == 0 or (trust and old.size == count and _sum(old) == total):
            skipped += int(old.size)
            marks[series] = [
                max(hwm, int(t.max())),
                count + int(is_new.sum()),
                (total + _sum(t[is_new])) & MASK_64,
            ]
        else:
            late_mask[rows[~is_new]] = True
            marks[series] = [max(hwm, int(t.max())), int(t.size), _sum(t)]
    return Split(_rows(table, new_mask), _rows(table, late_mask), skipped)


def _rows(table: pa.Table, mask: np.ndarray) -> pa.Table:
    """The rows of `table` where `mask` holds; the table itself (no copy) when that is all of them."""
    if mask.all():
        return table
    if not mask.any():
        return table.slice(0, 0)
    return table.filter(pa.array(mask))


def _sum(values: np.ndarray) -> int:
    return int(np.bitwise_and(np.sum(values.astype(np.uint64), dtype=np.uint64), np.uint64(MASK_64)))


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
