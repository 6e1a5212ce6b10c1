"""Customer lifetime value, model-based churn, VIP clients at risk, and the model's holdout test.

Definitions (per period ``[start, end)``, data as known at ``end``; formulas in
:mod:`segkit.models.clv`):

* **Purchase model**: BG/NBD (``model: bgnbd``; or ``mbgnbd``, ``pnbd``) fitted in weeks on
  :func:`segkit.data.summarize.summarize` of the transactions before the cut-off (a purchase is
  a day with a positive net amount), and Gamma-Gamma on the clients' mean repeat-purchase value.
  A client whose history starts before the data window is taken as acquired at their first
  purchase in the data.
* **CLV (purchases)** over ``horizon_months``: ``margin x E[spend] x sum_k dE_k / (1 + d)^k``,
  ``dE_k`` the expected purchases in month k, ``d = (1 + annual_discount_rate)^(1/12) - 1``.
  ``margin_rate: data`` uses the transactions' total margin over total amount (1 without a
  margin column).
* **CLV (contracts)**: ``subscription_margin_rate x monthly value x sum_k S(a + k) / S(a) /
  (1 + d)^k`` per active subscription of age a months, S from the churn section's Weibull AFT
  model. **CLV** = the two added.
* **95 % intervals** of total and mean CLV: parametric bootstrap, ``interval_draws`` parameter
  vectors from each model's asymptotic normal (inverse Hessian); the purchase part is evaluated
  on a random sample of ``interval_sample`` clients and its relative spread applied to the total.
* **P(alive)**: the purchase model's probability that the client has not dropped out.
  A client **churned** in the period when P(alive) was >= ``alive_threshold`` at the previous
  period's end and is below it now; the **churn rate** is the churned over the clients at or
  above the threshold then. Other thresholds are shown beside it (sensitivity).
* **VIP at risk**: VIP clients (tier ``vip`` from the tiers section; without it the top
  ``vip_share`` by CLV) whose P(alive) fell by at least ``vip_drop`` since the previous
  period's end, largest drop first.
* **Holdout test**: the model fitted on the data before ``end - holdout_months`` predicts each
  client's purchases in the last ``holdout_months``; predicted and actual are compared per
  calibration-frequency bucket and cumulatively month by month.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segkit import survival
from segkit.analyses.churn import ContractModel, contract_model
from segkit.analyses.options import number
from segkit.data.engine import money_sum
from segkit.data.summarize import UNIT_DAYS, Unit, purchase_days, summarize
from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.errors import ConfigError
from segkit.models import BetaGeo, ConvergenceError, GammaGamma, ModifiedBetaGeo, ParetoNBD
from segkit.models._base import ConvergenceWarning, TransactionFitter
from segkit.models.clv import (
    contract_value,
    cumulative_purchases,
    discounted_purchases,
    parameter_draws,
    with_params,
)
from segkit.periods import Period, add_months

MODELS: dict[str, type[TransactionFitter]] = {
    "bgnbd": BetaGeo,
    "mbgnbd": ModifiedBetaGeo,
    "pnbd": ParetoNBD,
}
UNIT: Unit = "W"
BUCKETS = ("0", "1", "2", "3", "4", "5", "6", "7+")
F = TypeVar("F")


@dataclass(frozen=True)
class PurchaseFit:
    """The purchase and spend models fitted on the data before ``as_of``.

    ``clients`` is the summary (customer_id, frequency, recency, T in weeks, monetary_value)
    with ``p_alive``; ``model`` / ``spend`` are None when they could not be fitted (``problem``).
    """

    as_of: date
    clients: pd.DataFrame
    model: TransactionFitter | None
    spend: GammaGamma | None
    problem: str | None


def fit_purchases(ctx: PeriodContext, cutoff: date, model_name: str) -> PurchaseFit:
    """:class:`PurchaseFit` as of ``cutoff`` (cached per run)."""
    return ctx.memo(("clv_fit", cutoff, model_name), lambda: _fit(ctx, cutoff, model_name))


def _transactions(ctx: PeriodContext, cutoff: date) -> ir.Table:
    return ctx.view("transactions", cutoff).select("customer_id", "date", "amount")


def _attempt(fit: Callable[[], F], what: str, problems: list[str]) -> F | None:
    """``fit()``, or None with the reason added to ``problems`` when the input does not allow
    a fit (the models raise ValueError or ConvergenceError saying what to do)."""
    try:
        return fit()
    except (ValueError, ConvergenceError) as exc:
        problems.append(f"{what} could not be fitted: {exc}")
        return None


def _fit_spend(clients: pd.DataFrame) -> GammaGamma:
    repeat = clients[(clients["frequency"] > 0) & (clients["monetary_value"] > 0)]
    spend = GammaGamma().fit(repeat["frequency"], repeat["monetary_value"])
    if spend.params_["q"] <= 1:
        raise ValueError(
            f"q = {spend.params_['q']:.3g} <= 1, so the mean spend is infinite; check the "
            "amounts for extreme outliers"
        )
    return spend


def _fit(ctx: PeriodContext, cutoff: date, model_name: str) -> PurchaseFit:
    clients = summarize(_transactions(ctx, cutoff), cutoff, UNIT).reset_index()
    clients["p_alive"] = np.nan
    if not (clients["frequency"] > 0).any():
        return PurchaseFit(
            cutoff,
            clients,
            None,
            None,
            f"No client bought twice before {cutoff}: the purchase "
            "model needs repeat purchases; a longer history is needed.",
        )
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model = _attempt(
            lambda: MODELS[model_name]().fit(
                clients["frequency"], clients["recency"], clients["T"]
            ),
            "The purchase model",
            problems,
        )
        spend = _attempt(lambda: _fit_spend(clients), "The spend (Gamma-Gamma) model", problems)
    problems += [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    if model is not None and not model.converged_:
        problems.append("The purchase model did not converge; its figures are left out.")
        model = None
    if model is not None:
        clients["p_alive"] = model.probability_alive(
            clients["frequency"], clients["recency"], clients["T"]
        )
    return PurchaseFit(cutoff, clients, model, spend, " ".join(problems) or None)


def margin_rate(ctx: PeriodContext, setting: Any) -> tuple[float, str]:
    """The margin rate to apply to spend, and how it was obtained."""
    if setting != "data":
        try:
            rate = float(setting)
        except (TypeError, ValueError):
            rate = np.nan
        if not 0 < rate <= 1:
            raise ConfigError(
                f"analyses.clv.margin_rate must be 'data' or a number in (0, 1], got {setting!r}"
            )
        return rate, "set in the config"
    if "margin" not in ctx.dataset.columns("transactions"):
        return 1.0, "no margin column: revenue is used (margin rate 1)"
    sales = ctx.view("transactions").filter(ibis._.amount > 0)
    row = ctx.execute(sales.aggregate(m=money_sum(sales.margin), a=money_sum(sales.amount)))
    # A sum over no rows is NULL (NaN or None, depending on the engine): taken as 0.
    m, a = row[["m", "a"]].fillna(0.0).astype(float).iloc[0]
    if a <= 0 or m <= 0:
        return 1.0, "margin total not positive: revenue is used (margin rate 1)"
    return m / a, "total margin / total amount of purchases in the data"


def purchase_value(
    fit: PurchaseFit, months: int, annual_rate: float, margin: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per client: expected purchases over the horizon, expected spend, discounted CLV."""
    assert fit.model is not None and fit.spend is not None
    c = fit.clients
    cum = cumulative_purchases(
        fit.model, c["frequency"], c["recency"], c["T"], months, UNIT_DAYS[UNIT]
    )
    spend = fit.spend.conditional_expected_spend(c["frequency"], c["monetary_value"])
    return cum[:, -1], spend, margin * spend * discounted_purchases(cum, annual_rate)


def contract_clv(
    model: ContractModel, months: int, annual_rate: float, margin: float, params: pd.Series
) -> pd.Series:
    """Discounted contract value per client (summed over active subscriptions)."""
    active = model.lifetimes[~model.lifetimes["observed"]]
    x = model.active_covariates
    if active.empty or x is None:
        return pd.Series(dtype=float)
    age = active["duration"].to_numpy(float)
    grid = age[:, None] + np.arange(0, months + 1)[None, :]
    s = survival.weibull_survival(params, x, grid)
    value = contract_value(s[:, 1:] / s[:, :1], active["monthly_value"], annual_rate) * margin
    return pd.Series(value, index=active.index).groupby(active["customer_id"]).sum()


class CLV:
    """The customer lifetime value section."""

    name = "clv"
    title = "Customer lifetime value and model-based churn"
    order = 64
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {
        "model": "bgnbd",
        "horizon_months": 24,
        "annual_discount_rate": 0.10,
        "margin_rate": "data",
        "subscription_margin_rate": 1.0,
        "alive_threshold": 0.5,
        "sensitivity": [0.3, 0.4, 0.5, 0.6, 0.7],
        "vip_share": 0.2,
        "vip_drop": 0.2,
        "interval_draws": 100,
        "interval_sample": 1000,
        "holdout_months": 6,
        "top_list": 25,
        "seed": 0,
    }
    definitions: Mapping[str, str] = {
        "CLV": "Discounted margin a client is expected to bring over the horizon: purchases "
        "(BG/NBD x Gamma-Gamma) plus active subscriptions (Weibull survival), monthly "
        "discounting at (1 + annual rate)^(1/12) - 1.",
        "95 % interval": "Parametric bootstrap of the model parameters from their asymptotic "
        "normal distribution (inverse Hessian).",
        "P(alive)": "Purchase model's probability that the client has not dropped out.",
        "Churn rate (model)": "Clients with P(alive) >= threshold at the previous period's end "
        "and below it now, over those at or above it then.",
        "VIP at risk": "VIP clients whose P(alive) fell by at least the set drop since the "
        "previous period's end.",
        "Holdout error": "(predicted - actual) / actual repeat purchases over the holdout "
        "months, by a model fitted on the data before them.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        s = _settings(ctx.settings)
        fit = fit_purchases(ctx, ctx.period.end, s["model"])
        notes = [fit.problem] if fit.problem else []
        if fit.clients.empty:
            return Section(self.name, self.title, summary=f"No purchases before {ctx.period.end}.")
        before = fit_purchases(ctx, ctx.previous.end, s["model"])
        earlier = fit_purchases(ctx, ctx.previous.previous().end, s["model"])
        margin, margin_how = margin_rate(ctx, s["margin_rate"])
        months, rate = int(s["horizon_months"]), float(s["annual_discount_rate"])
        clients = fit.clients.copy()
        clients = clients.merge(
            before.clients[["customer_id", "p_alive"]].rename(
                columns={"p_alive": "p_alive_previous"}
            ),
            on="customer_id",
            how="left",
        )
        contracts = contract_model(ctx, ctx.period) if ctx.has("subscriptions") else None
        metrics: list[Metric] = []
        tables: dict[str, Table] = {}
        figures: list[Figure] = []
        clients["clv_contracts"] = 0.0
        if contracts is not None and contracts.weibull is not None:
            value = contract_clv(
                contracts,
                months,
                rate,
                float(s["subscription_margin_rate"]),
                contracts.weibull.params_,
            )
            clients = clients.merge(
                value.rename("clv_c").reset_index(), on="customer_id", how="outer"
            )
            clients["clv_contracts"] = clients.pop("clv_c").fillna(0.0)
        elif contracts is not None:
            notes.append("Contract values are left out: " + (contracts.problem or ""))
        valued = fit.model is not None and fit.spend is not None
        if valued:
            exp_purchases, spend, clv_p = purchase_value(fit, months, rate, margin)
            values = pd.DataFrame(
                {
                    "customer_id": fit.clients["customer_id"],
                    "expected_purchases": exp_purchases,
                    "expected_spend": spend,
                    "clv_purchases": clv_p,
                }
            )
            clients = clients.merge(values, on="customer_id", how="left")
            clients["clv_purchases"] = clients["clv_purchases"].fillna(0.0)
            clients["clv"] = clients["clv_purchases"] + clients["clv_contracts"]
            prev_total = self._previous_total(before, months, rate, margin)
            interval = self._interval(fit, contracts, s, margin, clients)
            metrics += self._clv_metrics(clients, prev_total, interval, len(before.clients))
            tables["clv"] = self._clv_table(clients, interval, months, rate, margin, margin_how)
            tables["top"] = _top_table(clients, int(s["top_list"]))
        else:
            notes.append("CLV is not shown because a model could not be fitted (see above).")
        tiered = _tiers(ctx)
        if tiered is not None:
            clients = clients.merge(tiered, on="customer_id", how="left")
        if fit.model is not None and before.model is not None:
            th = float(s["alive_threshold"])
            now_rate, n_active = model_churn(before.clients, fit.clients, th)
            prev_rate = (
                model_churn(earlier.clients, before.clients, th)[0]
                if earlier.model is not None
                else None
            )
            metrics.append(
                Metric(
                    "churn_rate",
                    f"Churn rate (P(alive) < {th:g})",
                    now_rate,
                    "share",
                    prev_rate,
                    False,
                )
            )
            tables["sensitivity"] = _sensitivity(before, fit, earlier, s)
            at_risk, vip_rule = vip_at_risk(clients, s, tiered is not None)
            metrics.append(
                Metric(
                    "vip_at_risk",
                    "VIP clients at risk",
                    len(at_risk),
                    "count",
                    None,
                    False,
                    headline=True,
                )
            )
            tables["vip_at_risk"] = Table(
                at_risk,
                formats={
                    "clv": "money",
                    "p_alive_previous": "share",
                    "p_alive": "share",
                    "drop": "share",
                    "weeks_since_last_purchase": "number",
                },
                caption=f"VIP clients at risk ({vip_rule}; P(alive) fell by at least "
                f"{s['vip_drop']:.0%} since {ctx.previous.end})",
            )
            clients["vip_at_risk"] = clients["customer_id"].isin(at_risk["customer_id"])
            figures.append(_alive_figure(clients, th, ctx.period))
            if n_active == 0:
                notes.append("No client was at or above the threshold a period ago.")
        elif fit.model is not None:
            notes.append(
                f"No purchase model as of {ctx.previous.end}: churn and VIP-at-risk need the "
                "previous period's P(alive)."
            )
        holdout = holdout_test(ctx, s)
        if isinstance(holdout, str):
            notes.append(holdout)
        else:
            tables["holdout"], cumulative, error = holdout
            tables["holdout_cumulative"] = cumulative
            metrics.append(
                Metric("holdout_error", "Holdout error (repeat purchases)", error, "share")
            )
            figures.append(_holdout_figure(tables["holdout"].frame, cumulative.frame))
        summary = _summary(clients, metrics, valued, s)
        return Section(
            self.name,
            self.title,
            summary=summary,
            metrics=metrics,
            tables=tables,
            figures=figures,
            notes=notes,
            data={
                "clients": clients,
                "model": fit.model,
                "spend_model": fit.spend,
                "margin_rate": margin,
            },
        )

    @staticmethod
    def _previous_total(
        before: PurchaseFit, months: int, rate: float, margin: float
    ) -> float | None:
        """Purchase CLV total as of the previous period's end (contracts not included)."""
        if before.model is None or before.spend is None:
            return None
        return float(purchase_value(before, months, rate, margin)[2].sum())

    @staticmethod
    def _interval(
        fit: PurchaseFit,
        contracts: ContractModel | None,
        s: Mapping[str, Any],
        margin: float,
        clients: pd.DataFrame,
    ) -> tuple[float, float] | None:
        """95 % interval of total CLV by parametric bootstrap (see the module docstring)."""
        assert fit.model is not None and fit.spend is not None
        draws, months, rate = (
            int(s["interval_draws"]),
            int(s["horizon_months"]),
            float(s["annual_discount_rate"]),
        )
        if draws < 2:
            return None
        rng = np.random.default_rng(int(s["seed"]))
        try:
            theta = parameter_draws(fit.model, draws, rng)
            phi = parameter_draws(fit.spend, draws, rng)
        except ValueError:
            return None
        size = min(int(s["interval_sample"]), len(fit.clients))
        sample = fit.clients.iloc[np.sort(rng.choice(len(fit.clients), size, replace=False))]
        part = PurchaseFit(fit.as_of, sample, fit.model, fit.spend, None)
        base = purchase_value(part, months, rate, margin)[2].sum()
        totals = np.empty(draws)
        purchase_total = float(clients["clv_purchases"].sum())
        for b in range(draws):
            twin = PurchaseFit(
                fit.as_of,
                sample,
                with_params(fit.model, theta[b]),
                with_params(fit.spend, phi[b]),
                None,
            )
            totals[b] = purchase_value(twin, months, rate, margin)[2].sum() / base * purchase_total
        if contracts is not None and contracts.weibull is not None:
            w = contracts.weibull
            cov = w.variance_matrix_.to_numpy()
            draws_w = rng.multivariate_normal(w.params_.to_numpy(), cov, size=draws)
            sub_margin = float(s["subscription_margin_rate"])
            for b in range(draws):
                params = pd.Series(draws_w[b], index=w.params_.index)
                totals[b] += contract_clv(contracts, months, rate, sub_margin, params).sum()
        if not np.all(np.isfinite(totals)):
            return None
        lo, hi = np.quantile(totals, [0.025, 0.975])
        return float(lo), float(hi)

    @staticmethod
    def _clv_metrics(
        clients: pd.DataFrame,
        prev_total: float | None,
        interval: tuple[float, float] | None,
        prev_clients: int,
    ) -> list[Metric]:
        total = float(clients["clv"].sum())
        n = len(clients)
        return [
            Metric("clv_total", "CLV, all clients", total, "money", None, True, headline=True),
            Metric("clv_mean", "CLV per client", total / n if n else None, "money", None, True),
            Metric(
                "clv_purchases_total",
                "CLV from purchases",
                float(clients["clv_purchases"].sum()),
                "money",
                prev_total,
                True,
            ),
            Metric(
                "clv_contracts_total",
                "CLV from contracts",
                float(clients["clv_contracts"].sum()),
                "money",
            ),
            Metric(
                "clv_lower",
                "CLV, all clients: 95 % lower bound",
                interval[0] if interval else None,
                "money",
            ),
            Metric(
                "clv_upper",
                "CLV, all clients: 95 % upper bound",
                interval[1] if interval else None,
                "money",
            ),
        ]

    @staticmethod
    def _clv_table(
        clients: pd.DataFrame,
        interval: tuple[float, float] | None,
        months: int,
        rate: float,
        margin: float,
        margin_how: str,
    ) -> Table:
        n = len(clients)
        total = float(clients["clv"].sum())
        rows = [
            {
                "figure": "CLV, all clients",
                "value": total,
                "lower_95": interval[0] if interval else np.nan,
                "upper_95": interval[1] if interval else np.nan,
            },
            {
                "figure": "CLV per client",
                "value": total / n,
                "lower_95": interval[0] / n if interval else np.nan,
                "upper_95": interval[1] / n if interval else np.nan,
            },
        ]
        return Table(
            pd.DataFrame(rows),
            formats={"value": "money", "lower_95": "money", "upper_95": "money"},
            caption=f"CLV over {months} months, {rate:.0%} a year discount, margin rate "
            f"{margin:.2f} ({margin_how}); 95 % interval from parameter uncertainty",
        )


def _settings(s: Mapping[str, Any]) -> dict[str, Any]:
    """The settings, checked and converted (a wrong type or range is a ConfigError)."""
    if s["model"] not in MODELS:
        raise ConfigError(
            f"analyses.clv.model must be one of {', '.join(MODELS)}, got {s['model']!r}"
        )
    out = dict(s)
    for key in ("horizon_months", "holdout_months", "top_list", "interval_sample"):
        out[key] = int(number(s, "clv", key, low=1, integer=True))
    out["interval_draws"] = int(number(s, "clv", "interval_draws", low=0, integer=True))
    out["seed"] = int(number(s, "clv", "seed", low=0, integer=True))
    for key in ("alive_threshold", "vip_share", "vip_drop"):
        out[key] = number(s, "clv", key, low=0, high=1, open_low=True)
    out["subscription_margin_rate"] = number(
        s, "clv", "subscription_margin_rate", low=0, high=1, open_low=True
    )
    out["annual_discount_rate"] = number(s, "clv", "annual_discount_rate", low=0, high=1)
    values = s["sensitivity"]
    if not isinstance(values, list | tuple) or not all(
        isinstance(v, int | float) and 0 < v < 1 for v in values
    ):
        raise ConfigError(
            f"analyses.clv.sensitivity must list thresholds between 0 and 1, got {values!r}"
        )
    return out


def model_churn(
    before: pd.DataFrame, now: pd.DataFrame, threshold: float
) -> tuple[float | None, int]:
    """(churn rate, clients at or above ``threshold`` before); see the module docstring."""
    merged = before[["customer_id", "p_alive"]].merge(
        now[["customer_id", "p_alive"]], on="customer_id", suffixes=("_before", "_now")
    )
    active = merged["p_alive_before"] >= threshold
    churned = active & (merged["p_alive_now"] < threshold)
    n = int(active.sum())
    return (int(churned.sum()) / n if n else None), n


def _sensitivity(
    before: PurchaseFit, now: PurchaseFit, earlier: PurchaseFit, s: Mapping[str, Any]
) -> Table:
    rows = []
    for th in sorted({*map(float, s["sensitivity"]), float(s["alive_threshold"])}):
        rate, n = model_churn(before.clients, now.clients, th)
        prev = model_churn(earlier.clients, before.clients, th)[0] if earlier.model else None
        alive = float((now.clients["p_alive"] >= th).mean())
        rows.append(
            {
                "threshold": th,
                "alive_share": alive,
                "clients_at_risk_base": n,
                "churn_rate": rate,
                "churn_rate_previous": prev,
            }
        )
    return Table(
        pd.DataFrame(rows),
        formats={
            "threshold": "ratio",
            "alive_share": "share",
            "clients_at_risk_base": "count",
            "churn_rate": "share",
            "churn_rate_previous": "share",
        },
        caption="Sensitivity of the model churn rate to the P(alive) threshold",
    )


def _tiers(ctx: PeriodContext) -> pd.DataFrame | None:
    """customer_id and tier from the tiers section, when it ran."""
    section = ctx.results.get("tiers")
    if section is None or section.error or "clients" not in section.data:
        return None
    frame = section.data["clients"]
    if "tier" not in frame:
        return None
    return frame[["customer_id", "tier"]]


def vip_at_risk(
    clients: pd.DataFrame, s: Mapping[str, Any], tiered: bool
) -> tuple[pd.DataFrame, str]:
    """VIP clients whose P(alive) fell by at least ``vip_drop``, largest drop first."""
    if tiered:
        vip = clients["tier"] == "vip"
        rule = "tier vip"
    else:
        value = clients["clv"] if "clv" in clients else clients["frequency"]
        vip = value >= value.quantile(1 - float(s["vip_share"]))
        rule = f"top {float(s['vip_share']):.0%} by CLV"
    drop = clients["p_alive_previous"] - clients["p_alive"]
    risky = clients[vip & (drop >= float(s["vip_drop"]))].assign(
        drop=drop, weeks_since_last_purchase=clients["T"] - clients["recency"]
    )
    cols = [
        "customer_id",
        *(["tier"] if tiered else []),
        "clv",
        "p_alive_previous",
        "p_alive",
        "drop",
        "weeks_since_last_purchase",
    ]
    cols = [c for c in cols if c in risky]
    frame = risky.sort_values(["drop", "customer_id"], ascending=[False, True])[cols]
    return frame.reset_index(drop=True), rule


def holdout_test(
    ctx: PeriodContext, s: Mapping[str, Any]
) -> tuple[Table, Table, float | None] | str:
    """Calibration / holdout comparison, or a note saying why it cannot be made."""
    end = ctx.period.end
    split = add_months(end, -int(s["holdout_months"]))
    tx = _transactions(ctx, end)
    cal = summarize(tx, end, UNIT, calibration_end=split).reset_index()
    if cal.empty or not (cal["frequency_cal"] > 0).any():
        return (
            f"Holdout test left out: no repeat purchases before {split} to calibrate on "
            "(shorten holdout_months or wait for more history)."
        )
    model = MODELS[s["model"]]()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(cal["frequency_cal"], cal["recency_cal"], cal["T_cal"])
    except (ValueError, ConvergenceError) as exc:
        return f"Holdout test left out: the calibration fit failed ({exc})."
    cal["predicted"] = model.conditional_expected_purchases(
        cal["duration_holdout"], cal["frequency_cal"], cal["recency_cal"], cal["T_cal"]
    )
    cal["bucket"] = np.minimum(cal["frequency_cal"], 7).map(lambda v: BUCKETS[int(v)])
    g = cal.groupby("bucket")
    buckets = pd.DataFrame(
        {
            "clients": g.size(),
            "actual": g["frequency_holdout"].mean(),
            "predicted": g["predicted"].mean(),
        }
    ).reindex([b for b in BUCKETS if b in g.groups])
    buckets["error"] = buckets["predicted"] - buckets["actual"]
    buckets = buckets.rename_axis("purchases_in_calibration").reset_index()
    months = int(s["holdout_months"])
    cum = cumulative_purchases(
        model, cal["frequency_cal"], cal["recency_cal"], cal["T_cal"], months, UNIT_DAYS[UNIT]
    ).sum(0)
    actual = _holdout_actual(ctx, tx, cal["customer_id"], split, end, months)
    cumulative = pd.DataFrame(
        {"month": np.arange(1, months + 1), "actual": actual, "predicted": cum}
    )
    total_actual = float(cal["frequency_holdout"].sum())
    total_pred = float(cal["predicted"].sum())
    error = (total_pred - total_actual) / total_actual if total_actual else None
    mae = float((cal["predicted"] - cal["frequency_holdout"]).abs().mean())
    caption = (
        f"Fitted before {split}, predicting {split} to {end}: {total_pred:,.0f} purchases "
        f"predicted, {total_actual:,.0f} actual"
        + (f" (error {error:+.1%})" if error is not None else "")
        + f"; mean absolute error per client {mae:.2f}"
    )
    return (
        Table(
            buckets,
            formats={
                "clients": "count",
                "actual": "number",
                "predicted": "number",
                "error": "number",
            },
            caption="Mean purchases per client in the holdout, by purchases in calibration. "
            + caption,
        ),
        Table(
            cumulative,
            formats={"month": "count", "actual": "count", "predicted": "count"},
            caption="Cumulative repeat purchases (purchase days) in the holdout, month by month",
        ),
        error,
    )


def _holdout_actual(
    ctx: PeriodContext,
    tx: ir.Table,
    customers: pd.Series,
    split: date,
    end: date,
    months: int,
) -> np.ndarray:
    """Cumulative purchase days of the calibration clients at each month end of the holdout.

    A purchase day is a day with a positive net amount (:func:`purchase_days`, as in
    :func:`summarize`); month m ends ``m x 30.4375`` days after the split, as in the model's
    prediction.
    """
    p = purchase_days(tx, end, start=split)
    holdout = p.select("customer_id", offset_days=p.day.delta(ibis.date(split), unit="day"))
    frame = ctx.execute(holdout)
    days = frame.loc[frame["customer_id"].isin(customers), "offset_days"].to_numpy()
    edges = np.arange(1, months + 1) * 30.4375
    return np.searchsorted(np.sort(days), edges, side="left").astype(float)


def _top_table(clients: pd.DataFrame, limit: int) -> Table:
    cols = [
        "customer_id",
        "clv",
        "clv_purchases",
        "clv_contracts",
        "p_alive",
        "expected_purchases",
        "expected_spend",
    ]
    top = clients.sort_values(["clv", "customer_id"], ascending=[False, True]).head(limit)
    return Table(
        top[[c for c in cols if c in top]].reset_index(drop=True),
        formats={
            "clv": "money",
            "clv_purchases": "money",
            "clv_contracts": "money",
            "p_alive": "share",
            "expected_purchases": "number",
            "expected_spend": "money",
        },
        caption=f"Top {limit} clients by CLV",
    )


def _summary(
    clients: pd.DataFrame, metrics: list[Metric], valued: bool, s: Mapping[str, Any]
) -> str:
    m = {x.key: x for x in metrics}
    parts = []
    if valued:
        parts.append(
            f"Expected discounted value of the {len(clients):,} clients over "
            f"{s['horizon_months']} months: {m['clv_total'].value:,.0f}"
        )
        lo, hi = m["clv_lower"].value, m["clv_upper"].value
        if lo is not None and hi is not None:
            parts[-1] += f" (95 % interval {lo:,.0f} to {hi:,.0f})"
        parts[-1] += "."
    if "churn_rate" in m and m["churn_rate"].value is not None:
        parts.append(f"Model churn rate {m['churn_rate'].value:.1%}.")
    if "vip_at_risk" in m:
        parts.append(f"{m['vip_at_risk'].value:,.0f} VIP client(s) at risk.")
    return " ".join(parts)


def _alive_figure(clients: pd.DataFrame, threshold: float, period: Period) -> Figure:
    fig = Figure(figsize=(6.4, 3.8), dpi=100)
    ax = fig.subplots()
    ax.hist(clients["p_alive"].dropna(), bins=40, color="#1f5f8b", alpha=0.85)
    ax.axvline(threshold, color="#c0392b", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set_xlabel("P(alive)")
    ax.set_ylabel("Clients")
    ax.set_title(f"P(alive) as of the end of {period}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _holdout_figure(buckets: pd.DataFrame, cumulative: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(9.6, 3.8), dpi=100)
    left, right = fig.subplots(1, 2)
    x = np.arange(len(buckets))
    left.plot(x, buckets["actual"], "o-", color="#333333", label="actual")
    left.plot(x, buckets["predicted"], "s--", color="#1f5f8b", label="predicted")
    left.set_xticks(x, buckets["purchases_in_calibration"])
    left.set_xlabel("Repeat purchases in calibration")
    left.set_ylabel("Mean purchases in holdout")
    left.legend()
    left.grid(alpha=0.3)
    right.plot(cumulative["month"], cumulative["actual"], "o-", color="#333333", label="actual")
    right.plot(
        cumulative["month"], cumulative["predicted"], "s--", color="#1f5f8b", label="predicted"
    )
    right.set_xlabel("Holdout month")
    right.set_ylabel("Cumulative repeat purchases")
    right.legend()
    right.grid(alpha=0.3)
    fig.suptitle("Holdout test of the purchase model")
    fig.tight_layout()
    return fig


@hookimpl
def register_analyses(register: Any) -> None:
    register(CLV())
