"""Groupings of customers shared by the relationship analyses: acquisition source, a customers
attribute, and the tier when a ``tiers`` section ran before.

Each grouping is a frame ``customer_id, group``; a customer without a value is in the group
``(unknown)`` so that group totals add up to the whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from segkit.engine.context import PeriodContext

UNKNOWN = "(unknown)"


def customer_groups(ctx: PeriodContext, columns: Iterable[str]) -> dict[str, pd.DataFrame]:
    """Grouping name -> ``customer_id, group`` for each customers column present, plus ``tier``.

    Columns the customers table lacks (or holds only empty values for) are skipped: a default
    such as ``region`` must not fail on data without it. The tier comes from the section named
    ``tiers`` (``data["clients"]`` with ``customer_id, tier``) when it ran without error; it is
    read, never required.
    """
    out: dict[str, pd.DataFrame] = {}
    if ctx.has("customers"):
        present = set(ctx.dataset.columns("customers"))
        wanted = [c for c in dict.fromkeys(columns) if c in present and c != "customer_id"]
        if wanted:
            customers = ctx.table("customers")
            for col in wanted:
                if customers[col].notna().any():
                    out[col] = _labelled(customers["customer_id"], customers[col])
    tiers = ctx.results.get("tiers")
    if tiers is not None and not tiers.error:
        clients = tiers.data.get("clients")
        if isinstance(clients, pd.DataFrame) and {"customer_id", "tier"} <= set(clients.columns):
            out["tier"] = _labelled(clients["customer_id"], clients["tier"])
    return out


def _labelled(ids: pd.Series, values: pd.Series) -> pd.DataFrame:
    # Loaded text is already trimmed with empty cells as NULL (segkit.data.load).
    group = values.astype(object).where(values.notna(), UNKNOWN).astype(str)
    return pd.DataFrame({"customer_id": ids.to_numpy(), "group": group.to_numpy()})


def with_group(frame: pd.DataFrame, grouping: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with ``customer_id``) plus the column ``group``; unmatched rows are unknown."""
    merged = frame.merge(grouping, on="customer_id", how="left")
    merged["group"] = merged["group"].fillna(UNKNOWN)
    return merged


def stacked(parts: Sequence[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Per-grouping tables stacked under a leading ``by`` column (empty frame when none)."""
    frames = [p.assign(by=name) for name, p in parts if len(p)]
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    return out[["by", *[c for c in out.columns if c != "by"]]]
