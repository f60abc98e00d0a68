"""The truth definitions, written once, and the CSV writer for the truth tables.

The simulator computes every truth figure from the values it actually wrote (after rounding, without
the malformed records it injected), with exactly these rules, so a mart that implements the same rules
must reproduce the truth to float precision. docs/simulator.md states the same rules in words.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

RESET_DROP = 0.10  # a counter falling by more than 10 % is a reset; smaller drops are noise
MAX_GAP_S = 900  # power is held until the next sample, but never across a gap longer than 15 min
SOC_LOW_PCT = 20.0
OVER_TEMPERATURE_C = 45.0


def counter_deltas(values: np.ndarray) -> np.ndarray:
    """Energy per point of a cumulative counter (points sorted by time, duplicates and bad values removed).

    delta[i] = v[i] - v[i-1] when the counter grew; v[i] itself when it fell by more than RESET_DROP
    (a reset: the counter restarted from zero, so its new value is new energy); 0 for a smaller drop
    (noise). The first point has no predecessor and carries 0.
    """
    out = np.zeros(values.shape, dtype=np.float64)
    if values.size < 2:
        return out
    prev, cur = values[:-1], values[1:]
    step = cur - prev
    reset = cur < prev * (1.0 - RESET_DROP)
    out[1:] = np.where(step >= 0, step, np.where(reset, cur, 0.0))
    return out


def counter_resets(values: np.ndarray) -> np.ndarray:
    """Indices of the points that follow a reset (see counter_deltas)."""
    if values.size < 2:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(values[1:] < values[:-1] * (1.0 - RESET_DROP)) + 1


def efc_steps(soc_pct: np.ndarray) -> np.ndarray:
    """Equivalent full cycles per point: |delta SoC| / 200 (SoC in percent); the first point carries 0."""
    out = np.zeros(soc_pct.shape, dtype=np.float64)
    out[1:] = np.abs(np.diff(soc_pct)) / 200.0
    return out


def soh_at(
    days: np.ndarray | float,
    soh_start_pct: float,
    fade_pct_per_efc: float,
    fade_pct_per_sqrt_day: float,
    age_days: float,
    efc_per_day: float,
) -> np.ndarray | float:
    """The ageing law (SoH in % of nominal) `days` after the span starts, cycling at efc_per_day: linear in
    equivalent full cycles, and in the square root of calendar age."""
    calendar = fade_pct_per_sqrt_day * (np.sqrt(age_days + days) - np.sqrt(age_days))
    return soh_start_pct - fade_pct_per_efc * efc_per_day * days - calendar


def soh_crossing_day(
    soh_start_pct: float,
    fade_pct_per_efc: float,
    fade_pct_per_sqrt_day: float,
    age_days: float,
    efc_per_day: float,
    level_pct: float,
) -> float | None:
    """Days after the span starts at which soh_at() reaches level_pct (0 if it starts below; None beyond a
    century or when it never falls), by bisection (the law only falls)."""
    args = (soh_start_pct, fade_pct_per_efc, fade_pct_per_sqrt_day, age_days, efc_per_day)
    if soh_start_pct <= level_pct:
        return 0.0
    lo, hi = 0.0, 36_525.0
    if soh_at(hi, *args) > level_pct:
        return None
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if soh_at(mid, *args) > level_pct else (lo, mid)
    return hi


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each maximal run of True in `mask`."""
    if not mask.any():
        return []
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def held_power_pieces(
    t_s: np.ndarray, p_w: np.ndarray, bucket_s: int = 3600, max_gap_s: int = MAX_GAP_S
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Last-value-carried-forward integration of power samples, split at bucket boundaries.

    Each sample's power is held from its time until the next sample's time; a hold longer than
    max_gap_s contributes nothing (a gap), and so does the last sample (no next sample).
    Returns (bucket index = time // bucket_s, energy Wh, covered seconds), one entry per piece.
    """
    if t_s.size < 2:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty, empty
    t0, t1, p = t_s[:-1], t_s[1:], p_w[:-1].astype(np.float64)
    held = (t1 - t0) <= max_gap_s
    t0, t1, p = t0[held], t1[held], p[held]
    bucket = t0 // bucket_s
    boundary = (bucket + 1) * bucket_s
    first = np.minimum(t1, boundary) - t0
    second = np.maximum(t1 - boundary, 0)  # a hold of at most max_gap_s crosses at most one boundary
    buckets = np.concatenate((bucket, bucket + 1))
    seconds = np.concatenate((first, second)).astype(np.float64)
    energy_wh = np.concatenate((p, p)) * seconds / 3600.0
    keep = seconds > 0
    return buckets[keep], energy_wh[keep], seconds[keep]


def fmt(value: object) -> str:
    """Truth CSV text: floats with 6 decimals, None as empty, everything else as str()."""
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        text = f"{float(value):.6f}"
        return "0.000000" if text == "-0.000000" else text
    return str(value)


class TruthTable:
    """A truth CSV written row by row (header first, `\\n` line ends, UTF-8)."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rows = 0
        self._file = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(columns)

    def row(self, *values: object) -> None:
        self._writer.writerow([fmt(v) for v in values])
        self.rows += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TruthTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def truth_table(path: Path, columns: list[str]) -> Iterator[TruthTable]:
    table = TruthTable(path, columns)
    try:
        yield table
    finally:
        table.close()
