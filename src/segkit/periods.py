"""Reporting periods: months, quarters and years.

A period is the half-open interval ``[start, end)`` of local calendar dates, where "local" is
the config's ``timezone``: every timestamp is converted to that zone before it is compared with
a boundary (see :mod:`segkit.data.load`). An analysis of a period sees only rows dated before
``end`` (its as-of cut-off, no look-ahead) and compares with :meth:`Period.previous`.

Labels: ``2024-07`` (month), ``2024-Q3`` (quarter), ``2024`` (year). Ranges: ``A..B`` with both
ends of the same kind, inclusive, e.g. ``2024-01..2024-06``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from segkit.errors import PeriodError

Grain = Literal["month", "quarter", "year"]
GRAINS: tuple[Grain, ...] = ("month", "quarter", "year")
_MONTHS = {"month": 1, "quarter": 3, "year": 12}

_PATTERNS: tuple[tuple[Grain, re.Pattern[str]], ...] = (
    ("month", re.compile(r"^(\d{4})-(\d{2})$")),
    ("quarter", re.compile(r"^(\d{4})-[Qq]([1-4])$")),
    ("year", re.compile(r"^(\d{4})$")),
)


def add_months(d: date, months: int) -> date:
    index = d.year * 12 + (d.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, quarter or year: the dates ``start <= d < end``."""

    start: date
    grain: Grain

    def __post_init__(self) -> None:
        if self.start.day != 1 or (self.start.month - 1) % _MONTHS[self.grain]:
            raise PeriodError(f"{self.start} does not start a {self.grain}")

    @property
    def end(self) -> date:
        """First day after the period (exclusive bound, the as-of cut-off)."""
        return add_months(self.start, _MONTHS[self.grain])

    @property
    def label(self) -> str:
        if self.grain == "month":
            return f"{self.start.year}-{self.start.month:02d}"
        if self.grain == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}"

    def previous(self) -> Period:
        return Period(add_months(self.start, -_MONTHS[self.grain]), self.grain)

    def next(self) -> Period:
        return Period(self.end, self.grain)

    def contains(self, d: date) -> bool:
        return self.start <= d < self.end

    def __str__(self) -> str:
        return self.label


def parse_period(text: str) -> Period:
    """Parse ``2024-07``, ``2024-Q3`` or ``2024``."""
    value = text.strip()
    for grain, pattern in _PATTERNS:
        m = pattern.match(value)
        if not m:
            continue
        year = int(m.group(1))
        if year < 1900:
            break
        if grain == "month":
            month = int(m.group(2))
            if not 1 <= month <= 12:
                break
        elif grain == "quarter":
            month = (int(m.group(2)) - 1) * 3 + 1
        else:
            month = 1
        return Period(date(year, month, 1), grain)
    raise PeriodError(
        f"'{text}' is not a period; write a month (2024-07), a quarter (2024-Q3) or a year (2024)"
    )


def parse_periods(text: str) -> list[Period]:
    """Parse one period or an inclusive range ``A..B`` of periods of the same kind."""
    if ".." not in text:
        return [parse_period(text)]
    first_text, _, last_text = text.partition("..")
    first, last = parse_period(first_text), parse_period(last_text)
    if first.grain != last.grain:
        raise PeriodError(f"'{text}': both ends of a range must be {first.grain}s")
    if last < first:
        raise PeriodError(f"'{text}': the range ends before it starts")
    return periods_between(first.start, last.end, first.grain)


def period_of(d: date, grain: Grain) -> Period:
    """The period of the given grain that contains date ``d``."""
    months = _MONTHS[grain]
    month = (d.month - 1) // months * months + 1
    return Period(date(d.year, month, 1), grain)


def periods_between(first_day: date, end: date, grain: Grain) -> list[Period]:
    """Every period of ``grain`` that overlaps ``[first_day, end)``, in order."""
    out: list[Period] = []
    p = period_of(first_day, grain)
    while p.start < end:
        out.append(p)
        p = p.next()
    return out
