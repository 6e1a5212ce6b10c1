"""User-facing errors.

A :class:`SegkitError` is a mistake in the user's input (data, config, command line), not a bug:
the CLI prints its message without a traceback and exits with status 2. Messages say what is
wrong, where (file, column, rows) and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class SegkitError(Exception):
    """An error in the user's input; shown without a traceback."""


class ConfigError(SegkitError):
    """The configuration (``segkit.yaml`` or a command-line option) is invalid."""


class PeriodError(SegkitError):
    """A period label or range cannot be parsed or has no data."""


class DataError(SegkitError):
    """A data file breaks the data contract."""

    def __init__(
        self,
        problem: str,
        *,
        path: Path | str | None = None,
        column: str | None = None,
        rows: Sequence[int] = (),
        examples: Sequence[object] = (),
        n_bad: int | None = None,
        hint: str = "",
    ) -> None:
        self.problem = problem
        self.path = Path(path) if path is not None else None
        self.column = column
        self.rows = list(rows)
        self.examples = list(examples)
        self.n_bad = n_bad
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.column is not None:
            where.append(f"column '{self.column}'")
        head = ", ".join(where)
        parts = [f"{head}: {self.problem}" if head else self.problem]
        if self.rows:
            n = self.n_bad if self.n_bad is not None else len(self.rows)
            shown = ", ".join(str(r) for r in self.rows)
            lines = "line" if len(self.rows) == 1 else "lines"
            parts.append(f"{n} row{'' if n == 1 else 's'}, {lines} {shown}")
        if self.examples:
            parts.append("values: " + ", ".join(repr(v) for v in self.examples))
        text = "; ".join(parts) + "."
        if self.hint:
            text += f"\n  -> {self.hint}"
        return text
