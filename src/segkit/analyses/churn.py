"""Contractual churn: how long subscriptions last, what shortens them, who ends next.

Definitions (per period ``[start, end)``, subscriptions as known at ``end``; see
:mod:`segkit.survival` for durations, censoring and late entry):

* **Window start** (late entry): with ``window_start: auto`` the first transaction date in the
  data; subscriptions that started before it enter the risk sets at their age on that date.
  A date (``2020-01-01``) sets it; ``none`` assumes every subscription ever started is in the
  data.
* **Contractual churn rate** of a period: subscriptions that ended in it over those active at
  its start (started before the start, not ended before it).
* **Kaplan-Meier survival** by plan, tier (from the ``tiers`` section, when it ran), acquisition
  source and signup cohort (year of the customer's signup, else of the first subscription),
  with 95 % bands; **median lifetime** with its 95 % interval ("–" when not reached); the
  **log-rank test** of equal curves across each dimension's groups.
* **Cox PH** and **Weibull AFT** on ``covariates``, each level against the most frequent one;
  the proportional-hazards check is the Grambsch-Therneau test (p < ``ph_alpha`` flags a
  hazard ratio that changes with subscription age). Tier is the client's tier at the period's
  end, also for subscriptions that ended earlier: read its ratios as associations.
* **P(churn next period)**: for each active subscription of age ``a`` months,
  ``1 - S(a + h) / S(a)`` under the Weibull model, ``h`` the period's length in months. A client
  churns when all their active subscriptions end (taken as independent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from matplotlib.figure import Figure

from segkit import survival
from segkit.analyses.options import names, number
from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.errors import ConfigError
from segkit.models.survival import CoxPH, WeibullAFT
from segkit.periods import Period

#: Dimensions the Kaplan-Meier curves can be split by.
DIMENSIONS = ("plan", "tier", "source", "cohort", "region")


@dataclass(frozen=True)
class ContractModel:
    """Survival fits of the subscriptions known at one cut-off, for the churn and CLV sections.

    ``lifetimes`` has one row per subscription (:func:`segkit.survival.lifetimes` columns plus
    the covariates, ``age`` in months for active ones and ``p_churn_next``); ``cox`` and
    ``weibull`` are None when there are too few ended subscriptions to fit them (``problem``
    says why).
    """

    as_of: date
    window_start: date | None
    lifetimes: pd.DataFrame
    design: survival.Design | None
    cox: CoxPH | None
    weibull: WeibullAFT | None
    horizon_months: float
    problem: str | None
    #: One-hot covariates of the active subscriptions (the rows of ``lifetimes`` not observed).
    active_covariates: pd.DataFrame | None = None


def window_start(ctx: PeriodContext, setting: Any) -> date | None:
    """The late-entry window start for the ``window_start`` setting (see the module docstring)."""
    if setting is None or str(setting).lower() == "none":
        return None
    if str(setting).lower() == "auto":
        tx = ctx.view("transactions")
        first = ctx.execute(tx.aggregate(d=tx.date.min().cast("date")))["d"]
        return None if first.isna().all() else pd.Timestamp(first.iloc[0]).date()
    try:
        return pd.Timestamp(str(setting)).date()
    except ValueError:
        raise ConfigError(
            f"window_start must be auto, none or a date like 2020-01-01, got {setting!r}"
        ) from None


def period_months(period: Period) -> int:
    """Length of a period in months (1, 3 or 12)."""
    return (period.end.year - period.start.year) * 12 + period.end.month - period.start.month


def subscriptions_with_covariates(ctx: PeriodContext, cutoff: date) -> pd.DataFrame:
    """As-of subscriptions with the client's source, region, signup cohort and tier."""
    subs = ctx.table("subscriptions", cutoff)
    first_start = subs.groupby("customer_id")["start_date"].transform("min")
    cohort = pd.to_datetime(first_start)
    if ctx.has("customers"):
        cust = ctx.table("customers", cutoff)[
            ["customer_id", "acquisition_source", "region", "signup_date"]
        ]
        subs = subs.merge(cust, on="customer_id", how="left")
        cohort = pd.to_datetime(subs["signup_date"]).fillna(cohort)
        subs = subs.rename(columns={"acquisition_source": "source"}).drop(columns="signup_date")
    else:
        subs["source"], subs["region"] = None, None
    subs["cohort"] = cohort.dt.year.astype("Int64").astype("string")
    tiers = ctx.results.get("tiers")
    if tiers is not None and tiers.error is None and "clients" in tiers.data:
        subs = subs.merge(
            tiers.data["clients"][["customer_id", "tier"]], on="customer_id", how="left"
        )
    else:
        subs["tier"] = None
    return subs


def contract_model(ctx: PeriodContext, period: Period) -> ContractModel:
    """:class:`ContractModel` of the subscriptions as of ``period.end``, with the churn
    section's settings whichever section asks (cached per run)."""
    return ctx.memo(("contract_model", period.end), lambda: _fit_contracts(ctx, period))


def _fit_contracts(ctx: PeriodContext, period: Period) -> ContractModel:
    s = ctx.config.analysis_settings(Churn.name, Churn.defaults)
    start = window_start(ctx, s["window_start"])
    subs = subscriptions_with_covariates(ctx, period.end)
    lt = survival.lifetimes(subs, period.end, "month", start)
    horizon = float(period_months(period))
    covariates = [c for c in s["covariates"] if c in lt and lt[c].notna().any()]
    problem = None
    events = int(lt["observed"].sum())
    cox = weibull = design = None
    if events < int(s["min_events"]):
        problem = (
            f"Only {events} ended subscription(s) as of {period.end}: at least "
            f"{s['min_events']} are needed to fit the Cox and Weibull models (setting "
            "min_events). Survival curves are shown; model-based figures are left out."
        )
    else:
        design = survival.design(lt, covariates)
        try:
            cox = survival.fit_cox(design)
            weibull = survival.fit_weibull(design)
        except (ValueError, np.linalg.LinAlgError) as exc:
            problem = f"The survival models could not be fitted: {exc}"
            cox = weibull = None
    lt["age"] = np.where(lt["observed"], np.nan, lt["duration"])
    lt["p_churn_next"] = np.nan
    x = None
    if weibull is not None and design is not None:
        active = ~lt["observed"].to_numpy()
        x = survival.one_hot(lt.loc[active], design)
        age = lt.loc[active, "duration"].to_numpy(float)
        lt.loc[active, "p_churn_next"] = survival.churn_probability(
            weibull.params_, x, age, horizon
        )
    return ContractModel(period.end, start, lt, design, cox, weibull, horizon, problem, x)


def churn_rate(subs: pd.DataFrame, period: Period) -> tuple[int, int]:
    """(subscriptions active at the period's start, of which ended in the period)."""
    start = pd.to_datetime(subs["start_date"])
    end = pd.to_datetime(subs["end_date"])
    p0, p1 = pd.Timestamp(period.start), pd.Timestamp(period.end)
    active = (start < p0) & (end.isna() | (end >= p0))
    ended = active & end.notna() & (end < p1)
    return int(active.sum()), int(ended.sum())


class Churn:
    """The contractual churn (subscription survival) section."""

    name = "churn"
    title = "Contractual churn: subscription survival"
    order = 62
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {
        "window_start": "auto",
        "groups": ["plan", "tier", "source", "cohort"],
        "covariates": ["plan", "source", "region", "tier"],
        "ph_alpha": 0.01,
        "min_events": 20,
        "top_list": 25,
    }
    definitions: Mapping[str, str] = {
        "Contractual churn rate": "Subscriptions that ended in the period over those active at "
        "its start.",
        "Survival S(t)": "Kaplan-Meier share of subscriptions still active t months after "
        "their start; active ones are censored, those started before the data window enter "
        "late (at their age on the window start).",
        "Median lifetime": "Months by which half of the subscriptions have ended (– when the "
        "curve has not fallen to 50 %).",
        "Log-rank p": "Probability of group differences this large if all groups shared one "
        "survival curve.",
        "Hazard ratio": "Cox PH: churn hazard of a level relative to the most frequent level "
        "(below 1 = longer lifetimes); PH p < 0.01 flags a ratio that changes with age.",
        "P(churn next period)": "Weibull AFT: 1 - S(age + period) / S(age) for an active "
        "subscription.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        s = ctx.settings
        unknown = [
            d
            for key in ("groups", "covariates")
            for d in names(s, self.name, key)
            if d not in DIMENSIONS
        ]
        if unknown:
            raise ConfigError(
                f"analyses.churn: unknown dimension(s) {', '.join(unknown)}; "
                f"choose from {', '.join(DIMENSIONS)}"
            )
        alpha = number(s, self.name, "ph_alpha", low=0, high=1, open_low=True)
        top = int(number(s, self.name, "top_list", low=1, integer=True))
        number(s, self.name, "min_events", low=1, integer=True)
        if not ctx.has("subscriptions"):
            return Section(
                self.name,
                self.title,
                summary="No subscriptions table: contractual churn is not reported.",
            )
        model = contract_model(ctx, ctx.period)
        lt = model.lifetimes
        if lt.empty:
            return Section(
                self.name, self.title, summary=f"No subscription started before {ctx.period.end}."
            )
        notes = [model.problem] if model.problem else []
        subs_now = ctx.table("subscriptions")
        at_start, ended = churn_rate(subs_now, ctx.period)
        prev_start, prev_ended = churn_rate(
            ctx.table("subscriptions", ctx.previous.end), ctx.previous
        )
        overall = survival.kaplan_meier(lt)["all"]
        median = _finite(overall.median_survival_time_)
        active = lt[~lt["observed"]]
        expected_next = float(active["p_churn_next"].sum()) if model.weibull else None
        metrics = [
            Metric("active", "Active subscriptions", len(active), "count", None, True),
            Metric(
                "churn_rate",
                "Contractual churn rate",
                ended / at_start if at_start else None,
                "share",
                prev_ended / prev_start if prev_start else None,
                False,
            ),
            Metric("median_lifetime", "Median subscription lifetime (months)", median),
            Metric(
                "expected_churn_next",
                "Expected ended subscriptions next period",
                expected_next,
                "count",
                None,
                False,
            ),
        ]
        if median is None:
            notes.append("Median lifetime not reached: more than half of subscriptions run on.")
        groups = [g for g in s["groups"] if g in lt and lt[g].notna().any()]
        missing = sorted(set(s["groups"]) - set(groups))
        if missing:
            notes.append(
                f"No data for {', '.join(missing)} (tier needs the tiers section; source, "
                "region and cohort need the customers table): those splits are left out."
            )
        fitters = {g: survival.kaplan_meier(lt, g) for g in groups}
        fallback = sorted(
            "overall" if g == "all" else f"{g} {label}"
            for g, by_label in {"all": {"all": overall}, **fitters}.items()
            for label, fitter in by_label.items()
            if survival.is_fallback(fitter)
        )
        if fallback:
            notes.append(
                "Kaplan-Meier is undefined where late entries leave the early risk set too small "
                f"(it reaches 0 before later entries); shown as Breslow-Fleming-Harrington: "
                f"{', '.join(fallback)}."
            )
        tables = {
            "medians": _median_table(fitters),
            "logrank": _logrank_table(lt, groups),
        }
        if model.cox is not None and model.weibull is not None:
            tables["hazards"] = _hazard_table(model.cox, model.weibull, alpha)
            tables["next"] = _next_table(active, top)
            hazards = tables["hazards"].frame
            flagged = hazards.loc[hazards["ph_holds"] == "doubtful", "covariate"]
            if len(flagged):
                notes.append(
                    "Proportional hazards doubtful for "
                    f"{', '.join(flagged)} (p < {alpha:g}): their hazard ratio is an "
                    "average over subscription age; consider a split by age or stratification."
                )
        late = int((lt["entry"] > 0).sum())
        window = model.window_start
        summary = (
            f"{len(active):,} active subscriptions; {ended:,} of {at_start:,} active at the "
            f"start of {ctx.period} ended in it."
        )
        if median is not None:
            summary += f" Half of subscriptions end within {median:.1f} months."
        if window is not None:
            notes.append(
                f"Data window starts {window}: {late:,} subscription(s) started earlier and "
                "enter the risk sets late (left truncation)."
            )
        return Section(
            self.name,
            self.title,
            summary=summary,
            metrics=metrics,
            tables=tables,
            figures=[_figure(fitters, ctx.period)] if fitters else [],
            notes=notes,
            data={
                "clients": _clients(active),
                "lifetimes": lt,
                "kaplan_meier": fitters,
                "cox": model.cox,
                "weibull": model.weibull,
                "design": model.design,
            },
        )


def p_text(p: float) -> str:
    """A p-value as shown: three decimals, "< 0.001" below that."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _median_table(fitters: dict[str, dict[str, KaplanMeierFitter]]) -> Table:
    parts = [survival.median_table(f).assign(dimension=g) for g, f in fitters.items()]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not frame.empty:
        frame = frame[["dimension", *[c for c in frame.columns if c != "dimension"]]]
    return Table(
        frame,
        formats={
            "subscriptions": "count",
            "churned": "count",
            "median": "number",
            "median_lower": "number",
            "median_upper": "number",
        },
        caption="Median lifetime in months by group, 95 % interval (– = not reached)",
        max_rows=60,
    )


def _logrank_table(lt: pd.DataFrame, groups: list[str]) -> Table:
    rows = []
    for g in groups:
        test = survival.logrank(lt, g)
        if test.groups < 2:
            continue
        rows.append(
            {
                "dimension": g,
                "groups": test.groups,
                "chi2": test.statistic,
                "p_value": p_text(test.p_value),
            }
        )
    return Table(
        pd.DataFrame(rows, columns=["dimension", "groups", "chi2", "p_value"]),
        formats={"groups": "count", "chi2": "number"},
        caption="Log-rank tests of equal survival across groups (late entry included)",
    )


def _hazard_table(cox: CoxPH, weibull: WeibullAFT, alpha: float) -> Table:
    summ = cox.summary
    ph = cox.proportional_hazard_test()
    frame = pd.DataFrame(
        {
            "covariate": summ.index,
            "hazard_ratio": summ["exp(coef)"].to_numpy(),
            "lower_95": summ["exp(coef) lower 95%"].to_numpy(),
            "upper_95": summ["exp(coef) upper 95%"].to_numpy(),
            "p_value": summ["p"].to_numpy(),
            "ph_p_value": ph["p_value"].to_numpy(),
            "weibull_hazard_ratio": survival.weibull_hazard_ratios(weibull.params_)
            .reindex(summ.index)
            .to_numpy(),
        }
    )
    frame["ph_holds"] = np.where(frame["ph_p_value"] < alpha, "doubtful", "yes")
    for col in ("p_value", "ph_p_value"):
        frame[col] = frame[col].map(p_text)
    rho = float(np.exp(weibull.params_.loc[("rho_", "Intercept")]))
    return Table(
        frame,
        formats={
            "hazard_ratio": "ratio",
            "lower_95": "ratio",
            "upper_95": "ratio",
            "weibull_hazard_ratio": "ratio",
        },
        caption=f"Cox PH hazard ratios (95 %), PH check, and Weibull AFT hazard ratios "
        f"(Weibull shape {rho:.2f})",
        max_rows=60,
    )


def _next_table(active: pd.DataFrame, limit: int) -> Table:
    frame = active.assign(expected_loss=active["p_churn_next"] * active["monthly_value"])
    frame = frame.sort_values("expected_loss", ascending=False).head(limit)
    cols = ["customer_id", "plan", "monthly_value", "age", "p_churn_next", "expected_loss"]
    return Table(
        frame[cols].reset_index(drop=True),
        formats={
            "monthly_value": "money",
            "age": "number",
            "p_churn_next": "share",
            "expected_loss": "money",
        },
        caption="Active subscriptions with the largest expected monthly value lost next period",
    )


def _clients(active: pd.DataFrame) -> pd.DataFrame:
    """Per client with an active subscription: monthly value and P(all end next period)."""
    g = active.groupby("customer_id")
    out = pd.DataFrame(
        {
            "subscriptions_active": g.size(),
            "monthly_value": g["monthly_value"].sum(),
            "p_contract_churn_next": g["p_churn_next"].prod(min_count=1),
        }
    )
    return out.reset_index()


def _figure(fitters: dict[str, dict[str, KaplanMeierFitter]], period: Period) -> Figure:
    n = len(fitters)
    cols = 2 if n > 1 else 1
    rows = (n + 1) // 2
    fig = Figure(figsize=(6.4 * cols / 1.3, 3.6 * rows), dpi=100)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, (dim, groups) in zip(axes, fitters.items(), strict=False):
        for label, f in list(groups.items())[:8]:
            sf = f.survival_function_.iloc[:, 0]
            ci = f.confidence_interval_
            (line,) = ax.step(sf.index, sf.to_numpy(), where="post", lw=1.5, label=label)
            ax.fill_between(
                ci.index,
                ci.iloc[:, 0].to_numpy(),
                ci.iloc[:, 1].to_numpy(),
                step="post",
                alpha=0.15,
                color=line.get_color(),
            )
        ax.set_title(f"By {dim}")
        ax.set_xlabel("Months since start")
        ax.set_ylabel("Share still active")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(f"Subscription survival (Kaplan-Meier, 95 % bands), as of {period}")
    fig.tight_layout()
    return fig


@hookimpl
def register_analyses(register: Any) -> None:
    register(Churn())
