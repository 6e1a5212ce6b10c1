"""Period parsing and boundaries."""

from __future__ import annotations

import contextlib
import itertools
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segkit.errors import PeriodError
from segkit.periods import Period, parse_period, parse_periods, period_of, periods_between


@pytest.mark.parametrize(
    ("text", "start", "end", "grain"),
    [
        ("2024-07", date(2024, 7, 1), date(2024, 8, 1), "month"),
        ("2024-12", date(2024, 12, 1), date(2025, 1, 1), "month"),
        ("2024-Q3", date(2024, 7, 1), date(2024, 10, 1), "quarter"),
        ("2024-q4", date(2024, 10, 1), date(2025, 1, 1), "quarter"),
        ("2024", date(2024, 1, 1), date(2025, 1, 1), "year"),
        (" 2024-02 ", date(2024, 2, 1), date(2024, 3, 1), "month"),
    ],
)
def test_parse_boundaries(text: str, start: date, end: date, grain: str) -> None:
    p = parse_period(text)
    assert (p.start, p.end, p.grain) == (start, end, grain)


@pytest.mark.parametrize(
    "text", ["2024-13", "2024-00", "2024-Q5", "24-Q1", "1899", "", "Q3-2024", "2024-7", "2024/07"]
)
def test_bad_labels_are_user_errors(text: str) -> None:
    with pytest.raises(PeriodError, match="is not a period"):
        parse_period(text)


def test_previous_and_next_cross_year() -> None:
    assert str(parse_period("2024-Q1").previous()) == "2023-Q4"
    assert str(parse_period("2024-01").previous()) == "2023-12"
    assert str(parse_period("2023-12").next()) == "2024-01"
    assert str(parse_period("2024").previous()) == "2023"


def test_half_open_interval() -> None:
    q = parse_period("2024-Q1")
    assert q.contains(date(2024, 1, 1))
    assert q.contains(date(2024, 3, 31))
    assert not q.contains(date(2024, 4, 1))


def test_ranges() -> None:
    labels = [str(p) for p in parse_periods("2024-11..2025-02")]
    assert labels == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert [str(p) for p in parse_periods("2024-Q2")] == ["2024-Q2"]
    with pytest.raises(PeriodError, match="same kind|must be"):
        parse_periods("2024-01..2024-Q3")
    with pytest.raises(PeriodError, match="ends before"):
        parse_periods("2024-06..2024-01")


def test_periods_between_covers_partial_ends() -> None:
    ps = periods_between(date(2023, 2, 15), date(2023, 7, 2), "quarter")
    assert [str(p) for p in ps] == ["2023-Q1", "2023-Q2", "2023-Q3"]


def test_period_must_start_on_a_boundary() -> None:
    with pytest.raises(PeriodError):
        Period(date(2024, 2, 1), "quarter")


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)),
    st.sampled_from(["month", "quarter", "year"]),
)
def test_every_date_is_in_exactly_its_period(d: date, grain: str) -> None:
    p = period_of(d, grain)  # type: ignore[arg-type]
    assert p.contains(d)
    assert not p.previous().contains(d)
    assert not p.next().contains(d)
    assert parse_period(p.label) == p
    assert p.previous().end == p.start


@given(st.text(max_size=12))
def test_parser_never_crashes_on_garbage(text: str) -> None:
    with contextlib.suppress(PeriodError):
        parse_period(text)


PERIODS = st.builds(
    period_of,
    st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)),
    st.sampled_from(["month", "quarter", "year"]),
)


@given(PERIODS, st.integers(min_value=0, max_value=40))
def test_a_range_lists_every_period_from_first_to_last(first: Period, n: int) -> None:
    last = first
    for _ in range(n):
        last = last.next()
    got = parse_periods(f"{first.label}..{last.label}")
    assert len(got) == n + 1
    assert got[0] == first and got[-1] == last
    assert all(a.end == b.start for a, b in itertools.pairwise(got))
    if n:
        with pytest.raises(PeriodError, match="ends before"):
            parse_periods(f"{last.label}..{first.label}")


@given(PERIODS, PERIODS)
def test_a_range_of_two_kinds_is_refused(a: Period, b: Period) -> None:
    if a.grain != b.grain:
        with pytest.raises(PeriodError, match="both ends"):
            parse_periods(f"{a.label}..{b.label}")


@given(st.text(max_size=8), st.text(max_size=8))
def test_range_parser_never_crashes_on_garbage(a: str, b: str) -> None:
    with contextlib.suppress(PeriodError):
        parse_periods(f"{a}..{b}")
