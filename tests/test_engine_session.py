"""The DuckDB session the analyses query."""

from __future__ import annotations

from pathlib import Path

from segkit.api import open_data


def test_the_session_keeps_the_configured_time_zone(tmp_path: Path) -> None:
    # Ibis sets a connection's session time zone to UTC; the loader's zone is put back.
    (tmp_path / "transactions.csv").write_text("customer_id,date,amount\nc1,2024-03-01,10\n")
    (tmp_path / "segkit.yaml").write_text("timezone: America/New_York\n")
    dataset = open_data(tmp_path)
    assert dataset.con is not None
    zone = dataset.con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
    assert zone == "America/New_York"
