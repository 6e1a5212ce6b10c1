"""Every parameter of the demo company, in one place, so ``truth/truth.json`` can list them all.

Units: times in days unless a name says weeks or months; money in report currency units.
The model each block feeds is described in the package docstring (:mod:`segkit.data.demo`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

#: First day inside the data window.
WINDOW_START = date(2023, 1, 1)
#: First day after the data window (the window is ``[WINDOW_START, WINDOW_END)``).
WINDOW_END = date(2026, 1, 1)
#: Legacy customers signed up in ``[LEGACY_START, WINDOW_START)``.
LEGACY_START = date(2020, 1, 1)
DAYS_PER_WEEK = 7.0
DAYS_PER_MONTH = 365.25 / 12

#: Acquisition sources, in the fixed order every categorical draw uses.
SOURCES = ("search", "social", "referral", "email", "partner", "events", "outbound")
PLANS = ("basic", "pro", "enterprise")
VALUE_CLASSES = ("key", "middle", "small")


def _norm(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


@dataclass(frozen=True)
class Arrivals:
    """Signups: exponential growth of the arrival intensity, a legacy share before the window."""

    #: Arrival intensity at the window end over that at the window start (same rate before it).
    growth_over_window: float = 1.4
    legacy_share: float = 0.10
    #: Target share of outbound customers among in-window signups; the funnel gets
    #: ``outbound_share / prod(conversion)`` calls per in-window customer (80 per buyer).
    outbound_share: float = 0.05
    #: Source mix of in-window customers not won through the funnel (outbound comes from it).
    inbound_sources: dict[str, float] = field(
        default_factory=lambda: _norm(
            {"search": 30, "social": 20, "referral": 16, "email": 12, "partner": 12, "events": 10}
        )
    )
    #: Source mix of legacy customers (their funnel history predates the data).
    legacy_sources: dict[str, float] = field(
        default_factory=lambda: _norm(
            {
                "search": 28,
                "social": 15,
                "referral": 17,
                "email": 12,
                "partner": 15,
                "events": 8,
                "outbound": 5,
            }
        )
    )


@dataclass(frozen=True)
class Funnel:
    """Outbound funnel: call -> proposal -> meeting -> buyer, lognormal delays between stages."""

    stages: tuple[str, ...] = ("call", "proposal", "meeting", "buyer")
    #: P(reach stage k+1 | reached stage k).
    conversion: tuple[float, ...] = (0.50, 0.10, 0.25)
    #: Median days from stage k to stage k+1 and the lognormal sigma of that delay.
    delay_median_days: tuple[float, ...] = (4.0, 9.0, 12.0)
    delay_sigma: float = 0.6
    lead_sources: dict[str, float] = field(
        default_factory=lambda: {"cold_list": 0.6, "linkedin": 0.3, "trade_directory": 0.1}
    )


@dataclass(frozen=True)
class BGNBD:
    """BG/NBD purchase process in weeks: lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b)."""

    r: float = 0.5
    alpha: float = 1.2
    a: float = 0.7
    b: float = 5.0


@dataclass(frozen=True)
class GammaGamma:
    """Order value z ~ Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate gamma)."""

    p: float = 6.0
    q: float = 3.0
    gamma: float = 28.0


@dataclass(frozen=True)
class Orders:
    """How an order value becomes rows: lines, categories, products, channels, returns."""

    #: P(1 line), P(2 lines), P(3 lines).
    lines: tuple[float, ...] = (0.35, 0.35, 0.30)
    #: Line category probabilities and gross margin rates (margin = amount x rate).
    category_share: dict[str, float] = field(
        default_factory=lambda: {
            "software": 0.25,
            "hardware": 0.20,
            "services": 0.20,
            "consumables": 0.15,
            "training": 0.10,
            "accessories": 0.10,
        }
    )
    margin_rate: dict[str, float] = field(
        default_factory=lambda: {
            "software": 0.80,
            "hardware": 0.22,
            "services": 0.45,
            "consumables": 0.30,
            "training": 0.60,
            "accessories": 0.50,
        }
    )
    #: Within a category, product k (0-based) has weight 1 / (k + 1) (Zipf).
    zipf_exponent: float = 1.0
    #: quantity = 1 + Poisson(extra_quantity_mean); independent of the line amount.
    extra_quantity_mean: float = 0.6
    channel_share: dict[str, float] = field(
        default_factory=lambda: {
            "web": 0.55,
            "sales_rep": 0.20,
            "partner": 0.15,
            "marketplace": 0.10,
        }
    )
    return_probability: float = 0.03
    #: A return comes 1..max_return_days whole days after the order (uniform), dropped if it
    #: would fall after the window.
    max_return_days: int = 30


@dataclass(frozen=True)
class Attributes:
    """Customer attributes; income band and company size are noisy readings of latent values."""

    #: Correlation of the band score with standardised log spend (income) or log rate (size).
    band_correlation: float = 0.7
    #: Standard-normal cut points of the band score (gives 10/20/40/20/10 %).
    band_cuts: tuple[float, ...] = (-1.2816, -0.5244, 0.5244, 1.2816)
    income_bands: tuple[str, ...] = ("low", "lower-middle", "middle", "upper-middle", "high")
    company_sizes: tuple[str, ...] = ("1-9", "10-49", "50-249", "250-999", "1000+")
    region_share: dict[str, float] = field(
        default_factory=lambda: {
            "north": 0.18,
            "south": 0.17,
            "east": 0.20,
            "west": 0.25,
            "central": 0.15,
            "abroad": 0.05,
        }
    )
    industry_share: dict[str, float] = field(
        default_factory=lambda: {
            "retail": 0.20,
            "manufacturing": 0.18,
            "it": 0.15,
            "construction": 0.12,
            "healthcare": 0.10,
            "logistics": 0.10,
            "finance": 0.08,
            "education": 0.07,
        }
    )
    company_name_share: float = 0.6
    #: Share of company names that are Chinese (non-Latin text in reports).
    chinese_company_share: float = 0.01


@dataclass(frozen=True)
class Subscriptions:
    """Weibull proportional-hazards contract lifetimes (months).

    S(t | x) = exp(-(t / scale_months) ** shape * exp(beta_plan + beta_source)).
    """

    probability: float = 0.30
    #: P(start at signup); otherwise start = signup + Exponential(mean start_delay_mean_days).
    start_at_signup: float = 0.5
    start_delay_mean_days: float = 60.0
    plan_share: dict[str, float] = field(
        default_factory=lambda: {"basic": 0.55, "pro": 0.33, "enterprise": 0.12}
    )
    shape: float = 0.9
    scale_months: float = 30.0
    #: Log hazard ratios (negative = longer lifetimes); basic and search are the baseline.
    beta_plan: dict[str, float] = field(
        default_factory=lambda: {"basic": 0.0, "pro": -0.4, "enterprise": -0.9}
    )
    beta_source: dict[str, float] = field(
        default_factory=lambda: {
            "search": 0.0,
            "social": 0.3,
            "referral": -0.4,
            "email": 0.1,
            "partner": -0.2,
            "events": 0.0,
            "outbound": -0.3,
        }
    )
    #: monthly_value = list price x LogNormal(0, price_sigma), rounded to cents.
    list_price: dict[str, float] = field(
        default_factory=lambda: {"basic": 29.0, "pro": 99.0, "enterprise": 499.0}
    )
    price_sigma: float = 0.3


@dataclass(frozen=True)
class Surveys:
    """Survey after an order; scores read a latent satisfaction s.

    s = w_rate * z_lambda - w_dropout * z_p - w_last * last + N(0, 1), where z_lambda and z_p are
    log lambda and logit p standardised by their population mean and sd (digamma/trigamma of
    the Gamma and Beta priors) and last = 1 when the customer drops out after this order.
    nps = clip(round(nps_intercept + nps_slope * s), 0, 10);
    csat = clip(round(csat_intercept + csat_slope * s + csat_noise * N(0, 1)), 1, 5).
    """

    probability_per_order: float = 0.08
    #: Survey is answered uniformly 1..1 + answer_days_span days after the order.
    answer_days_span: float = 7.0
    w_rate: float = 0.8
    w_dropout: float = 0.6
    w_last: float = 1.2
    nps_intercept: float = 7.8
    nps_slope: float = 1.6
    csat_intercept: float = 3.8
    csat_slope: float = 0.7
    csat_noise: float = 0.6
    nps_missing: float = 0.15
    #: csat is missing with this probability only when nps is present (no empty answers).
    csat_missing: float = 0.20


@dataclass(frozen=True)
class Tickets:
    """Support tickets after orders; lognormal response and resolution times (hours)."""

    probability_per_order: float = 0.06
    open_delay_mean_days: float = 5.0
    first_response_median_hours: float = 4.0
    first_response_sigma: float = 1.0
    #: Resolution time is counted from the first response.
    resolution_median_hours: float = 30.0
    resolution_sigma: float = 1.1
    #: Share of tickets whose first response was never recorded (resolved_at is still set).
    missing_first_response: float = 0.01


@dataclass(frozen=True)
class Offers:
    """Upsell / cross-sell offers: Poisson in time; acceptance by latent value class."""

    per_year: float = 0.5
    upsell_share: float = 0.6
    acceptance: dict[str, float] = field(
        default_factory=lambda: {"key": 0.35, "middle": 0.20, "small": 0.08}
    )
    #: Acceptance multiplier when the customer has already dropped out (BG/NBD death).
    dead_factor: float = 0.4


@dataclass(frozen=True)
class ValueClasses:
    """Latent class by true expected annual value lambda * 52 * p / nu (ranked over everyone)."""

    key_share: float = 0.20
    middle_share: float = 0.30


@dataclass(frozen=True)
class Marketing:
    """spend = fixed x customers / 50,000 + cac x signups x LogNormal(0, noise_sigma)."""

    fixed_per_month: dict[str, float] = field(
        default_factory=lambda: {
            "search": 2000.0,
            "social": 1500.0,
            "referral": 0.0,
            "email": 500.0,
            "partner": 1000.0,
            "events": 3000.0,
            "outbound": 8000.0,
        }
    )
    cac: dict[str, float] = field(
        default_factory=lambda: {
            "search": 120.0,
            "social": 90.0,
            "referral": 40.0,
            "email": 25.0,
            "partner": 150.0,
            "events": 400.0,
            "outbound": 900.0,
        }
    )
    noise_sigma: float = 0.2
    reference_customers: int = 50_000


@dataclass(frozen=True)
class Params:
    """All parameters of the demo company."""

    arrivals: Arrivals = field(default_factory=Arrivals)
    funnel: Funnel = field(default_factory=Funnel)
    bgnbd: BGNBD = field(default_factory=BGNBD)
    gamma_gamma: GammaGamma = field(default_factory=GammaGamma)
    orders: Orders = field(default_factory=Orders)
    attributes: Attributes = field(default_factory=Attributes)
    value_classes: ValueClasses = field(default_factory=ValueClasses)
    subscriptions: Subscriptions = field(default_factory=Subscriptions)
    surveys: Surveys = field(default_factory=Surveys)
    tickets: Tickets = field(default_factory=Tickets)
    offers: Offers = field(default_factory=Offers)
    marketing: Marketing = field(default_factory=Marketing)

    def as_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        return asdict(self)


PARAMS = Params()
