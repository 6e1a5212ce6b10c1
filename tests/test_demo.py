"""The demo company: determinism, the data contract, event timing and its statistical truth.

Statistical checks compare the data with expectations derived here from the stated model (the
BG/NBD closed form, the Gamma-Gamma mean, the funnel's 80 -> 40 -> 4 -> 1), not with the
generator's code. Tolerances are ``Z`` standard errors of the estimate: with a fixed seed the
outcome is deterministic, and a bias of a few per cent in the generator would fail them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from segkit.data.contract import TABLES
from segkit.data.demo import DemoInfo, generate

N = 10_000
#: Size of the extra runs that only check determinism.
SMALL = 1000
SEED = 7
Z = 4.0
START = pd.Timestamp("2023-01-01")
END = pd.Timestamp("2026-01-01")
TIME_COLUMNS = {
    "transactions": ("date",),
    "subscriptions": ("start_date", "end_date"),
    "surveys": ("date",),
    "tickets": ("opened_at", "first_response_at", "resolved_at"),
    "funnel": ("entered_at",),
    "offers": ("offered_at",),
    "marketing": ("month",),
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoInfo:
    return generate(tmp_path_factory.mktemp("demo"), customers=N, seed=SEED)


@pytest.fixture(scope="module")
def tables(demo: DemoInfo) -> dict[str, pd.DataFrame]:
    """Every table as text (CSV) or typed (Parquet), parsing nothing on the reader's behalf."""
    out = {"transactions": pd.read_parquet(demo.out / "transactions.parquet")}
    for name in TABLES:
        if name != "transactions":
            out[name] = pd.read_csv(
                demo.out / f"{name}.csv", dtype=str, keep_default_na=False, encoding="utf-8"
            )
    return out


@pytest.fixture(scope="module")
def truth(demo: DemoInfo) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((demo.out / "truth" / "truth.json").read_text("utf-8"))
    return data


@pytest.fixture(scope="module")
def latent(demo: DemoInfo) -> pd.DataFrame:
    return pd.read_parquet(demo.out / "truth" / "customers.parquet")


@pytest.fixture(scope="module")
def signup(tables: dict[str, pd.DataFrame]) -> pd.Series:
    c = tables["customers"]
    return pd.Series(
        pd.to_datetime(c["signup_date"], format="%Y-%m-%d").to_numpy(), c["customer_id"]
    )


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _times(values: pd.Series) -> pd.Series:
    """Text or timestamps -> timestamps; empty text -> NaT."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    return pd.to_datetime(values.replace("", None), format="ISO8601")


# --- determinism --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DemoInfo:
    return generate(tmp_path_factory.mktemp("small"), customers=SMALL, seed=SEED)


def test_same_seed_gives_identical_bytes(small: DemoInfo, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", customers=SMALL, seed=SEED)
    first = _hashes(small.out)
    assert len(first) == 10
    assert _hashes(again.out) == first
    assert again.rows == small.rows


def test_other_seed_changes_every_file(small: DemoInfo, tmp_path: Path) -> None:
    other = _hashes(generate(tmp_path / "other", customers=SMALL, seed=SEED + 1).out)
    first = _hashes(small.out)
    assert other.keys() == first.keys()
    assert all(other[k] != first[k] for k in first)


def test_info_describes_what_was_written(demo: DemoInfo, tables: dict[str, pd.DataFrame]) -> None:
    assert demo.window_start.isoformat() == "2023-01-01"
    assert demo.window_end.isoformat() == "2026-01-01"
    for name, frame in tables.items():
        assert demo.files[name].exists()
        assert demo.rows[name] == len(frame)
    assert demo.rows["customers"] == N


# --- the contract --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TABLES))
def test_tables_follow_the_contract(name: str, tables: dict[str, pd.DataFrame]) -> None:
    frame = tables[name]
    spec = TABLES[name]
    assert set(spec.required_columns) <= set(frame.columns)
    assert len(frame) > 0
    for col in spec.columns:
        if col.name not in frame.columns:
            continue
        values = frame[col.name]
        empty = values.isna() if values.dtype != object else values.isna() | (values == "")
        if not col.nullable and col.name in spec.required_columns:
            assert not empty.any(), col.name
        present = values[~empty]
        if col.kind == "id":
            assert (present.astype(str).str.strip() == present.astype(str)).all()
        elif col.kind == "date":
            assert _times(present).notna().all(), col.name
        elif col.kind == "number":
            numbers = pd.to_numeric(present).astype(float)
            assert np.isfinite(numbers).all(), col.name
            if col.minimum is not None:
                assert (numbers >= col.minimum).all(), col.name
            if col.maximum is not None:
                assert (numbers <= col.maximum).all(), col.name
        elif col.kind == "bool":
            assert set(present) <= {"true", "false"}
        if col.choices is not None:
            assert set(present.str.lower()) <= set(col.choices)


def test_customer_ids_unique_and_referenced(tables: dict[str, pd.DataFrame]) -> None:
    ids = tables["customers"]["customer_id"]
    assert ids.is_unique
    assert ids.str.fullmatch(r"C\d{6}").all()
    for name in ("transactions", "subscriptions", "surveys", "tickets", "offers"):
        assert set(tables[name]["customer_id"]) <= set(ids), name


def test_transactions_are_typed_parquet(tables: dict[str, pd.DataFrame]) -> None:
    tx = tables["transactions"]
    assert str(tx["date"].dtype).startswith("datetime64")
    assert tx["date"].dt.tz is None
    assert tx["amount"].dtype == float
    assert (tx["amount"] != 0).all()
    # Realistic time of day: few purchases at night, many in the late morning.
    hours = tx["date"].dt.hour
    assert (hours < 6).mean() < 0.05 < (hours.between(9, 12)).mean() / 4


def test_hostile_names_survive(tables: dict[str, pd.DataFrame]) -> None:
    names = set(tables["customers"]["name"])
    for hostile in ("<script>alert('x')</script> GmbH", "Bold <b>&</b> Sons", '"onerror="alert(1)'):
        assert hostile in names


def test_referrals_count_referred_customers(tables: dict[str, pd.DataFrame]) -> None:
    c = tables["customers"]
    referred = c["acquisition_source"] == "referral"
    # The earliest customer cannot have been referred by another customer.
    assert c["referrals"].astype(int).sum() == referred.sum() - referred.iloc[0]


# --- timing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TIME_COLUMNS))
def test_no_event_outside_the_window(name: str, tables: dict[str, pd.DataFrame]) -> None:
    for column in TIME_COLUMNS[name]:
        when = _times(tables[name][column]).dropna()
        assert (when < END).all(), column
        if (name, column) != ("subscriptions", "start_date"):  # late entry: may start before
            assert (when >= START).all(), column


@pytest.mark.parametrize("name", ["transactions", "subscriptions", "surveys", "tickets", "offers"])
def test_no_event_before_signup(
    name: str, tables: dict[str, pd.DataFrame], signup: pd.Series
) -> None:
    frame = tables[name]
    since = signup.loc[frame["customer_id"]].to_numpy()
    for column in TIME_COLUMNS[name]:
        when = _times(frame[column]).to_numpy()
        assert not (when < since).any(), column


def test_first_purchase_is_at_signup(tables: dict[str, pd.DataFrame], signup: pd.Series) -> None:
    tx = tables["transactions"]
    first = tx.groupby("customer_id")["date"].min().dt.normalize()
    new = signup[signup >= START]
    assert set(new.index) <= set(first.index)
    assert (first.loc[new.index] == new).all()
    legacy = signup[signup < START]
    assert 0.08 < len(legacy) / len(signup) < 0.12


def test_ticket_times_are_ordered_and_censored(tables: dict[str, pd.DataFrame]) -> None:
    t = tables["tickets"]
    opened, first, resolved = (_times(t[c]) for c in TIME_COLUMNS["tickets"])
    assert (first.dropna() >= opened[first.notna()]).all()
    both = first.notna() & resolved.notna()
    assert (resolved[both] >= first[both]).all()
    assert resolved.isna().any()
    assert (first.isna() & resolved.notna()).any()  # response never recorded


# --- orders and returns --------------------------------------------------------------------------


def test_orders_have_one_to_three_lines(tables: dict[str, pd.DataFrame]) -> None:
    sales = tables["transactions"].query("amount > 0")
    per_order = sales.groupby("order_id").agg(
        lines=("amount", "size"), customers=("customer_id", "nunique"), times=("date", "nunique")
    )
    assert per_order["lines"].between(1, 3).all()
    assert set(per_order["lines"]) == {1, 2, 3}
    assert (per_order["customers"] == 1).all() and (per_order["times"] == 1).all()


def test_returns_refer_to_earlier_orders(tables: dict[str, pd.DataFrame]) -> None:
    tx = tables["transactions"]
    sales, returns = tx[tx["amount"] > 0], tx[tx["amount"] < 0]
    orders = sales.groupby("order_id").agg(
        customer=("customer_id", "first"), day=("date", "first"), amount=("amount", "sum")
    )
    assert set(returns["order_id"]) <= set(orders.index)
    matched = orders.loc[returns["order_id"]]
    assert (matched["customer"].to_numpy() == returns["customer_id"].to_numpy()).all()
    lag = returns["date"].dt.normalize().to_numpy() - matched["day"].dt.normalize().to_numpy()
    assert (lag >= np.timedelta64(1, "D")).all() and (lag <= np.timedelta64(30, "D")).all()
    assert (-returns["amount"].to_numpy() <= matched["amount"].to_numpy() + 1e-9).all()
    assert (returns["margin"] <= 0).all() and (returns["quantity"] < 0).all()
    # About 3 % of orders, less those whose return would fall after the window.
    share = returns["order_id"].nunique() / len(orders)
    se = np.sqrt(0.03 * 0.97 / len(orders))
    assert 0.03 - Z * se - 0.002 < share < 0.03 + Z * se


def test_margin_is_amount_times_category_rate(
    tables: dict[str, pd.DataFrame], truth: dict[str, Any]
) -> None:
    tx = tables["transactions"]
    rate = tx["category"].map(truth["params"]["orders"]["margin_rate"])
    error = np.abs(tx["margin"] - tx["amount"] * rate)
    # Half a cent of rounding on sales; returns round the line's margin share once more.
    assert (error[tx["amount"] > 0] <= 0.005 + 1e-9).all()
    assert (error[tx["amount"] < 0] <= 0.01 + 1e-9).all()


# --- statistical truth ---------------------------------------------------------------------------


def _bgnbd_expected_repeats(t: np.ndarray, r: float, alpha: float, a: float, b: float) -> Any:
    """E[X(t)] of BG/NBD (Fader, Hardie & Lee 2005, eq. 9), t in weeks."""
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


def test_repeat_purchases_follow_bgnbd(
    tables: dict[str, pd.DataFrame], signup: pd.Series, truth: dict[str, Any]
) -> None:
    sales = tables["transactions"].query("amount > 0")
    per = sales.groupby("customer_id").agg(first=("date", "min"), orders=("order_id", "nunique"))
    new = per.loc[signup.index[signup >= START]]
    repeats = new["orders"].to_numpy() - 1
    weeks = ((END - new["first"]).dt.total_seconds() / (7 * 86_400)).to_numpy()
    bg = truth["params"]["bgnbd"]
    expected = _bgnbd_expected_repeats(weeks, bg["r"], bg["alpha"], bg["a"], bg["b"])
    se = repeats.std(ddof=1) / np.sqrt(len(repeats))
    assert abs(repeats.mean() - expected.mean()) < Z * se
    # Power: a process 12 % slower (or dropout right after the first purchase) would fail.
    assert 0.12 * expected.mean() > Z * se
    # No repeat by the window end: P(X(t) = 0) = (alpha / (alpha + t))^r, as nobody drops out
    # before a first repeat purchase.
    p_zero = (bg["alpha"] / (bg["alpha"] + weeks)) ** bg["r"]
    se_zero = np.sqrt(np.mean(p_zero * (1 - p_zero)) / len(repeats))
    assert abs(np.mean(repeats == 0) - p_zero.mean()) < Z * se_zero
    assert 0.1 * p_zero.mean() > Z * se_zero


def test_mean_order_value_follows_gamma_gamma(
    tables: dict[str, pd.DataFrame], truth: dict[str, Any]
) -> None:
    sales = tables["transactions"].query("amount > 0")
    order_value = sales.groupby(["customer_id", "order_id"])["amount"].sum()
    # E[mean order value of a customer] = E[p / nu] = p gamma / (q - 1), whatever their count.
    per_customer = order_value.groupby(level="customer_id").mean()
    gg = truth["params"]["gamma_gamma"]
    expected = gg["p"] * gg["gamma"] / (gg["q"] - 1)
    se = per_customer.std(ddof=1) / np.sqrt(len(per_customer))
    assert abs(per_customer.mean() - expected) < Z * se
    assert 0.05 * expected > Z * se
    assert 60 <= expected <= 120


def test_funnel_stages_in_order_and_linked(
    tables: dict[str, pd.DataFrame], signup: pd.Series
) -> None:
    f = tables["funnel"]
    stages = ["call", "proposal", "meeting", "buyer"]
    rank = f["stage"].map({s: i for i, s in enumerate(stages)})
    assert rank.notna().all()
    when = _times(f["entered_at"])
    # Each lead reached a prefix of the stages, one row each, in stage and time order.
    assert f["lead_id"].ne(f["lead_id"].shift()).sum() == f["lead_id"].nunique()  # contiguous
    assert (rank == f.groupby("lead_id", sort=False).cumcount()).all()
    assert (when.groupby(f["lead_id"]).diff().dropna() > pd.Timedelta(0)).all()
    buyers = f[f["stage"] == "buyer"]
    assert (f.loc[f["stage"] != "buyer", "customer_id"] == "").all()
    assert buyers["customer_id"].is_unique and (buyers["customer_id"] != "").all()
    customers = tables["customers"].set_index("customer_id")
    assert (customers.loc[buyers["customer_id"], "acquisition_source"] == "outbound").all()
    bought = _times(buyers["entered_at"]).dt.normalize().to_numpy()
    assert (signup.loc[buyers["customer_id"]].to_numpy() == bought).all()


def test_funnel_conversion_is_80_40_4_1(tables: dict[str, pd.DataFrame]) -> None:
    f = tables["funnel"].assign(when=lambda d: _times(d["entered_at"]))
    # Only leads whose previous stage is long before the window end, so no step is censored.
    cutoff = END - pd.Timedelta(days=200)
    stages = ["call", "proposal", "meeting", "buyer"]
    for step, expected in zip(range(3), (0.50, 0.10, 0.25), strict=True):
        came = f[(f["stage"] == stages[step]) & (f["when"] < cutoff)]["lead_id"]
        went = f[f["stage"] == stages[step + 1]]["lead_id"].isin(came).sum()
        se = np.sqrt(expected * (1 - expected) / len(came))
        assert abs(went / len(came) - expected) < Z * se, stages[step]


def test_value_classes_and_pareto(
    tables: dict[str, pd.DataFrame], latent: pd.DataFrame, truth: dict[str, Any]
) -> None:
    gg_p = truth["params"]["gamma_gamma"]["p"]
    value = latent["lambda_per_week"] * 52 * gg_p / latent["nu"]
    assert np.allclose(value, latent["expected_annual_value"])
    order = latent.assign(v=value).sort_values("v", ascending=False)["value_class"].to_numpy()
    assert list(order[: N // 5]) == ["key"] * (N // 5)
    shares = {k: v / N for k, v in pd.Series(order).value_counts().items()}
    assert shares == {"key": 0.2, "middle": 0.3, "small": 0.5}
    revenue = tables["transactions"].groupby("customer_id")["amount"].sum().sort_values()[::-1]
    top = revenue.iloc[: len(revenue) // 5].sum() / revenue.sum()
    assert 0.65 < top < 0.9  # a visible Pareto concentration


def test_offer_acceptance_by_latent_class(
    tables: dict[str, pd.DataFrame], latent: pd.DataFrame, truth: dict[str, Any]
) -> None:
    o = tables["offers"].merge(latent, on="customer_id")
    alive = o["death_at"].isna() | (_times(o["offered_at"]) < o["death_at"])
    stated = truth["params"]["offers"]
    accepted = o["accepted"].eq("true")
    for cls, p in stated["acceptance"].items():
        got = accepted[alive & (o["value_class"] == cls)]
        se = np.sqrt(p * (1 - p) / len(got))
        assert abs(got.mean() - p) < Z * se, cls
    # All offers pooled: accepted count vs the sum of the stated probabilities.
    prob = (
        o["value_class"].map(stated["acceptance"]).where(alive, lambda p: p * stated["dead_factor"])
    )
    se = np.sqrt((prob * (1 - prob)).sum())
    assert abs(accepted.sum() - prob.sum()) < Z * se
    assert 0.15 * prob.sum() > Z * se


def test_scores_track_latent_loyalty(tables: dict[str, pd.DataFrame], latent: pd.DataFrame) -> None:
    s = tables["surveys"].merge(latent, on="customer_id")
    nps = pd.to_numeric(s["nps"].replace("", None)).astype(float)
    csat = pd.to_numeric(s["csat"].replace("", None)).astype(float)
    assert nps.isna().any() and csat.isna().any() and not (nps.isna() & csat.isna()).any()
    assert np.corrcoef(np.log(s["lambda_per_week"])[nps.notna()], nps.dropna())[0, 1] > 0.2
    assert csat[s["alive_at_end"]].mean() > csat[~s["alive_at_end"]].mean()


def test_ticket_times_have_stated_medians(
    tables: dict[str, pd.DataFrame], truth: dict[str, Any]
) -> None:
    t = tables["tickets"]
    opened, first, resolved = (_times(t[c]) for c in TIME_COLUMNS["tickets"])
    early = opened < END - pd.Timedelta(days=60)  # far from the censoring point
    stated = truth["params"]["tickets"]
    for start, stop, median, sigma in (
        (opened, first, "first_response_median_hours", "first_response_sigma"),
        (first, resolved, "resolution_median_hours", "resolution_sigma"),
    ):
        hours = ((stop - start)[early].dropna().dt.total_seconds() / 3600).to_numpy()
        # Sample median of a lognormal: sd(log median) ~ 1.2533 sigma / sqrt(n).
        se = 1.2533 * stated[sigma] / np.sqrt(len(hours))
        assert abs(np.log(np.median(hours)) - np.log(stated[median])) < Z * se, median


def test_subscriptions_about_30_percent_and_left_truncated(tables: dict[str, pd.DataFrame]) -> None:
    s = tables["subscriptions"]
    start, end = _times(s["start_date"]), _times(s["end_date"])
    assert 0.2 < s["customer_id"].nunique() / N < 0.35
    assert (start < START).any() and (end.isna()).any()
    assert (end.dropna() >= start[end.notna()]).all()
    assert set(s["plan"]) == {"basic", "pro", "enterprise"}


def test_an_order_never_lists_a_product_twice(tables: dict[str, pd.DataFrame]) -> None:
    """Two lines of one order with the same product could be whole-row duplicates, which the
    loader rejects as a doubled export."""
    sales = tables["transactions"]
    sales = sales[sales["amount"] > 0]
    assert not sales.duplicated(["order_id", "product"]).any()
