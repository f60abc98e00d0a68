"""Fast JSON text: numbers and times become byte tokens that are joined, never dumped object by object.

orjson formats a whole numpy array at C speed (shortest round-trip floats, plain ints); splitting that
text gives one token per value, and interleaving the tokens with constant pieces by list slicing gives
the vendor's record text without a Python loop per value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson

NUMPY = orjson.OPT_SERIALIZE_NUMPY


def number_tokens(values: np.ndarray) -> list[bytes]:
    """One JSON number per value: ints for an integer array, shortest round-trip text for floats."""
    if values.size == 0:
        return []
    if values.dtype.kind == "f":
        values = values + 0.0  # no "-0.0"
    return orjson.dumps(np.ascontiguousarray(values), option=NUMPY)[1:-1].split(b",")


def rounded(values: np.ndarray, decimals: int) -> np.ndarray:
    """Values rounded for publishing: an int64 array for 0 decimals, else float64."""
    if decimals == 0:
        return np.rint(values).astype(np.int64)
    return np.round(values, decimals) + 0.0


def iso_tokens(epoch_s: np.ndarray, millis: bool = False) -> list[bytes]:
    """UTC times as `2024-04-01T00:00:00Z` (or `...00.000Z` with millis), one bytes token each."""
    unit = "ms" if millis else "s"
    text = np.datetime_as_string(np.asarray(epoch_s, dtype="datetime64[s]"), unit=unit)
    return [t.encode() + b"Z" for t in text.tolist()]


def iso_utc(epoch_s: float | int, millis: bool = True) -> str:
    """One UTC time as ISO text with a `Z`."""
    return iso_tokens(np.array([int(epoch_s)]), millis=millis)[0].decode()


def iso_ms(epoch_ms: int) -> str:
    """An epoch-milliseconds time as `2024-04-01T00:00:00.123Z`."""
    text = np.datetime_as_string(np.datetime64(int(epoch_ms), "ms"), unit="ms")
    return f"{text}Z"


def interleave(*columns: Sequence[bytes] | bytes, n: int) -> list[bytes]:
    """Tokens in row order: for each of n rows, one token from each column (a bytes column repeats)."""
    k = len(columns)
    out: list[bytes] = [b""] * (n * k)
    for j, column in enumerate(columns):
        if isinstance(column, bytes):
            out[j::k] = [column] * n
        else:
            out[j::k] = column
    return out
