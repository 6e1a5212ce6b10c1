"""The same data gives the same report to the last digit, whatever DuckDB's thread count.

Money is summed exactly (``segkit.data.engine.money_sum``) and results come back ordered, so
parallel aggregation cannot change a total's last bits, a label at a cut-off, or a model fit.
The demo here has more transaction rows than two of DuckDB's row groups (122,880 rows each),
so two threads really do split the scans.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from segkit import api
from segkit.data.demo import generate


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("determinism") / "data"
    generate(out, customers=14_000, seed=5)
    return out


def _run(demo: Path, folder: Path, threads: int) -> dict[str, object]:
    shutil.copytree(demo, folder, ignore=shutil.ignore_patterns("truth"))
    (folder / "segkit.yaml").write_text(f"threads: {threads}\n", encoding="utf-8")
    report = api.run(folder, "2025-Q3")
    return {
        s.name: (
            s.error,
            s.summary,
            list(s.notes),
            [(m.key, m.value, m.previous) for m in s.metrics],
            {k: t.frame for k, t in s.tables.items()},
        )
        for s in report.sections
    }


def test_one_and_two_threads_give_the_same_report(demo: Path, tmp_path: Path) -> None:
    rows = len(pd.read_parquet(demo / "transactions.parquet", columns=["amount"]))
    assert rows > 2 * 122_880
    one, two = _run(demo, tmp_path / "one", 1), _run(demo, tmp_path / "two", 2)
    assert one.keys() == two.keys()
    for name, (error, summary, notes, metrics, tables) in one.items():
        error2, summary2, notes2, metrics2, tables2 = two[name]
        assert error is None and error2 is None, name
        assert (summary, notes) == (summary2, notes2), name
        for (key, value, previous), (key2, value2, previous2) in zip(
            metrics, metrics2, strict=True
        ):
            same = value == value2 or (
                isinstance(value, float) and math.isnan(value) and math.isnan(value2 or 0.0)
            )
            assert (key, previous) == (key2, previous2) and same, (name, key, value, value2)
        assert tables.keys() == tables2.keys(), name
        for key, frame in tables.items():
            pd.testing.assert_frame_equal(frame, tables2[key], check_exact=True, obj=key)
