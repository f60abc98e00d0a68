"""Plausible ranges: what a vendor number or time may be for the warehouse to load it (docs/quality.md).

A record outside its quantity's range is quarantined at load, costing only that record, with a reason
that names the value, the range and the series or field. Every reason starts with one of two phrases,
so a report can count them: `value out of range:` and `time out of range:`.

- Every number: finite and within +-MAX_MAGNITUDE. That is far beyond any meter, battery or sensor, and
  keeps every later computation finite: a battery value times 10^decimals stays below 2^63 (the scaled
  bigint of int_batteries__telemetry_scaled) and any product, square or sum the marts form stays far
  below the double's 1.8e308, where PostgreSQL stops with "value out of range: overflow".
- Every time: from TIME_FLOOR (1970-01-01, epoch 0) to the load's time plus a tolerance
  (`future_tolerance_minutes` under [sources.gridhouse] in .dlt/config.toml, or its environment
  variable); a reading dated after its own delivery is a clock set wrong, and one would move "now".
- Per quantity (the tables below): state of charge 0-100 %, temperature -40-100 °C, energy counters,
  import and export >= 0. Power and net quantities keep their sign: a negative value is legitimate there.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingest.db import PROJECT_ROOT
from ingest.errors import GridhouseError

MAX_MAGNITUDE = 1e15  # see the module: no overflow in the scaled bigint nor in the marts' doubles
TIME_FLOOR = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_MS_CAP = 4_102_444_800_000  # 2100-01-01: never later, whatever the tolerance
TOLERANCE_KEY = "sources.gridhouse.future_tolerance_minutes"
TOLERANCE_ENV = TOLERANCE_KEY.upper().replace(".", "__")
DEFAULT_TOLERANCE_MINUTES = 60.0
DOCS = "docs/quality.md"


@dataclass(frozen=True)
class Range:
    """A quantity's plausible values: low and high (None: unbounded on that side), unit, what it is."""

    low: float | None
    high: float | None
    unit: str
    what: str
    # the range and the magnitude bound in one pair, compared once per value (NaN fails both)
    lo: float = field(init=False, repr=False)
    hi: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        lo = -MAX_MAGNITUDE if self.low is None else max(self.low, -MAX_MAGNITUDE)
        hi = MAX_MAGNITUDE if self.high is None else min(self.high, MAX_MAGNITUDE)
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    def problem(self, label: str, value: float) -> str | None:
        """Why `value` of `label` (a series, a field) is not plausible; None when it is."""
        if self.lo <= value <= self.hi:
            return None
        if (found := magnitude_problem(label, value)) is not None:
            return found
        unit = f" {self.unit}" if self.unit else ""
        if self.high is None:
            bound = f"is below {_num(self.low)}{unit}"
        else:
            bound = f"is outside {_num(self.low)} to {_num(self.high)}{unit}"
        return f"value out of range: {label} {_num(value)} {bound} ({self.what}; {DOCS})"


def magnitude_problem(label: str, value: float) -> str | None:
    """Why a number cannot be stored (not finite, or beyond +-MAX_MAGNITUDE); None when it can."""
    if math.isfinite(value) and abs(value) <= MAX_MAGNITUDE:
        return None
    return (
        f"value out of range: {label} {_num(value)} is beyond +-{MAX_MAGNITUDE:g}, the largest magnitude "
        f"the warehouse stores (an overflow or a unit error at the vendor; {DOCS})"
    )


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


# -- batteries: the unit comes from the series-name suffix (seed series_units.csv) ----------------------
BATTERY_RANGES = {
    "%": Range(0.0, 100.0, "%", "a state of charge"),
    "°C": Range(-40.0, 100.0, "°C", "a battery temperature"),
    "kWh": Range(0.0, None, "kWh", "a cumulative energy counter is never negative"),
}
ANY_SIGN = Range(None, None, "", "")  # power and other signed quantities: only finite and in magnitude


def battery_range(unit: str | None) -> Range:
    return BATTERY_RANGES.get(unit or "", ANY_SIGN)


# -- meters: import and export (energy per interval, registers, power) are never negative; net is signed
OBIS_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "obis_codes.csv"


def _meter_ranges() -> dict[str, Range]:
    ranges: dict[str, Range] = {}
    with OBIS_SEED.open(encoding="utf-8", newline="") as seed:
        for row in csv.DictReader(seed):
            if row["direction"] in ("import", "export"):
                per = f" per {row['interval_minutes']} min" if row["interval_minutes"] else ""
                what = (
                    f"{row['quantity'].replace('_', ' ')} {row['direction']}{per}: import and export "
                    "are never negative, net (OBIS 16) carries the sign"
                )
                ranges[row["obis_code"].upper()] = Range(0.0, None, row["unit"], what)
    return ranges


METER_RANGES = _meter_ranges()


def meter_range(obis_code: str) -> Range:
    return METER_RANGES.get(obis_code.upper(), ANY_SIGN)


# -- devices and circuits -----------------------------------------------------------------------------
CHARGE_PCT = Range(0.0, 100.0, "%", "a state of charge")


# -- times ----------------------------------------------------------------------------------------------
def future_tolerance() -> timedelta:
    """The tolerance for times later than the load (dlt config: .dlt/config.toml or the variable)."""
    import dlt

    raw = dlt.config.get(TOLERANCE_KEY)
    if raw is None or raw == "":
        return timedelta(minutes=DEFAULT_TOLERANCE_MINUTES)
    try:
        minutes = float(raw)
    except (TypeError, ValueError):
        minutes = float("nan")
    if not 0 <= minutes < 1e7:
        raise GridhouseError(
            f"{TOLERANCE_ENV} (or future_tolerance_minutes under [sources.gridhouse] in .dlt/config.toml) "
            f"is {raw!r}: give the minutes a reading may be dated after its load, 0 or more"
        )
    return timedelta(minutes=minutes)


@dataclass(frozen=True)
class TimeWindow:
    """The times one load takes: from TIME_FLOOR to its load time plus the tolerance."""

    loaded_at: datetime
    tolerance: timedelta
    latest_us: int = field(init=False, repr=False)  # epoch microseconds, computed once per document
    latest_ms: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        latest_us = (self.loaded_at + self.tolerance - TIME_FLOOR) // timedelta(microseconds=1)
        object.__setattr__(self, "latest_us", latest_us)
        object.__setattr__(self, "latest_ms", min(latest_us // 1000, EPOCH_MS_CAP - 1))

    @classmethod
    def at(cls, loaded_at: datetime) -> TimeWindow:
        return cls(loaded_at, future_tolerance())

    def problem_us(self, instant_us: int, shown: str) -> str | None:
        """Why the instant (epoch microseconds), written `shown` in the file, is not taken; or None."""
        if 0 <= instant_us <= self.latest_us:
            return None
        if instant_us < 0:
            return (
                f"time out of range: {shown} is before {_iso(TIME_FLOOR)}, the earliest time the "
                f"warehouse takes (a clock reset to zero, or a wrong epoch; {DOCS})"
            )
        if instant_us > self.latest_us:
            return (
                f"time out of range: {shown} is later than the load time {_iso(self.loaded_at)} plus "
                f"{self.tolerance / timedelta(minutes=1):g} min ({TOLERANCE_ENV} or future_tolerance_minutes "
                f"under [sources.gridhouse] in .dlt/config.toml): a clock set wrong at the vendor ({DOCS})"
            )
        return None

    def problem_ms(self, epoch_ms: int) -> str | None:
        """As problem_us, for a battery point's epoch milliseconds (shown with the date they name)."""
        if 0 <= epoch_ms <= self.latest_ms:
            return None
        try:
            shown = f"{epoch_ms} ({_iso(TIME_FLOOR + timedelta(milliseconds=epoch_ms))})"
        except OverflowError:
            shown = f"{epoch_ms} (not a date: is it epoch milliseconds?)"
        if epoch_ms >= 0 and self.latest_us // 1000 >= EPOCH_MS_CAP:
            return (
                f"time out of range: {shown} is after {_iso(TIME_FLOOR + timedelta(milliseconds=EPOCH_MS_CAP))}, "
                f"the latest time the warehouse takes ({DOCS})"
            )
        return self.problem_us(epoch_ms * 1000, shown)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
