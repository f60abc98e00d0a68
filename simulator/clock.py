"""Time grids shared by every entity of a family: UTC steps and their local-time features."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

DAY_S = 86_400


def epoch_s(day: date) -> int:
    """UTC midnight of `day` as epoch seconds."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def utc_offsets_s(start_s: int, hours: int, tz: str) -> np.ndarray:
    """The UTC offset (seconds) of `tz` for each UTC hour from start_s (DST changes on the hour)."""
    zone = ZoneInfo(tz)
    base = datetime.fromtimestamp(start_s, UTC)
    out = np.empty(hours, dtype=np.int64)
    for h in range(hours):
        offset = (base + timedelta(hours=h)).astimezone(zone).utcoffset()
        out[h] = int(offset.total_seconds()) if offset is not None else 0
    return out


def local_features(t_s: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local hour (float), day of year (float) and weekday (0 = Monday) of UTC epoch seconds in `tz`."""
    t_s = np.asarray(t_s, dtype=np.int64)
    if t_s.size == 0:
        empty = np.zeros(0)
        return empty, empty, empty.astype(np.int64)
    first_hour = int(t_s.min()) // 3600
    hours = int(t_s.max()) // 3600 - first_hour + 1
    offsets = utc_offsets_s(first_hour * 3600, hours, tz)[t_s // 3600 - first_hour]
    local = t_s + offsets
    local_hour = (local % DAY_S) / 3600.0
    local_day = local // DAY_S
    days = local_day.astype("datetime64[D]")
    doy = (days - days.astype("datetime64[Y]")).astype(np.int64) + local_hour / 24.0
    return local_hour, doy, ((local_day + 3) % 7).astype(np.int64)


@dataclass(frozen=True)
class Clock:
    """A regular UTC grid: `n` steps of `interval` seconds from `start_s`, with local features in `tz`."""

    start_s: int
    interval: int
    n: int
    local_hour: np.ndarray  # 0 <= h < 24, float
    day_of_year: np.ndarray  # float, local
    weekday: np.ndarray  # 0 = Monday, local

    @classmethod
    def make(cls, start_s: int, interval: int, n: int, tz: str) -> Clock:
        t = start_s + np.arange(n, dtype=np.int64) * interval
        return cls(start_s, interval, n, *local_features(t, tz))

    @property
    def t_s(self) -> np.ndarray:
        return self.start_s + np.arange(self.n, dtype=np.int64) * self.interval


def last_sunday(year: int, month: int) -> date:
    """The last Sunday of a month: the EU DST change days are those of March and October."""
    day = date(year, month + 1, 1) - timedelta(days=1) if month < 12 else date(year, 12, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def local_day_bounds_s(day: date, tz: str) -> tuple[int, int]:
    """UTC epoch seconds of the local midnight starting `day` and of the next one."""
    zone = ZoneInfo(tz)
    begin = datetime(day.year, day.month, day.day, tzinfo=zone)
    end_day = day + timedelta(days=1)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone)
    return int(begin.timestamp()), int(end.timestamp())


def solar_shape(local_hour: np.ndarray, day_of_year: np.ndarray, noon: float = 13.0) -> np.ndarray:
    """Clear-sky output 0..1: a sine arch over a season-dependent day length, zero at night."""
    season = np.cos(2 * np.pi * (day_of_year - 172) / 365.25)
    day_length = 12.0 + 4.0 * season
    x = (local_hour - (noon - day_length / 2)) / day_length
    day = (x > 0.0) & (x < 1.0)
    arch = np.where(day, np.sin(np.pi * np.where(day, x, 0.5)) ** 1.5, 0.0)
    return arch * (0.65 + 0.35 * season)


def smooth_noise(rng: np.random.Generator, n: int, every: int, scale: float = 1.0) -> np.ndarray:
    """Slowly varying noise: normal knots every `every` steps, linearly interpolated."""
    every = max(1, every)
    knots = rng.normal(0.0, scale, n // every + 2)
    return np.interp(np.arange(n) / every, np.arange(knots.size), knots)
