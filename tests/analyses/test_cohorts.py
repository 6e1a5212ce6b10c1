"""Cohort retention with incomplete cells, by hand."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from relationship_data import metrics, run_analysis, write_folder

from segkit.analyses.cohorts import Cohorts, retention_matrix
from segkit.errors import ConfigError

CUSTOMERS = """
    customer_id,signup_date
    A,2024-01-05
    B,2024-01-20
    C,2024-02-10
    D,2024-03-01
    E,2023-06-01
"""
# Purchases by month: A Jan, Feb, Mar (and Apr, after the cut-off); B Jan; C Feb, Mar; D Mar.
# E's cohort (2023-06) is outside the 3 cohorts shown.
TRANSACTIONS = """
    customer_id,date,amount
    A,2024-01-05,10
    A,2024-02-10,10
    A,2024-03-03,10
    A,2024-04-05,10
    B,2024-01-20,10
    C,2024-02-10,10
    C,2024-03-15,10
    D,2024-03-01,10
    E,2024-03-01,10
"""


def test_section_marks_incomplete_cells(tmp_path: Path) -> None:
    data = write_folder(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS)
    section = run_analysis(Cohorts(), data, "2024-03", {"cohorts": 3, "months": 2})
    share = section.data["retention"]
    jan, feb, mar = (2024 * 12 + m for m in (0, 1, 2))
    # 2024-01 (A, B): m0 2/2, m1 (Feb) A -> 1/2, m2 (Mar) A -> 1/2.
    assert share.loc[jan].tolist() == pytest.approx([1.0, 0.5, 0.5])
    # 2024-02 (C): m0 1, m1 (Mar) 1, m2 (Apr) not over at the cut-off -> NaN.
    assert share.loc[feb, 0] == 1.0 and share.loc[feb, 1] == 1.0
    assert np.isnan(share.loc[feb, 2])
    # 2024-03 (D): m0 1, later months NaN.
    assert share.loc[mar, 0] == 1.0 and share.loc[mar, [1, 2]].isna().all()
    avg = section.data["averages"]
    # m1: (1 + 1) active / (2 + 1) customers of the complete cells = 2/3 over 2 cohorts; an
    # average treating D's missing month as 0 would give (0.5 + 1 + 0) / 3 = 0.5.
    assert avg.loc["retention", 1] == pytest.approx(2 / 3)
    assert avg.loc["cohorts", 1] == 2
    assert avg.loc["retention", 2] == pytest.approx(0.5)  # only January is complete
    assert avg.loc["cohorts", 2] == 1
    m = metrics(section)
    # At the end of February: cohorts 2023-12 (empty), January (m1 = 1/2), February (m1 not
    # over) -> 1/2.
    assert m["retention_m1"].value == pytest.approx(2 / 3)
    assert m["retention_m1"].previous == pytest.approx(0.5)
    assert "retention_m3" not in m  # months = 2
    table = section.tables["retention"].frame.set_index("cohort")
    assert table.loc["2024-01", "customers"] == 2
    assert pd.isna(table.loc["2024-02", "m2"])


def test_retention_matrix_with_an_empty_cohort() -> None:
    # Cohorts 0 (2 customers), 1 (empty), 2 (1 customer); cut-off month index 3.
    sizes = pd.Series([2, 0, 1], index=[0, 1, 2])
    # One customer of cohort 0 buys in months 0, 1 and 2; cohort 2's buys in month 2.
    active = pd.DataFrame({"cohort": [0, 0, 0, 2], "month": [0, 1, 2, 2], "customers": 1})
    share, avg = retention_matrix(sizes, active, date(1, 4, 1), 1)
    # date(1, 4, 1) has month index 1 x 12 + 3 = 15: every cell below is complete.
    assert share.loc[1].isna().all()  # an empty cohort has no rate, not 0 %
    assert avg.loc["retention", 0].item() == pytest.approx((1 + 1) / (2 + 1))
    assert avg.loc["cohorts", 0] == 2


@pytest.mark.parametrize("value", ["12", 0, 1.5, True])
def test_bad_setting_is_a_config_error(tmp_path: Path, value: object) -> None:
    data = write_folder(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS)
    with pytest.raises(ConfigError, match="analyses.cohorts.months must be a whole number >= 1"):
        run_analysis(Cohorts(), data, "2024-03", {"months": value})
