"""Who the customers are: the outbound funnel, signups, latent BG/NBD and spend values, attributes.

Customers are numbered in signup order (index 0 is ``C000001``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import digamma, polygamma

from segkit.data.demo.clock import (
    WINDOW_DAYS,
    Floats,
    Ints,
    days_since_start,
    growth_rate,
    growth_times,
)
from segkit.data.demo.names import draw_names
from segkit.data.demo.params import LEGACY_START, SOURCES, Params

Bools = NDArray[np.bool_]


@dataclass(frozen=True)
class FunnelDraw:
    """Leads in call order; one entry per (lead, stage reached inside the window)."""

    row_lead: Ints
    row_stage: Ints
    row_time: Floats
    lead_source: Ints
    #: Leads that reached ``buyer`` inside the window, and when (raw days).
    won_lead: Ints
    won_time: Floats


@dataclass(frozen=True)
class Customers:
    """Per-customer arrays, indexed in signup order."""

    signup: Floats
    source: Ints
    #: Lead that brought the customer, -1 unless won through the funnel.
    lead: Ints
    lam: Floats
    p: Floats
    nu: Floats
    z_rate: Floats
    z_dropout: Floats
    annual_value: Floats
    value_class: Ints
    referred_by: Ints
    referrals: Ints
    region: Ints
    industry: Ints
    income_band: Ints
    company_size: Ints
    names: list[str]

    @property
    def n(self) -> int:
        return len(self.signup)

    @property
    def in_window(self) -> Bools:
        return self.signup >= 0.0


def _choice(rng: np.random.Generator, shares: dict[str, float], size: int) -> Ints:
    """Indices into ``shares``' keys (insertion order), drawn with its probabilities."""
    probs = np.array(list(shares.values()))
    return rng.choice(len(probs), size=size, p=probs / probs.sum())


def draw_funnel(rng: np.random.Generator, n_calls: int, params: Params) -> FunnelDraw:
    """Calls arrive with the signup growth; each stage converts independently after a delay."""
    fp = params.funnel
    rate = growth_rate(params.arrivals.growth_over_window)
    call = np.sort(growth_times(rng.random(n_calls), 0.0, WINDOW_DAYS, rate))
    lead_source = _choice(rng, fp.lead_sources, n_calls)
    n_steps = len(fp.conversion)
    passed = rng.random((n_calls, n_steps)) < np.array(fp.conversion)
    # Stage k is reached when every earlier step passed.
    reached = np.concatenate(
        [np.ones((n_calls, 1), dtype=bool), np.cumprod(passed, axis=1).astype(bool)], axis=1
    )
    delays = rng.lognormal(
        np.log(np.array(fp.delay_median_days)), fp.delay_sigma, (n_calls, n_steps)
    )
    times = call[:, None] + np.concatenate([np.zeros((n_calls, 1)), np.cumsum(delays, 1)], axis=1)
    # Stages after the window end are not (yet) observed: the lead is censored there.
    seen = reached & (times < WINDOW_DAYS)
    lead_idx, stage_idx = np.nonzero(seen)
    won = seen[:, -1]
    return FunnelDraw(
        row_lead=lead_idx.astype(np.int64),
        row_stage=stage_idx.astype(np.int64),
        row_time=times[lead_idx, stage_idx],
        lead_source=lead_source,
        won_lead=np.flatnonzero(won).astype(np.int64),
        won_time=times[won, -1],
    )


def _signups(
    rng: np.random.Generator, n: int, funnel: FunnelDraw, params: Params
) -> tuple[Floats, Ints, Ints]:
    """Signup times (raw days), source indices and lead indices, sorted by signup time."""
    ap = params.arrivals
    rate = growth_rate(ap.growth_over_window)
    n_legacy = round(ap.legacy_share * n)
    n_out = len(funnel.won_time)
    n_inbound = n - n_legacy - n_out
    if n_inbound < 0:
        raise ValueError(f"{n} customers are too few for the {n_out} funnel buyers drawn")
    legacy = growth_times(rng.random(n_legacy), days_since_start(LEGACY_START), 0.0, rate)
    inbound = growth_times(rng.random(n_inbound), 0.0, WINDOW_DAYS, rate)
    source_of = {s: i for i, s in enumerate(SOURCES)}
    legacy_src = np.array([source_of[s] for s in ap.legacy_sources])
    inbound_src = np.array([source_of[s] for s in ap.inbound_sources])
    signup = np.concatenate([legacy, inbound, funnel.won_time])
    source = np.concatenate(
        [
            legacy_src[_choice(rng, ap.legacy_sources, n_legacy)],
            inbound_src[_choice(rng, ap.inbound_sources, n_inbound)],
            np.full(n_out, source_of["outbound"]),
        ]
    )
    lead = np.concatenate([np.full(n_legacy + n_inbound, -1), funnel.won_lead])
    order = np.argsort(signup, kind="stable")
    return signup[order], source[order], lead[order]


def _standardised_log_gamma(x: Floats, shape: float, rate: float) -> Floats:
    """(log x - E log x) / sd(log x) for x ~ Gamma(shape, rate)."""
    return (np.log(x) - (digamma(shape) - np.log(rate))) / np.sqrt(polygamma(1, shape))


def _bands(rng: np.random.Generator, z: Floats, params: Params) -> Ints:
    """Band index from a noisy standard-normal score correlated ``band_correlation`` with z."""
    rho = params.attributes.band_correlation
    score = rho * z + np.sqrt(1.0 - rho**2) * rng.standard_normal(len(z))
    return np.searchsorted(np.array(params.attributes.band_cuts), score).astype(np.int64)


def _referrals(rng: np.random.Generator, source: Ints, lam: Floats, p: Floats) -> tuple[Ints, Ints]:
    """Referrer of each referral customer (an earlier signup, weight lambda*(1-p)), and counts."""
    n = len(source)
    cum = np.cumsum(lam * (1.0 - p))
    referred = np.flatnonzero(source == SOURCES.index("referral"))
    # The very first customer has nobody earlier to be referred by (referrer outside the data).
    referred = referred[referred > 0]
    target = rng.random(len(referred)) * cum[referred - 1]
    referrer = np.minimum(np.searchsorted(cum, target, side="right"), referred - 1)
    referred_by = np.full(n, -1, dtype=np.int64)
    referred_by[referred] = referrer
    return referred_by, np.bincount(referrer, minlength=n).astype(np.int64)


def _value_classes(annual_value: Floats, params: Params) -> Ints:
    """0 key (top share), 1 middle, 2 small, by rank of the true expected annual value."""
    n = len(annual_value)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-annual_value, kind="stable")] = np.arange(n)
    vp = params.value_classes
    n_key = round(vp.key_share * n)
    n_mid = round((vp.key_share + vp.middle_share) * n)
    return np.where(rank < n_key, 0, np.where(rank < n_mid, 1, 2)).astype(np.int64)


def draw_customers(
    n: int,
    funnel: FunnelDraw,
    streams: dict[str, np.random.Generator],
    params: Params,
) -> Customers:
    """Signups, latent values (own stream), attributes and names for ``n`` customers."""
    signup, source, lead = _signups(streams["arrivals"], n, funnel, params)
    bg, gg = params.bgnbd, params.gamma_gamma
    latent = streams["latent"]
    lam = latent.gamma(bg.r, 1.0 / bg.alpha, n)
    p = latent.beta(bg.a, bg.b, n)
    nu = latent.gamma(gg.q, 1.0 / gg.gamma, n)
    z_rate = _standardised_log_gamma(lam, bg.r, bg.alpha)
    logit = np.log(p) - np.log1p(-p)
    z_dropout = (logit - (digamma(bg.a) - digamma(bg.b))) / np.sqrt(
        polygamma(1, bg.a) + polygamma(1, bg.b)
    )
    annual_value = lam * 52.0 * gg.p / nu
    attrs = streams["attributes"]
    ap = params.attributes
    referred_by, referrals = _referrals(attrs, source, lam, p)
    region = _choice(attrs, ap.region_share, n)
    industry = _choice(attrs, ap.industry_share, n)
    # Higher income band <-> higher spend per order (lower nu); bigger company <-> higher rate.
    income_band = _bands(attrs, -_standardised_log_gamma(nu, gg.q, gg.gamma), params)
    company_size = _bands(attrs, z_rate, params)
    return Customers(
        signup=signup,
        source=source,
        lead=lead,
        lam=lam,
        p=p,
        nu=nu,
        z_rate=z_rate,
        z_dropout=z_dropout,
        annual_value=annual_value,
        value_class=_value_classes(annual_value, params),
        referred_by=referred_by,
        referrals=referrals,
        region=region,
        industry=industry,
        income_band=income_band,
        company_size=company_size,
        names=draw_names(streams["names"], n, ap.company_name_share, ap.chinese_company_share),
    )
