"""Checked reading of analysis settings: a wrong type or range is a ConfigError naming the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from segkit.errors import ConfigError


def number(
    settings: Mapping[str, Any],
    analysis: str,
    key: str,
    *,
    low: float,
    high: float | None = None,
    integer: bool = False,
    open_low: bool = False,
) -> float:
    """``settings[key]`` as a number in [low, high] (``(low, high)`` ends when ``open_low``)."""
    value = settings[key]
    kind = "a whole number" if integer else "a number"
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and integer:
        ok = float(value).is_integer()
    if ok:
        ok = (value > low if open_low else value >= low) and (high is None or value <= high)
    if not ok:
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        if high is not None:
            bound += f" and <= {high:g}"
        raise ConfigError(f"analyses.{analysis}.{key} must be {kind} {bound}, got {value!r}")
    return float(value)


def names(settings: Mapping[str, Any], analysis: str, key: str) -> list[str]:
    """``settings[key]`` as a list of non-empty texts."""
    value = settings[key]
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        raise ConfigError(f"analyses.{analysis}.{key} must be a list of names, got {value!r}")
    return [v.strip() for v in value]
