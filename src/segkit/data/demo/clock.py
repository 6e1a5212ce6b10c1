"""Time helpers: raw model time (float days since the window start) to wall-clock timestamps.

The generative processes run in continuous time. :func:`clock` then moves each instant within
its own calendar day to a realistic time of day through a monotone map, so dates, the order of
events and the processes' law at day resolution are unchanged.
"""

from __future__ import annotations

from datetime import date

import numpy as np
from numpy.typing import NDArray

from segkit.data.demo.params import WINDOW_END, WINDOW_START

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Times = NDArray[np.datetime64]

#: Relative activity in each local hour 0..23 (quiet nights, peaks late morning and evening).
HOUR_WEIGHTS = np.array(
    [0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 1.0, 2.0, 3.5, 5.0, 6.0, 6.5,
     6.0, 5.5, 5.5, 5.5, 5.5, 5.5, 6.0, 6.5, 6.0, 4.5, 2.5, 1.0]
)  # fmt: skip
_HOUR_P = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
_HOUR_CDF = np.concatenate([[0.0], np.cumsum(_HOUR_P)])

_START = np.datetime64(WINDOW_START.isoformat(), "s")


def days_since_start(d: date) -> float:
    """Whole days from the window start to ``d`` (negative before it)."""
    return float((d - WINDOW_START).days)


#: Window length in days (2023-01-01 .. 2026-01-01: 1096).
WINDOW_DAYS = days_since_start(WINDOW_END)


def clock(raw: Floats) -> Floats:
    """Map raw days to days whose fraction follows :data:`HOUR_WEIGHTS` (monotone, same day)."""
    day = np.floor(raw)
    frac = raw - day
    # Inverse CDF of the piecewise-uniform hour distribution, applied to the uniform fraction.
    hour = np.clip(np.searchsorted(_HOUR_CDF, frac, side="right") - 1, 0, 23)
    within = (frac - _HOUR_CDF[hour]) / _HOUR_P[hour]
    return day + (hour + np.clip(within, 0.0, 1.0 - 1e-9)) / 24.0


def to_timestamp(days: Floats) -> Times:
    """Days since the window start -> ``datetime64[s]`` (floored to the second)."""
    return _START + np.floor(days * 86_400.0).astype(np.int64).astype("timedelta64[s]")


def to_date(days: Floats) -> Times:
    """Days since the window start -> ``datetime64[D]`` (the calendar day)."""
    return to_timestamp(days).astype("datetime64[D]")


def month_index(days: Floats) -> Ints:
    """Calendar month of each instant, counted from the window's first month (0-based)."""
    months = to_date(days).astype("datetime64[M]") - _START.astype("datetime64[M]")
    return months.astype(np.int64)


def growth_times(u: Floats, lo: float, hi: float, rate: float) -> Floats:
    """Inverse CDF of the density proportional to exp(rate * x) on ``[lo, hi)`` (days)."""
    e_lo, e_hi = np.exp(rate * lo), np.exp(rate * hi)
    return np.log(e_lo + u * (e_hi - e_lo)) / rate


def growth_rate(growth_over_window: float) -> float:
    """Per-day growth rate that multiplies the intensity by the factor over the window."""
    return float(np.log(growth_over_window) / WINDOW_DAYS)


#: Calendar months in the window (36).
WINDOW_MONTHS = (WINDOW_END.year - WINDOW_START.year) * 12 + WINDOW_END.month - WINDOW_START.month


def format_timestamps(days: Floats) -> NDArray[np.str_]:
    """``YYYY-MM-DD HH:MM:SS`` text of clocked days; NaN becomes the empty string."""
    missing = np.isnan(days)
    text = np.datetime_as_string(to_timestamp(np.where(missing, 0.0, days)), unit="s")
    return np.where(missing, "", np.char.replace(text, "T", " "))


def format_dates(days: Floats) -> NDArray[np.str_]:
    """``YYYY-MM-DD`` text of the calendar day; NaN becomes the empty string."""
    missing = np.isnan(days)
    return np.where(missing, "", np.datetime_as_string(to_date(np.where(missing, 0.0, days))))
