"""ABC-XYZ: clients by purchase volume (ABC) and by regularity of purchases (XYZ).

Definitions (the *window* is the ``window_months`` months ending with the period, default 12;
amounts in the report currency):

* **Volume**: a client's net amount (``basis: margin``: net margin) of the rows in the window,
  returns netted in. Only clients with at least one row in the window are classed.
* **ABC**: clients with a positive volume, largest first. A client is **A** while the volume of
  the clients strictly above them is below ``abc_shares[0]`` (80 %) of the positive total, so
  the client whose volume crosses (or reaches) 80 % is still A; **B** likewise up to
  ``abc_shares[0] + abc_shares[1]`` (95 %); the rest **C**. Equal volumes get the same class.
  Clients with zero or negative volume (only returns) are C.
* **Per-period purchases**: gross amount of rows with amount > 0 in each ``xyz_grain`` (month)
  of the window; a period without purchases counts as zero.
* **Observed periods**: the periods of the window from the one of the client's first purchase
  ever (as of the period end) on; a client with a longer history has all of them.
* **CV** (coefficient of variation): population standard deviation / mean of the per-period
  purchases over the observed periods.
* **XYZ**: **X** when CV <= ``xyz_thresholds[0]`` (0.5), **Y** when CV <= ``xyz_thresholds[1]``
  (1.0), else **Z**. A one-off buyer has one non-zero period, so CV = sqrt(n - 1) (3.3 over 12
  months): Z. A brand-new client with fewer than ``min_periods`` observed periods (3) is Z
  (``xyz_reason = new``): too little history to call regular. A client without purchases in the
  window (returns only) is Z (``xyz_reason = no purchases``).

The per-period series is aggregated by the engine (DuckDB or Spark), which returns one row per
client: CV comes from the sum and the sum of squares of the non-empty periods, with the empty
ones entering through the count of observed periods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import ibis
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segkit.analyses.features import client_features
from segkit.analyses.segmenter import client_ids, keep_labelled, positions, with_results
from segkit.data.engine import exact_sum, money_sum
from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.errors import ConfigError
from segkit.periods import Period, add_months

ABC = ("A", "B", "C")
XYZ = ("X", "Y", "Z")
#: The nine cells, best first: by volume class, then by regularity.
CELLS = tuple(a + x for a in ABC for x in XYZ)
#: The labels above, and the XYZ reasons, as objects to index per client.
_ABC, _XYZ, _CELLS = (np.array(v, dtype=object) for v in (ABC, XYZ, CELLS))
_REASONS = np.array(["no purchases", "new", "cv"], dtype=object)
_GRAIN_MONTHS = {"month": 1, "quarter": 3}

#: Approach, rules of interaction and price terms of each cell.
PLAYBOOK: Mapping[str, tuple[str, str, str]] = {
    "AX": (
        "Key regular clients: protect and grow the partnership.",
        "Personal manager, scheduled personal contact, priority service; plan supply and "
        "stock from their forecast.",
        "Long-term contract, volume discounts, stable prices; no discounts without a reason.",
    ),
    "AY": (
        "Key clients with an uneven rhythm: keep their demand, smooth it.",
        "Personal manager who learns their purchase cycle and contacts them ahead of each need.",
        "Volume discounts tied to an annual commitment; framework agreement.",
    ),
    "AZ": (
        "Key clients of occasional large deals: win each deal, turn them into regulars.",
        "Senior sales on every opportunity; keep in touch between deals.",
        "Deal-by-deal prices with project terms; incentives for a framework contract.",
    ),
    "BX": (
        "Middle regular clients: move them to A.",
        "Planned regular contacts, reorder reminders, cross- and upsell offers.",
        "List prices with a loyalty discount; volume steps that reward buying more.",
    ),
    "BY": (
        "Middle clients who buy from time to time: make them regular.",
        "Periodic campaigns and reminders tied to their needs.",
        "Standard terms; bundles and promotions that raise purchase frequency.",
    ),
    "BZ": (
        "Middle one-off clients: find out why they buy rarely, win a repeat purchase.",
        "Follow-up after each purchase, event-driven contacts, feedback on what they missed.",
        "Standard prices, prepayment; an offer for the next purchase.",
    ),
    "CX": (
        "Small regular clients: serve efficiently, grow where possible.",
        "Self-service, subscriptions and automatic reorders; e-mail contact.",
        "List prices; a discount for subscription or automatic reorder only.",
    ),
    "CY": (
        "Small occasional clients: low-cost service.",
        "Mass channels and self-service; no personal manager.",
        "List prices, minimum order size, no individual discounts.",
    ),
    "CZ": (
        "Small one-off clients: minimal effort, serve only at a profit.",
        "Mass information and self-service only; review relationships that run at a loss.",
        "List prices, prepayment, surcharges or a minimum for small orders.",
    ),
}


@dataclass(frozen=True)
class Settings:
    """Validated settings of the ABC-XYZ section."""

    basis: str
    window_months: int
    abc_shares: tuple[float, float, float]
    xyz_grain: str
    xyz_thresholds: tuple[float, float]
    min_periods: int

    @property
    def periods(self) -> int:
        """Periods of ``xyz_grain`` in the window."""
        return self.window_months // _GRAIN_MONTHS[self.xyz_grain]


def parse_settings(s: Mapping[str, Any]) -> Settings:
    """Check the settings; raise :class:`ConfigError` naming the key at fault."""
    where = "analyses.abc_xyz"
    if s["basis"] not in ("revenue", "margin"):
        raise ConfigError(f"{where}.basis must be revenue or margin, got {s['basis']!r}")
    if s["xyz_grain"] not in _GRAIN_MONTHS:
        raise ConfigError(f"{where}.xyz_grain must be month or quarter, got {s['xyz_grain']!r}")
    window = s["window_months"]
    step = _GRAIN_MONTHS[s["xyz_grain"]]
    if not isinstance(window, int) or window < 2 * step or window % step:
        raise ConfigError(
            f"{where}.window_months must be a whole number of {s['xyz_grain']}s, at least two, "
            f"got {window!r}"
        )
    shares = _numbers(s["abc_shares"], 3, f"{where}.abc_shares")
    if min(shares) <= 0 or abs(sum(shares) - 1) > 1e-6:
        raise ConfigError(
            f"{where}.abc_shares must be three positive shares (A, B, C) that sum to 1, "
            f"got {list(shares)} (sum {sum(shares):g})"
        )
    cuts = _numbers(s["xyz_thresholds"], 2, f"{where}.xyz_thresholds")
    if not 0 < cuts[0] < cuts[1]:
        raise ConfigError(
            f"{where}.xyz_thresholds must be two increasing positive CVs (X up to the first, "
            f"Y up to the second), got {list(cuts)}"
        )
    min_periods = s["min_periods"]
    if not isinstance(min_periods, int) or not 1 <= min_periods <= window // step:
        raise ConfigError(
            f"{where}.min_periods must be a whole number from 1 to the periods in the window "
            f"({window // step}), got {min_periods!r}"
        )
    return Settings(
        s["basis"],
        window,
        (shares[0], shares[1], shares[2]),
        s["xyz_grain"],
        (cuts[0], cuts[1]),
        min_periods,
    )


def _numbers(value: object, n: int, key: str) -> list[float]:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != n
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(f"{key} must be a list of {n} numbers, got {value!r}")
    return [float(v) for v in value]


# -- the per-client inputs, aggregated by the engine ---------------------------------------------
def period_activity(
    ctx: PeriodContext, period: Period, window_months: int = 12, grain: str = "month"
) -> pd.DataFrame:
    """Per-client purchase series summary over the window ending with ``period``. Cached.

    One row per client with a row in the window, sorted by ``customer_id``: ``revenue`` and
    ``margin`` (net, returns netted in; margin is revenue when the data has none), ``observed``
    periods, ``active`` periods (with a purchase), ``gross`` (sum of per-period purchases) and
    ``gross_sq`` (sum of their squares), and ``features_row``: the client's row in
    :func:`client_features` of the period (-1 for a client who never bought).
    """
    key = ("abc_xyz.activity", period, window_months, grain)
    return ctx.memo(key, lambda: _activity(ctx, period, window_months, grain))


def _activity(ctx: PeriodContext, period: Period, window_months: int, grain: str) -> pd.DataFrame:
    start = add_months(period.end, -window_months)
    step = _GRAIN_MONTHS[grain]
    n = window_months // step
    tx = ctx.view("transactions", period.end)
    # Only the window's rows are aggregated (a third of a three-year history); the first
    # purchase ever, which sets the observed periods, comes with the client features.
    w = tx.filter(tx.date >= ibis.timestamp(start))
    margin = w.margin if "margin" in ctx.dataset.columns("transactions") else w.amount
    month0 = start.year * 12 + start.month - 1
    b = w.group_by(
        w.customer_id, bucket=(w.date.year() * 12 + w.date.month() - 1 - month0) // step
    ).aggregate(
        revenue=money_sum(w.amount),
        margin=money_sum(margin),
        gross=money_sum(w.amount, w.amount > 0).fill_null(0.0),
    )
    c = b.group_by("customer_id").aggregate(
        revenue=money_sum(b.revenue),
        margin=money_sum(b.margin),
        active=b.count(where=b.gross > 0),
        gross=money_sum(b.gross),
        gross_sq=exact_sum(b.gross * b.gross),
    )
    out = ctx.execute(c.mutate(margin=c.margin.fill_null(c.revenue)).order_by("customer_id"))
    # Observed: the periods from the first purchase's on; none for a client who never bought.
    f = client_features(ctx, period)
    at = positions(client_ids(out), client_ids(f))
    first = np.append(f["first_purchase"].to_numpy(dtype="datetime64[M]"), np.datetime64("NaT"))
    months = (first[at] - np.datetime64(start, "M")).astype(np.int64)
    bucket = np.where(np.isnat(first[at]), n, np.clip(months // step, 0, n))
    out["observed"] = (n - bucket).astype(np.int32)
    out["features_row"] = at
    return out


def coefficient_of_variation(gross: np.ndarray, gross_sq: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Population CV of per-period purchases from their sum, sum of squares and count.

    Empty periods are zeros, so mean = gross / n and variance = gross_sq / n - mean^2. NaN
    where the mean is not positive (no purchases).
    """
    n = np.maximum(np.asarray(n, dtype=float), 1.0)
    mean = np.asarray(gross, dtype=float) / n
    var = np.maximum(np.asarray(gross_sq, dtype=float) / n - mean**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean > 0, np.sqrt(var) / mean, np.nan)


def abc_cutoffs(volumes: np.ndarray, shares: Sequence[float]) -> tuple[float, float]:
    """The smallest volume classed A and the smallest classed A or B (see module docstring).

    ``inf`` when no client qualifies. Worked example, shares 80/15/5 and volumes 50, 30, 10,
    6, 4 (total 100): above each are 0, 50, 80, 90, 96 %; A = 50, 30 (30 reaches 80 %),
    B = 10, 6 (6 crosses 95 %), C = 4; the cut-offs are 30 and 6.
    """
    x = np.sort(np.asarray(volumes, dtype=float))[::-1]
    x = x[x > 0]
    if x.size == 0:
        return np.inf, np.inf
    total = x.sum()
    # Volume strictly above each client: the cumulative sum before the first equal value, so
    # ties share one class whatever their order.
    before = np.concatenate([[0.0], np.cumsum(x)[:-1]])
    first_of_value = np.searchsorted(-x, -x, side="left")
    above = before[first_of_value] / total
    # The tolerance keeps an exact 80 % (0.8000000000000002 after summing) on the B side.
    a = x[above < shares[0] - 1e-9]
    ab = x[above < shares[0] + shares[1] - 1e-9]
    return float(a.min()), float(ab.min()) if ab.size else float(a.min())


class AbcXyzSegmenter:
    """ABC-XYZ cells with the ABC volume cut-offs learnt by :meth:`fit`.

    The XYZ thresholds are fixed settings, so only the ABC cut-offs (money) are learnt.
    """

    name = "abc_xyz"
    levels = CELLS

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cutoffs_: tuple[float, float] | None = None

    def features(self, ctx: PeriodContext, period: Period) -> pd.DataFrame:
        """Volume, CV and observed periods of each client active in the window."""
        s = self.settings
        a = period_activity(ctx, period, s.window_months, s.xyz_grain)
        # The activity's own columns (not copied): read only, and their ids, checked by
        # client_ids once, are then known to any section that checks them again.
        return pd.DataFrame(
            {
                "customer_id": a["customer_id"],
                "volume": a[s.basis],
                "cv": coefficient_of_variation(a["gross"], a["gross_sq"], a["observed"]),
                "observed": a["observed"],
                "active": a["active"],
            },
            copy=False,
        )

    def fit(self, features: pd.DataFrame) -> Self:
        self.cutoffs_ = abc_cutoffs(features["volume"].to_numpy(), self.settings.abc_shares)
        return self

    def classify(self, features: pd.DataFrame) -> pd.DataFrame:
        """``abc``, ``xyz``, ``xyz_reason`` and ``cell`` for each row of ``features``."""
        return self._classify(features)[0]

    def _classify(self, features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """:meth:`classify` and each row's cell as its position in :data:`CELLS`."""
        abc, xyz, new, cv = self._classes(features)
        cell = 3 * abc + xyz
        reason = np.where(np.isnan(cv), 0, np.where(new, 1, 2))
        # Indices into shared label objects: an np.where of texts became one new Python string
        # per client and column once in the frame.
        frame = pd.DataFrame(
            {
                "abc": _ABC[abc],
                "xyz": _XYZ[xyz],
                "xyz_reason": _REASONS[reason],
                "cell": _CELLS[cell],
            },
            index=features.index,
            copy=False,  # new arrays, not copied into one block
        )
        return frame, cell

    def _classes(self, features: pd.DataFrame) -> tuple[np.ndarray, ...]:
        """Each row's ABC and XYZ class (0-2), whether it is new, and its CV."""
        if self.cutoffs_ is None:
            raise RuntimeError("fit the segmenter before predicting")
        a_min, b_min = self.cutoffs_
        v = features["volume"].to_numpy(dtype=float)
        abc = np.where((v > 0) & (v >= a_min), 0, np.where((v > 0) & (v >= b_min), 1, 2))
        cv = features["cv"].to_numpy(dtype=float)
        new = features["observed"].to_numpy() < self.settings.min_periods
        x_cut, y_cut = self.settings.xyz_thresholds
        xyz = np.where(cv <= x_cut, 0, np.where(cv <= y_cut, 1, 2))  # NaN -> Z
        return abc, np.where(new, 2, xyz), new, cv

    def predict(self, features: pd.DataFrame) -> pd.Series:
        return self.classify(features)["cell"]

    def predict_codes(self, features: pd.DataFrame) -> np.ndarray:
        """Each row's cell as its position in :data:`CELLS` (see
        :mod:`segkit.analyses.segmenter`)."""
        abc, xyz, _, _ = self._classes(features)
        return 3 * abc + xyz


class AbcXyz:
    """The ABC-XYZ section: the 9-cell matrix with each cell's playbook."""

    name = "abc_xyz"
    title = "ABC-XYZ: volume and regularity"
    order = 22
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {
        "basis": "revenue",
        "window_months": 12,
        "abc_shares": [0.80, 0.15, 0.05],
        "xyz_grain": "month",
        "xyz_thresholds": [0.5, 1.0],
        "min_periods": 3,
    }
    definitions: Mapping[str, str] = {
        "Volume": "Net amount (or margin) of a client's rows in the 12 months to the period "
        "end, returns netted in.",
        "ABC": "Clients by volume, largest first: A while the volume of the clients above them "
        "is below 80 % of the positive total (the client crossing 80 % is A), B up to 95 %, "
        "the rest C; equal volumes share a class; zero or negative volume is C.",
        "CV": "Population standard deviation / mean of the gross purchases per month over the "
        "months observed (from the first purchase, at most 12); months without purchases "
        "count as zero.",
        "XYZ": "X: CV <= 0.5, Y: CV <= 1.0, Z: above, one-off buyers, clients with fewer than 3 "
        "months of history (new) and clients without purchases in the window.",
        "Revenue share": "A cell's share of the net volume of all classed clients.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        settings = parse_settings(ctx.settings)
        now, now_cells = self._classify(ctx, AbcXyzSegmenter(settings), ctx.period)
        before, before_cells = self._classify(ctx, AbcXyzSegmenter(settings), ctx.previous)
        unfitted = AbcXyzSegmenter(settings)
        what = "margin" if settings.basis == "margin" else "revenue"
        if now.empty:
            return Section(
                self.name,
                self.title,
                summary=f"No client has a transaction in the {settings.window_months} months "
                f"to the end of {ctx.period}.",
                data={"segmenter": unfitted, "clients": now},
            )
        cells = cell_table(now, now_cells)
        prev_cells = cell_table(before, before_cells) if len(before) else None

        def share(table: pd.DataFrame | None, col: str, keys: Sequence[str]) -> float | None:
            return None if table is None else float(table.loc[list(keys), col].sum())

        a_cells = [c for c in CELLS if c[0] == "A"]
        x_cells = [c for c in CELLS if c[1] == "X"]
        metrics = [
            Metric("clients", "Clients classed", len(now), "count", len(before) or None, True),
            Metric(
                "a_revenue_share",
                f"Share of {what} from A clients",
                share(cells, "revenue_share", a_cells),
                "share",
                share(prev_cells, "revenue_share", a_cells),
                headline=True,
            ),
            Metric(
                "a_client_share",
                "Share of clients in A",
                share(cells, "client_share", a_cells),
                "share",
                share(prev_cells, "client_share", a_cells),
            ),
            Metric(
                "ax_revenue_share",
                f"Share of {what} from AX clients",
                share(cells, "revenue_share", ["AX"]),
                "share",
                share(prev_cells, "revenue_share", ["AX"]),
                True,
            ),
            Metric(
                "x_client_share",
                "Share of regular (X) clients",
                share(cells, "client_share", x_cells),
                "share",
                share(prev_cells, "client_share", x_cells),
                True,
            ),
        ]
        notes = []
        new = int((now["xyz_reason"] == "new").sum())
        if new:
            notes.append(
                f"{new:,} client(s) with fewer than {settings.min_periods} "
                f"{settings.xyz_grain}s of history are classed Z (new)."
            )
        no_buy = int((now["xyz_reason"] == "no purchases").sum())
        if no_buy:
            notes.append(
                f"{no_buy:,} client(s) had only returns in the window: C by volume, Z by "
                "regularity."
            )
        if settings.basis == "margin" and "margin" not in ctx.dataset.columns("transactions"):
            notes.append("The transactions have no margin or cost column: revenue is used.")
        a_share = float(cells.loc[a_cells, "revenue_share"].sum())
        a_clients = float(cells.loc[a_cells, "client_share"].sum())
        summary = (
            f"{a_clients:.0%} of clients (A) bring {a_share:.0%} of "
            f"{what} over the {settings.window_months} months to the end of {ctx.period}; "
            f"{int(cells.loc['AX', 'clients']):,} AX clients are the regular core."
        )
        return Section(
            self.name,
            self.title,
            summary=summary,
            metrics=metrics,
            tables={
                "matrix_clients": Table(
                    _pivot(cells, "clients"),
                    formats=dict.fromkeys(XYZ, "count"),
                    caption="Clients per cell (rows: volume, columns: regularity)",
                ),
                "matrix_revenue": Table(
                    _pivot(cells, "revenue_share"),
                    formats=dict.fromkeys(XYZ, "share"),
                    caption=f"Share of {what} per cell",
                ),
                "cells": Table(
                    cells.reset_index(),
                    formats={
                        "clients": "count",
                        "client_share": "share",
                        "revenue": "money",
                        "revenue_share": "share",
                    },
                    caption="The nine cells with their playbook",
                ),
            },
            figures=[_figure(cells, ctx.period)],
            notes=notes,
            data={"segmenter": unfitted, "clients": now},
        )

    @staticmethod
    def _classify(
        ctx: PeriodContext, seg: AbcXyzSegmenter, period: Period
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Each client of ``period`` with features and cells, cut-offs learnt on that period
        (kept for migration and stratification, so ``seg`` must not be fitted again), and
        their cells as positions in :data:`CELLS`."""
        f = seg.features(ctx, period)
        classes, cell = seg.fit(f)._classify(f)
        out = with_results(f, classes)
        keep_labelled(ctx, AbcXyz.name, period, seg, f, out["cell"], cell)
        return out, cell


def cell_table(clients: pd.DataFrame, cells: np.ndarray) -> pd.DataFrame:
    """Per cell (index, all nine): clients, shares of clients and volume, and the playbook.

    ``cells`` are the clients' cells as positions in :data:`CELLS`: grouped by them as
    categories, not by hashing the cell names again."""
    by_cell = pd.Categorical.from_codes(cells, categories=pd.Index(CELLS))
    g = clients["volume"].groupby(by_cell, observed=False).agg(["size", "sum"])
    g.index = pd.Index(CELLS)
    total = clients["volume"].sum()
    out = pd.DataFrame(
        {
            "clients": g["size"].astype(int),
            "client_share": g["size"] / max(len(clients), 1),
            "revenue": g["sum"],
            "revenue_share": g["sum"] / total if total else np.nan,
            "approach": [PLAYBOOK[c][0] for c in CELLS],
            "interaction": [PLAYBOOK[c][1] for c in CELLS],
            "price_terms": [PLAYBOOK[c][2] for c in CELLS],
        },
        index=pd.Index(CELLS, name="cell"),
    )
    return out


def _pivot(cells: pd.DataFrame, col: str) -> pd.DataFrame:
    grid = pd.DataFrame(
        [[cells.loc[a + x, col] for x in XYZ] for a in ABC], columns=list(XYZ), index=list(ABC)
    )
    return grid.rename_axis("class").reset_index()


def _figure(cells: pd.DataFrame, period: Period) -> Figure:
    share = np.array([[cells.loc[a + x, "revenue_share"] for x in XYZ] for a in ABC], float)
    count = np.array([[cells.loc[a + x, "clients"] for x in XYZ] for a in ABC], int)
    fig = Figure(figsize=(5.2, 4.2), dpi=100)
    ax = fig.subplots()
    ax.imshow(np.nan_to_num(share), cmap="Blues", vmin=0, vmax=max(np.nanmax(share), 1e-9))
    for i in range(3):
        for j in range(3):
            dark = np.nan_to_num(share[i, j]) > 0.6 * np.nanmax(share)
            ax.text(
                j,
                i,
                f"{ABC[i]}{XYZ[j]}\n{np.nan_to_num(share[i, j]):.0%} of value\n{count[i, j]:,}",
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize=9,
            )
    ax.set_xticks(range(3), ["X regular", "Y irregular", "Z one-off"])
    ax.set_yticks(range(3), ["A key", "B middle", "C small"])
    ax.set_title(f"ABC-XYZ, {period}: share of value and clients")
    fig.tight_layout()
    return fig


@hookimpl
def register_analyses(register: Any) -> None:
    register(AbcXyz())
