"""The data contract: which tables segkit reads, their columns and types.

This module is the single source of truth for the contract; ``docs/data-contract.md`` is the
reader's version of it and a test keeps the two in step.

Kinds of column:

* ``id``: text identifier; surrounding white space is stripped, case is kept.
* ``date``: a calendar date or a timestamp. Naive timestamps are taken to be in the config's
  ``timezone`` (default UTC); aware ones are converted to it and then made naive, so every
  comparison happens in one local calendar.
* ``number``: a finite real number (no NaN, no infinity).
* ``text``: free text.
* ``bool``: true/false, yes/no, 1/0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["id", "date", "number", "text", "bool"]

#: Bound of money amounts (in currency units, either sign): larger values are export errors,
#: and the engine adds money exactly in 64-bit micro-units (segkit.data.engine.money_sum).
MONEY_LIMIT = 1e12


@dataclass(frozen=True)
class Column:
    """One column of a table in the contract."""

    name: str
    kind: Kind
    required: bool = True
    nullable: bool = False
    description: str = ""
    #: Inclusive bounds for numbers, checked at load time.
    minimum: float | None = None
    maximum: float | None = None
    #: Allowed values for text columns (after lower-casing), when the contract fixes them.
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Table:
    """One table of the contract."""

    name: str
    description: str
    columns: tuple[Column, ...]
    required: bool = False
    #: Columns whose combination must be unique, if any.
    unique: tuple[str, ...] = field(default_factory=tuple)
    #: The date at which a row becomes known; an as-of view keeps rows dated before the cut-off
    #: and blanks any other date of the row that falls on or after it (not yet known then).
    event: str | None = None

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


TRANSACTIONS = Table(
    "transactions",
    "One row per purchase line or order. Returns and refunds are rows with a negative amount.",
    (
        Column("customer_id", "id", description="Who bought."),
        Column("date", "date", description="When (date or timestamp)."),
        Column(
            "amount",
            "number",
            minimum=-MONEY_LIMIT,
            maximum=MONEY_LIMIT,
            description="Net revenue of the row in the report currency; "
            "negative for returns and refunds.",
        ),
        Column(
            "order_id",
            "id",
            required=False,
            nullable=True,
            description="Order the row belongs to; rows of one order count as one purchase.",
        ),
        Column(
            "margin",
            "number",
            minimum=-MONEY_LIMIT,
            maximum=MONEY_LIMIT,
            required=False,
            nullable=True,
            description="Gross margin of the row (same currency as amount).",
        ),
        Column(
            "cost",
            "number",
            minimum=-MONEY_LIMIT,
            maximum=MONEY_LIMIT,
            required=False,
            nullable=True,
            description="Cost of goods; margin = amount - cost when margin is absent.",
        ),
        Column("quantity", "number", required=False, nullable=True),
        Column("product", "text", required=False, nullable=True),
        Column("category", "text", required=False, nullable=True),
        Column("channel", "text", required=False, nullable=True),
    ),
    required=True,
    event="date",
)

CUSTOMERS = Table(
    "customers",
    "One row per customer. Any further columns (income band, company size, industry ...) are "
    "kept as attributes for stratification.",
    (
        Column("customer_id", "id"),
        Column("signup_date", "date", required=False, nullable=True),
        Column(
            "acquisition_source",
            "text",
            required=False,
            nullable=True,
            description="How the customer heard of us (channel).",
        ),
        Column("region", "text", required=False, nullable=True),
        Column(
            "name",
            "text",
            required=False,
            nullable=True,
            description="Display name; personal, masked in reports unless asked for.",
        ),
    ),
    unique=("customer_id",),
    event="signup_date",
)

SUBSCRIPTIONS = Table(
    "subscriptions",
    "Contracts. end_date is empty while the contract is active.",
    (
        Column("customer_id", "id"),
        Column("plan", "text"),
        Column("start_date", "date"),
        Column("end_date", "date", nullable=True),
        Column("monthly_value", "number", minimum=0.0, maximum=MONEY_LIMIT),
    ),
    event="start_date",
)

SURVEYS = Table(
    "surveys",
    "Survey answers; either score may be empty.",
    (
        Column("customer_id", "id"),
        Column("date", "date"),
        Column(
            "nps",
            "number",
            nullable=True,
            minimum=0,
            maximum=10,
            description="Likelihood to recommend, integer 0-10.",
        ),
        Column(
            "csat",
            "number",
            nullable=True,
            minimum=1,
            maximum=5,
            description="Satisfaction, integer 1-5.",
        ),
    ),
    event="date",
)

TICKETS = Table(
    "tickets",
    "Support tickets; first_response_at and resolved_at are empty while pending.",
    (
        Column("customer_id", "id"),
        Column("opened_at", "date"),
        Column("first_response_at", "date", nullable=True),
        Column("resolved_at", "date", nullable=True),
    ),
    event="opened_at",
)

FUNNEL = Table(
    "funnel",
    "One row per lead and stage reached, e.g. call -> proposal -> meeting -> buyer.",
    (
        Column("lead_id", "id"),
        Column("stage", "text"),
        Column("entered_at", "date"),
        Column("source", "text", required=False, nullable=True),
        Column(
            "customer_id",
            "id",
            required=False,
            nullable=True,
            description="Set once the lead became a customer.",
        ),
    ),
    event="entered_at",
)

OFFERS = Table(
    "offers",
    "Upsell and cross-sell offers made to customers and whether they were accepted.",
    (
        Column("customer_id", "id"),
        Column("offered_at", "date"),
        Column("kind", "text", choices=("upsell", "cross-sell")),
        Column("accepted", "bool"),
    ),
    event="offered_at",
)

MARKETING = Table(
    "marketing",
    "Optional marketing spend per acquisition source and month.",
    (
        Column("source", "text"),
        Column("month", "date", description="First day of the month the spend belongs to."),
        Column("spend", "number", minimum=0.0, maximum=MONEY_LIMIT),
    ),
    event="month",
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (TRANSACTIONS, CUSTOMERS, SUBSCRIPTIONS, SURVEYS, TICKETS, FUNNEL, OFFERS, MARKETING)
}

#: File endings segkit reads, in the order it looks for them.
SUFFIXES: tuple[str, ...] = (".parquet", ".csv", ".tsv", ".xlsx")


def markdown() -> str:
    """The contract as Markdown tables: the generated part of ``docs/data-contract.md``."""
    out = []
    for table in TABLES.values():
        need = "required" if table.required else "optional"
        out.append(f"### `{table.name}` ({need})\n\n{table.description}\n")
        if table.event:
            out.append(f"Known from: `{table.event}` (the as-of date of a row).\n")
        out.append("| column | kind | required | empty allowed | rule | meaning |")
        out.append("|---|---|---|---|---|---|")
        for c in table.columns:
            rule = []
            if c.minimum is not None:
                rule.append(f">= {c.minimum:g}")
            if c.maximum is not None:
                rule.append(f"<= {c.maximum:g}")
            if c.choices:
                rule.append("one of " + ", ".join(c.choices))
            if table.unique == (c.name,):
                rule.append("unique")
            out.append(
                f"| `{c.name}` | {c.kind} | {'yes' if c.required else 'no'} | "
                f"{'yes' if c.nullable else 'no'} | {'; '.join(rule)} | {c.description} |"
            )
        out.append("")
    return "\n".join(out)
