"""The other tables: subscriptions, surveys, tickets, offers, funnel and marketing spend.

Each builder takes its own random stream and returns the table as a DataFrame of text-ready
columns (times already formatted, empty strings for missing values).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segkit.data.demo.clock import (
    WINDOW_DAYS,
    WINDOW_MONTHS,
    clock,
    format_dates,
    format_timestamps,
    month_index,
)
from segkit.data.demo.params import (
    DAYS_PER_MONTH,
    PLANS,
    SOURCES,
    VALUE_CLASSES,
    WINDOW_START,
    Params,
)
from segkit.data.demo.people import Customers, FunnelDraw
from segkit.data.demo.purchases import Lifetimes, Orders

HOURS = 1.0 / 24.0


def subscriptions(
    rng: np.random.Generator, c: Customers, ids: np.ndarray, params: Params
) -> pd.DataFrame:
    """Weibull PH lifetimes; contracts that ended before the window are unobserved (truncation)."""
    sp = params.subscriptions
    who = np.flatnonzero(rng.random(c.n) < sp.probability)
    delay = np.where(
        rng.random(len(who)) < sp.start_at_signup,
        0.0,
        rng.exponential(sp.start_delay_mean_days, len(who)),
    )
    start = c.signup[who] + delay
    plan = rng.choice(len(PLANS), size=len(who), p=np.array([sp.plan_share[k] for k in PLANS]))
    beta = (
        np.array([sp.beta_plan[k] for k in PLANS])[plan]
        + np.array([sp.beta_source[k] for k in SOURCES])[c.source[who]]
    )
    # Inversion of S(t) = exp(-(t / scale)^shape * exp(beta)).
    months = sp.scale_months * (rng.exponential(size=len(who)) * np.exp(-beta)) ** (1 / sp.shape)
    end = start + months * DAYS_PER_MONTH
    price = np.array([sp.list_price[k] for k in PLANS])[plan]
    value = np.round(price * rng.lognormal(0.0, sp.price_sigma, len(who)), 2)
    keep = (start < WINDOW_DAYS) & (end >= 0.0)
    end_seen = np.where(end < WINDOW_DAYS, end, np.nan)
    return pd.DataFrame(
        {
            "customer_id": ids[who[keep]],
            "plan": np.array(PLANS)[plan[keep]],
            "start_date": format_dates(clock(start[keep])),
            "end_date": format_dates(clock(end_seen[keep])),
            "monthly_value": [f"{v:.2f}" for v in value[keep]],
        }
    )


def surveys(
    rng: np.random.Generator, c: Customers, o: Orders, ids: np.ndarray, params: Params
) -> pd.DataFrame:
    """A survey after some orders; NPS and CSAT read latent satisfaction (see ``Surveys``)."""
    sv = params.surveys
    sent = np.flatnonzero(rng.random(len(o.time)) < sv.probability_per_order)
    when = np.floor(o.time[sent]) + 1.0 + rng.random(len(sent)) * sv.answer_days_span
    who = o.customer[sent]
    s = (
        sv.w_rate * c.z_rate[who]
        - sv.w_dropout * c.z_dropout[who]
        - sv.w_last * o.last[sent]
        + rng.standard_normal(len(sent))
    )
    nps = np.clip(np.round(sv.nps_intercept + sv.nps_slope * s), 0, 10).astype(np.int64)
    csat_raw = sv.csat_intercept + sv.csat_slope * s + sv.csat_noise * rng.standard_normal(len(s))
    csat = np.clip(np.round(csat_raw), 1, 5).astype(np.int64)
    no_nps = rng.random(len(s)) < sv.nps_missing
    no_csat = ~no_nps & (rng.random(len(s)) < sv.csat_missing)
    keep = np.flatnonzero(when < WINDOW_DAYS)
    keep = keep[np.argsort(when[keep], kind="stable")]
    return pd.DataFrame(
        {
            "customer_id": ids[who[keep]],
            "date": format_timestamps(clock(when[keep])),
            "nps": np.where(no_nps, "", nps.astype(str))[keep],
            "csat": np.where(no_csat, "", csat.astype(str))[keep],
        }
    )


def tickets(rng: np.random.Generator, o: Orders, ids: np.ndarray, params: Params) -> pd.DataFrame:
    """Tickets after some orders; lognormal response/resolution, censored at the window end."""
    tp = params.tickets
    opened_on = np.flatnonzero(rng.random(len(o.time)) < tp.probability_per_order)
    opened = clock(o.time[opened_on] + rng.exponential(tp.open_delay_mean_days, len(opened_on)))
    first = opened + HOURS * rng.lognormal(
        np.log(tp.first_response_median_hours), tp.first_response_sigma, len(opened)
    )
    resolved = first + HOURS * rng.lognormal(
        np.log(tp.resolution_median_hours), tp.resolution_sigma, len(opened)
    )
    unrecorded = rng.random(len(opened)) < tp.missing_first_response
    keep = np.flatnonzero(opened < WINDOW_DAYS)
    keep = keep[np.argsort(opened[keep], kind="stable")]
    first_seen = np.where((first < WINDOW_DAYS) & ~unrecorded, first, np.nan)
    resolved_seen = np.where(resolved < WINDOW_DAYS, resolved, np.nan)
    return pd.DataFrame(
        {
            "customer_id": ids[o.customer[opened_on][keep]],
            "opened_at": format_timestamps(opened[keep]),
            "first_response_at": format_timestamps(first_seen[keep]),
            "resolved_at": format_timestamps(resolved_seen[keep]),
        }
    )


def offers(
    rng: np.random.Generator, c: Customers, life: Lifetimes, ids: np.ndarray, params: Params
) -> pd.DataFrame:
    """Offers at Poisson times after signup; acceptance by latent class, lower after dropout."""
    op = params.offers
    start = np.maximum(c.signup, 0.0)
    count = rng.poisson(op.per_year * (WINDOW_DAYS - start) / 365.25)
    who = np.repeat(np.arange(c.n), count)
    when = start[who] + rng.random(len(who)) * (WINDOW_DAYS - start[who])
    order = np.lexsort((who, when))
    who, when = who[order], when[order]
    dead = when >= np.where(np.isnan(life.death), np.inf, life.death)[who]
    prob = np.array([op.acceptance[k] for k in VALUE_CLASSES])[c.value_class[who]]
    prob = np.where(dead, prob * op.dead_factor, prob)
    accepted = rng.random(len(who)) < prob
    kind = np.where(rng.random(len(who)) < op.upsell_share, "upsell", "cross-sell")
    return pd.DataFrame(
        {
            "customer_id": ids[who],
            "offered_at": format_timestamps(clock(when)),
            "kind": kind,
            "accepted": np.where(accepted, "true", "false"),
        }
    )


def funnel(f: FunnelDraw, c: Customers, ids: np.ndarray, params: Params) -> pd.DataFrame:
    """One row per lead and stage reached; won leads carry their customer's id."""
    fp = params.funnel
    customer_of_lead = np.full(len(f.lead_source), "", dtype=object)
    won = c.lead >= 0
    customer_of_lead[c.lead[won]] = ids[won]
    is_buyer = f.row_stage == len(fp.stages) - 1
    width = max(7, len(str(len(f.lead_source))))
    return pd.DataFrame(
        {
            "lead_id": [f"L{i + 1:0{width}d}" for i in f.row_lead],
            "stage": np.array(fp.stages)[f.row_stage],
            "entered_at": format_timestamps(clock(f.row_time)),
            "source": np.array(list(fp.lead_sources))[f.lead_source[f.row_lead]],
            "customer_id": np.where(is_buyer, customer_of_lead[f.row_lead], ""),
        }
    )


def marketing(rng: np.random.Generator, c: Customers, params: Params) -> pd.DataFrame:
    """Monthly spend per source: a fixed part plus cost per acquisition of in-window signups."""
    mp = params.marketing
    inside = c.in_window
    cell = c.source[inside] * WINDOW_MONTHS + month_index(c.signup[inside])
    signups = np.bincount(cell, minlength=len(SOURCES) * WINDOW_MONTHS).astype(float)
    src = np.repeat(np.arange(len(SOURCES)), WINDOW_MONTHS)
    fixed = np.array([mp.fixed_per_month[s] for s in SOURCES])[src] * c.n / mp.reference_customers
    cac = np.array([mp.cac[s] for s in SOURCES])[src]
    noise = rng.lognormal(0.0, mp.noise_sigma, len(src))
    spend = np.round(fixed + cac * signups * noise, 2)
    months = np.datetime64(WINDOW_START.isoformat(), "M") + np.tile(
        np.arange(WINDOW_MONTHS), len(SOURCES)
    )
    return pd.DataFrame(
        {
            "source": np.array(SOURCES)[src],
            "month": np.datetime_as_string(months.astype("datetime64[D]")),
            "spend": [f"{v:.2f}" for v in spend],
        }
    )
