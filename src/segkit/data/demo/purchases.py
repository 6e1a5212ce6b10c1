"""Purchases: the BG/NBD process per customer, Gamma-Gamma order values, lines and returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segkit.data.demo.clock import WINDOW_DAYS, Floats, Ints, clock
from segkit.data.demo.params import DAYS_PER_WEEK, Params
from segkit.data.demo.people import Bools, Customers


@dataclass(frozen=True)
class Orders:
    """Orders written to the data (inside the window), in (time, customer) order."""

    customer: Ints
    #: Clocked time, days since the window start.
    time: Floats
    #: True for the customer's last purchase before dropping out.
    last: Bools
    #: Order value in cents (the sum of its lines).
    cents: Ints


@dataclass(frozen=True)
class Lifetimes:
    """Per-customer outcome of the purchase process."""

    #: Repeat purchases after which the customer drops out (geometric, >= 1).
    dropout_after: Floats
    #: Repeat purchases made before the window end (inside or before the window).
    repeats: Ints
    #: Raw time of dropout (days), NaN while alive at the window end.
    death: Floats


@dataclass(frozen=True)
class Rows:
    """Transaction rows (lines and returns) in write order."""

    customer: Ints
    time: Floats
    order: Ints
    cents: Ints
    margin_cents: Ints
    quantity: Ints
    product: Ints
    category: Ints
    channel: Ints


def bgnbd(rng: np.random.Generator, c: Customers) -> tuple[Lifetimes, Ints, Floats]:
    """Run BG/NBD from each signup to the window end.

    Returns the lifetimes and, for every repeat purchase, its customer and raw time. Given N
    Poisson(lambda T) events on (0, T], they are uniform order statistics, and the first k of
    them are T * S_j / (S_k + G), with S_j sums of Exp(1) and G ~ Gamma(N + 1 - k): so only the
    kept events are drawn.
    """
    exposure = (WINDOW_DAYS - c.signup) / DAYS_PER_WEEK
    # Geometric(p) on {1, 2, ...} by inversion; float so that tiny p cannot overflow an int.
    dropout_after = np.maximum(np.ceil(rng.exponential(size=c.n) / -np.log1p(-c.p)), 1.0)
    n_events = rng.poisson(c.lam * exposure)
    kept = np.minimum(dropout_after, n_events).astype(np.int64)
    spacing = np.cumsum(rng.exponential(size=int(kept.sum())))
    first = np.cumsum(kept) - kept
    before = np.concatenate([[0.0], spacing])[first]
    partial = spacing - np.repeat(before, kept)
    last_sum = np.where(kept > 0, np.concatenate([[0.0], spacing])[first + kept] - before, 0.0)
    total = last_sum + rng.gamma(n_events - kept + 1.0)
    weeks = partial * np.repeat(exposure / total, kept)
    who = np.repeat(np.arange(c.n), kept)
    raw = c.signup[who] + weeks * DAYS_PER_WEEK
    died = dropout_after <= n_events
    death = np.full(c.n, np.nan)
    death[died] = c.signup[died] + last_sum[died] * exposure[died] / total[died] * DAYS_PER_WEEK
    return Lifetimes(dropout_after, kept, death), who, raw


def orders(
    streams: dict[str, np.random.Generator], c: Customers, params: Params
) -> tuple[Lifetimes, Orders]:
    """Acquisition purchase at signup plus BG/NBD repeats, values from Gamma-Gamma."""
    life, who, raw = bgnbd(streams["purchases"], c)
    customer = np.concatenate([np.arange(c.n), who])
    when = np.concatenate([c.signup, raw])
    # The last kept repeat of a customer who dropped out is the purchase after which they died.
    is_last = np.concatenate([np.zeros(c.n, bool), np.zeros(len(who), bool)])
    ends = np.cumsum(life.repeats)[~np.isnan(life.death)] - 1
    is_last[c.n + ends] = True
    inside = when >= 0.0
    customer, when, is_last = customer[inside], clock(when[inside]), is_last[inside]
    sort = np.lexsort((customer, when))
    customer, when, is_last = customer[sort], when[sort], is_last[sort]
    gg = params.gamma_gamma
    value = streams["order_values"].gamma(gg.p, 1.0 / c.nu[customer])
    cents = np.maximum(np.round(value * 100.0), 1).astype(np.int64)
    return life, Orders(customer, when, is_last, cents)


def rows(
    rng_lines: np.random.Generator, rng_returns: np.random.Generator, o: Orders, params: Params
) -> Rows:
    """Split each order into 1-3 lines (Dirichlet(1) shares) and add the return rows."""
    op = params.orders
    n = len(o.cents)
    n_lines = rng_lines.choice(len(op.lines), size=n, p=np.array(op.lines)) + 1
    # At least one cent per line: an order of fewer cents than lines gets fewer lines.
    n_lines = np.minimum(n_lines, o.cents)
    line_order = np.repeat(np.arange(n), n_lines)
    first = np.cumsum(n_lines) - n_lines
    seq = np.arange(len(line_order)) - first[line_order]
    share = rng_lines.exponential(size=len(line_order))
    share /= np.bincount(line_order, weights=share)[line_order]
    spare = (o.cents - n_lines)[line_order]
    cents = 1 + np.floor(share * spare).astype(np.int64)
    # Rounding leftovers go to each order's first line, so lines sum exactly to the order value.
    cents[first] += o.cents - np.bincount(line_order, weights=cents).astype(np.int64)
    cat_p = np.array(list(op.category_share.values()))
    category = rng_lines.choice(len(cat_p), size=len(line_order), p=cat_p)
    product = _distinct_in_order(_products(rng_lines, category, params), category, seq, params)
    rates = np.array([op.margin_rate[k] for k in op.category_share])
    margin = np.round(cents * rates[category]).astype(np.int64)
    quantity = 1 + rng_lines.poisson(op.extra_quantity_mean, len(line_order))
    ch_p = np.array(list(op.channel_share.values()))
    channel = rng_lines.choice(len(ch_p), size=n, p=ch_p)[line_order]

    # Returns: one line of ~3 % of orders, k of its units (all of them = a full return).
    returned = np.flatnonzero(rng_returns.random(n) < op.return_probability)
    line = first[returned] + (rng_returns.random(len(returned)) * n_lines[returned]).astype(
        np.int64
    )
    units = 1 + (rng_returns.random(len(returned)) * quantity[line]).astype(np.int64)
    delay = rng_returns.integers(1, op.max_return_days + 1, len(returned))
    when = np.floor(o.time[returned]) + delay + rng_returns.random(len(returned))
    keep = when < WINDOW_DAYS
    returned, line, units, when = returned[keep], line[keep], units[keep], clock(when[keep])
    ret_cents = -np.round(cents[line] * units / quantity[line]).astype(np.int64)
    ret_margin = -np.round(margin[line] * units / quantity[line]).astype(np.int64)

    order = np.concatenate([line_order, returned])
    time = np.concatenate([o.time[line_order], when])
    seq_all = np.concatenate([seq, np.full(len(returned), 3)])
    sort = np.lexsort((seq_all, order, time))
    cat_all = np.concatenate([category, category[line]])
    return Rows(
        customer=o.customer[order][sort],
        time=time[sort],
        order=order[sort],
        cents=np.concatenate([cents, ret_cents])[sort],
        margin_cents=np.concatenate([margin, ret_margin])[sort],
        quantity=np.concatenate([quantity, -units])[sort],
        product=np.concatenate([product, product[line]])[sort],
        category=cat_all[sort],
        channel=np.concatenate([channel, channel[line]])[sort],
    )


#: Products offered in each category (same order as ``Orders.category_share``).
PRODUCTS: dict[str, tuple[str, ...]] = {
    "software": ("CRM Cloud", "Analytics Suite", "Backup Pro", "Mail Shield", "Office Seat"),
    "hardware": ("Laptop 14", "Desktop Tower", "Monitor 27", "Network Switch", "Label Printer"),
    "services": ("Installation", "Support Plan", "Audit", "Migration", "On-site Visit"),
    "consumables": ("Paper A4", "Toner Black", "Toner Color", "Cleaning Kit", "Batteries"),
    "training": ("Onboarding Course", "Admin Course", "Webinar Seat", "Certification"),
    "accessories": ("Headset", "Docking Station", "Keyboard", "Mouse", "Cable Pack"),
}


def product_names(params: Params) -> list[str]:
    """Flat product catalogue; :func:`_products` returns indices into it."""
    return [name for cat in params.orders.category_share for name in PRODUCTS[cat]]


def _distinct_in_order(product: Ints, category: Ints, seq: Ints, params: Params) -> Ints:
    """Move a line whose product an earlier line of the same order already has to the next
    product of its category, so an order never lists one product twice (two such lines would be
    rows repeated in full, which the loader rightly takes for a doubled export)."""
    sizes = np.array([len(PRODUCTS[cat]) for cat in params.orders.category_share])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    product = product.copy()
    most = int(seq.max(initial=0))
    index = np.arange(len(seq))
    # Each pass moves the clashing lines one product on; with at most three lines per order and
    # at least four products per category, every order is clear after ``most + 1`` passes.
    for _ in range(most + 1):
        clash = np.zeros(len(seq), dtype=bool)
        for back in range(1, most + 1):
            later = seq >= back
            clash[later] |= product[later] == product[index[later] - back]
        if not clash.any():
            break
        base, size = offsets[category[clash]], sizes[category[clash]]
        product[clash] = base + (product[clash] - base + 1) % size
    return product


def _products(rng: np.random.Generator, category: Ints, params: Params) -> Ints:
    """Zipf-weighted product within each line's category, as an index into the catalogue."""
    u = rng.random(len(category))
    product = np.empty(len(category), dtype=np.int64)
    offset = 0
    for k, cat in enumerate(params.orders.category_share):
        size = len(PRODUCTS[cat])
        weights = 1.0 / np.arange(1, size + 1) ** params.orders.zipf_exponent
        cdf = np.cumsum(weights) / weights.sum()
        here = category == k
        # Inverse CDF on the line's uniform; min() guards against cdf[-1] rounding below 1.
        product[here] = offset + np.minimum(np.searchsorted(cdf, u[here], side="right"), size - 1)
        offset += size
    return product
