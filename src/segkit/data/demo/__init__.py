"""The embedded demo company: a deterministic synthetic data folder with known ground truth.

:func:`generate` writes every contract table plus ``truth/`` into a folder. Same seed and size
give byte-identical files: all randomness comes from ``numpy.random.Generator(PCG64)`` streams
spawned from ``SeedSequence(seed)``, one per concern (:data:`STREAMS`; new streams are appended,
so changing one table's draws never shifts another's). Parameters live in
:mod:`segkit.data.demo.params` and are copied to ``truth/truth.json``.

Generative model (time in days from 2023-01-01 unless stated; money in currency units)

* **Window** ``[2023-01-01, 2026-01-01)``, 1096 days, fixed. Only events inside it are written,
  except the start dates of subscriptions (and signups) of legacy customers (left truncation).
* **Arrivals.** Signup intensity grows exponentially, x1.4 over the window (same rate before).
  ``round(0.10 n)`` *legacy* customers sign up in ``[2020-01-01, 2023-01-01)``; their processes
  run from signup, only in-window events are written (``in_window = False`` in the truth).
  Outbound customers are exactly the funnel's won leads (signup = time the lead reached
  ``buyer``); the remaining in-window customers get sources search/social/referral/email/
  partner/events with shares 30/20/16/12/12/10 %. A referral customer's referrer is an earlier
  customer drawn with weight ``lambda * (1 - p)``; ``referrals`` counts them.
* **Funnel.** ``round(n_in_window_slots * 0.05 * 80)`` calls with the arrival growth; stage k ->
  k+1 converts independently with 50 % (call -> proposal), 10 % (-> meeting), 25 % (-> buyer)
  after LogNormal(log median, 0.6) delays with medians 4, 9 and 12 days. Stages reached after
  the window end are not written (censored).
* **Purchases (BG/NBD, weeks).** ``lambda ~ Gamma(r=0.5, rate alpha=1.2)``, ``p ~ Beta(a=0.7,
  b=5.0)``. The first purchase is at signup (the acquisition purchase, "time zero"); repeat
  purchases follow a Poisson process with rate lambda; after each *repeat* purchase the
  customer drops out with probability p (so the number of repeats before dropout is
  Geometric(p) on 1, 2, ...), exactly as in Fader, Hardie & Lee (2005). No seasonality.
* **Order value (Gamma-Gamma).** ``nu ~ Gamma(q=3.0, rate gamma=28)`` per customer, every order
  (acquisition included) ``z ~ Gamma(p=6, rate nu)``, so ``E[z] = p gamma / (q - 1) = 84``;
  rounded to cents (at least one cent).
* **Rows.** An order has 1/2/3 lines with probability 35/35/30 % (fewer if it has fewer cents),
  amounts split by Dirichlet(1) shares in whole cents summing to the order value. Line category
  software/hardware/services/consumables/training/accessories with probability
  25/20/20/15/10/10 % and margin rate 0.80/0.22/0.45/0.30/0.60/0.50 (margin = amount x rate);
  product Zipf(1) within the category; quantity ``1 + Poisson(0.6)``; channel per order web/
  sales_rep/partner/marketplace 55/20/15/10 %. Timestamps: the continuous event time keeps its
  calendar day and is moved within the day by a monotone map to a realistic hour profile.
* **Returns.** 3 % of written orders: one of its lines, ``k ~ U{1..quantity}`` units (k =
  quantity is a full return), amount and margin ``-line * k / quantity``, quantity ``-k``, dated
  ``U{1..30}`` days later, same order_id; dropped if that falls after the window.
* **Value classes.** True expected annual value ``lambda * 52 * p / nu``; top 20 % of all
  customers "key", next 30 % "middle", the rest "small".
* **Attributes.** income band = standard-normal cut (10/20/40/20/10 %) of
  ``0.7 z_spend + sqrt(0.51) e`` with z_spend the standardised ``-log nu``; company size the
  same with the standardised ``log lambda``; region and industry independent.
* **Subscriptions.** 30 % of customers; start at signup (50 %) or signup + Exp(mean 60 days);
  plan basic/pro/enterprise 55/33/12 %; lifetime in months from the Weibull proportional hazards
  model ``S(t) = exp(-(t / 30) ** 0.9 * exp(beta_plan + beta_source))`` with beta_plan
  basic 0, pro -0.4, enterprise -0.9 and beta_source search 0, social 0.3, referral -0.4,
  email 0.1, partner -0.2, events 0, outbound -0.3; contracts that ended before the window are
  not observed; end_date empty while active at the window end; monthly_value = list price
  29/99/499 x LogNormal(0, 0.3). Independent of purchases.
* **Surveys.** 8 % of written orders get one, answered U(1, 8) days later (calendar day of the
  order + 1 + U*7); latent ``s = 0.8 z_lambda - 0.6 z_p - 1.2 last + N(0, 1)`` (``z_lambda`` =
  standardised log lambda, ``z_p`` = standardised logit p, ``last`` = the customer drops out after
  this order); ``nps = clip(round(7.8 + 1.6 s), 0, 10)``, ``csat = clip(round(3.8 + 0.7 s + 0.6
  N(0, 1)), 1, 5)``; nps empty with probability 0.15, otherwise csat empty with 0.20.
* **Tickets.** 6 % of written orders, opened Exp(mean 5 days) later; first response after
  LogNormal(median 4 h, sigma 1.0), resolution LogNormal(median 30 h, sigma 1.1) after that;
  times at or after the window end are empty (censored); 1 % have no recorded first response.
* **Offers.** Poisson(0.5 per year) from max(signup, window start); upsell 60 %; accepted with
  probability 35/20/8 % for key/middle/small, x0.4 once the customer has dropped out.
* **Marketing.** Per source and month: ``fixed x n / 50,000 + cac x signups x LogNormal(0, 0.2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from segkit.data.demo import contacts, write
from segkit.data.demo.clock import WINDOW_DAYS, clock, format_dates
from segkit.data.demo.params import (
    DAYS_PER_WEEK,
    LEGACY_START,
    PARAMS,
    SOURCES,
    VALUE_CLASSES,
    WINDOW_END,
    WINDOW_START,
    Params,
)
from segkit.data.demo.people import draw_customers, draw_funnel
from segkit.data.demo.purchases import orders, product_names, rows

__all__ = ["STREAMS", "DemoInfo", "generate"]

#: One random stream per concern, spawned in this order (append only).
STREAMS = (
    "funnel",
    "arrivals",
    "latent",
    "attributes",
    "names",
    "purchases",
    "order_values",
    "order_lines",
    "returns",
    "subscriptions",
    "surveys",
    "tickets",
    "offers",
    "marketing",
)


@dataclass(frozen=True)
class DemoInfo:
    """What :func:`generate` wrote: file per table, row counts, the window ``[start, end)``."""

    out: Path
    files: dict[str, Path]
    rows: dict[str, int]
    window_start: date
    window_end: date
    customers: int
    seed: int


def _streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {
        name: np.random.Generator(np.random.PCG64(s))
        for name, s in zip(STREAMS, children, strict=True)
    }


def generate(out: Path, customers: int = 50_000, seed: int = 7) -> DemoInfo:
    """Write the demo company for ``customers`` customers (at least 100) into folder ``out``."""
    if customers < 100:
        raise ValueError("the demo company needs at least 100 customers")
    params: Params = PARAMS
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    streams = _streams(seed)

    in_window_slots = customers - round(params.arrivals.legacy_share * customers)
    win_rate = float(np.prod(params.funnel.conversion))
    n_calls = round(in_window_slots * params.arrivals.outbound_share / win_rate)
    fun = draw_funnel(streams["funnel"], n_calls, params)
    cust = draw_customers(customers, fun, streams, params)
    width = max(6, len(str(customers)))
    ids = np.array([f"C{i + 1:0{width}d}" for i in range(customers)], dtype=object)

    life, ords = orders(streams, cust, params)
    tx = rows(streams["order_lines"], streams["returns"], ords, params)
    order_ids = [f"O{i + 1:08d}" for i in range(len(ords.time))]
    signup_at = clock(cust.signup)

    frames = {
        "customers": pd.DataFrame(
            {
                "customer_id": ids,
                "name": cust.names,
                "signup_date": format_dates(signup_at),
                "acquisition_source": np.array(SOURCES)[cust.source],
                "region": np.array(list(params.attributes.region_share))[cust.region],
                "income_band": np.array(params.attributes.income_bands)[cust.income_band],
                "company_size": np.array(params.attributes.company_sizes)[cust.company_size],
                "industry": np.array(list(params.attributes.industry_share))[cust.industry],
                "referrals": cust.referrals,
            }
        ),
        "subscriptions": contacts.subscriptions(streams["subscriptions"], cust, ids, params),
        "surveys": contacts.surveys(streams["surveys"], cust, ords, ids, params),
        "tickets": contacts.tickets(streams["tickets"], ords, ids, params),
        "funnel": contacts.funnel(fun, cust, ids, params),
        "offers": contacts.offers(streams["offers"], cust, life, ids, params),
        "marketing": contacts.marketing(streams["marketing"], cust, params),
    }
    files: dict[str, Path] = {}
    rows_written: dict[str, int] = {}
    for name, frame in frames.items():
        files[name] = out / f"{name}.csv"
        write.csv(frame, files[name])
        rows_written[name] = len(frame)

    files["transactions"] = out / "transactions.parquet"
    write.parquet(
        {
            "customer_id": write.labels(ids, tx.customer),
            "date": write.timestamps(tx.time),
            "amount": pa.array(tx.cents / 100.0),
            "order_id": write.labels(order_ids, tx.order),
            "margin": pa.array(tx.margin_cents / 100.0),
            "quantity": pa.array(tx.quantity),
            "product": write.labels(product_names(params), tx.product),
            "category": write.labels(list(params.orders.category_share), tx.category),
            "channel": write.labels(list(params.orders.channel_share), tx.channel),
        },
        files["transactions"],
    )
    rows_written["transactions"] = len(tx.time)

    alive = np.isnan(life.death)
    referrer = cust.referred_by >= 0
    files["truth_customers"] = out / "truth" / "customers.parquet"
    write.parquet(
        {
            "customer_id": pa.array(ids, type=pa.string()),
            "signup_at": write.timestamps(signup_at),
            "in_window": pa.array(cust.in_window),
            "acquisition_source": write.labels(SOURCES, cust.source),
            "lambda_per_week": pa.array(cust.lam),
            "dropout_p": pa.array(cust.p),
            "nu": pa.array(cust.nu),
            "expected_order_value": pa.array(params.gamma_gamma.p / cust.nu),
            "expected_annual_value": pa.array(cust.annual_value),
            "value_class": write.labels(VALUE_CLASSES, cust.value_class),
            "exposure_weeks": pa.array((WINDOW_DAYS - cust.signup) / DAYS_PER_WEEK),
            "repeats_to_dropout": pa.array(life.dropout_after),
            "repeats_by_window_end": pa.array(life.repeats),
            "death_at": write.timestamps(np.where(alive, np.nan, clock(life.death))),
            "alive_at_end": pa.array(alive),
            "referred_by": pa.array(
                ids[np.maximum(cust.referred_by, 0)], type=pa.string(), mask=~referrer
            ),
        },
        files["truth_customers"],
    )
    rows_written["truth_customers"] = customers

    files["truth"] = out / "truth" / "truth.json"
    write.json_file(
        {
            "seed": seed,
            "customers": customers,
            "window": {"start": WINDOW_START.isoformat(), "end_exclusive": WINDOW_END.isoformat()},
            "legacy_start": LEGACY_START.isoformat(),
            "time_unit_bgnbd": "week (7 days)",
            "streams": list(STREAMS),
            "calls": n_calls,
            "rows": rows_written,
            "params": params.as_json(),
            "expected_order_value": params.gamma_gamma.p
            * params.gamma_gamma.gamma
            / (params.gamma_gamma.q - 1),
            "model": __doc__,
        },
        files["truth"],
    )
    return DemoInfo(
        out=out,
        files=files,
        rows=rows_written,
        window_start=WINDOW_START,
        window_end=WINDOW_END,
        customers=customers,
        seed=seed,
    )
