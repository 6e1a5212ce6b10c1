"""Stratification: clients grouped by their attributes, with each group's value and segment mix.

Definitions:

* Clients: everyone with a purchase before the period end (as in the client features).
* Groups: the values of each attribute in ``attributes`` (columns of the customers table; the
  default list is region, acquisition_source, income_band, industry, each used when present).
  An empty value is ``(unknown)``; beyond the ``max_groups`` largest groups, the rest are merged
  into ``(other)``.
* **Active**: clients with an order in the period. **Revenue**: net amount in the period,
  returns netted in; its share is of the total over all clients.
* **Mix**: for each segmentation named in ``mix`` (default tiers and quadrants) that ran this
  period, the shares of the group's classed clients at each level, labelled as of this period's
  end by the section's own segmenter (clients it does not class, such as quadrants' clients
  without a purchase in the year, are left out of the shares). A segmentation that did not run
  is named in a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from segkit.analyses.features import client_features
from segkit.analyses.segmenter import Segmenter, client_ids, labelled, positions
from segkit.engine.analysis import Section, Table, Unit
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.errors import ConfigError

UNKNOWN, OTHER = "(unknown)", "(other)"


def _names(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"analyses.stratification.{key} must be a list of names, got {value!r}")
    return value


def group_table(
    clients: pd.DataFrame, attribute: str, labels: Mapping[str, pd.Series], max_groups: int
) -> pd.DataFrame:
    """Per value of ``attribute``: size, activity, revenue and the share at each level.

    ``clients`` has ``attribute``, ``orders_period`` and ``revenue_period``; each series of
    ``labels`` (segmentation -> categorical level per row of ``clients``) adds a column per
    level.
    """
    codes, names = _groups(clients[attribute], max_groups)
    g = pd.DataFrame(
        {
            "clients": np.bincount(codes, minlength=len(names)),
            "active": np.bincount(
                codes[clients["orders_period"].to_numpy() > 0], minlength=len(names)
            ),
            # By the codes as categories: grouped without hashing them (every group has rows).
            "revenue": clients["revenue_period"]
            .groupby(pd.Categorical.from_codes(codes, range(len(names))), observed=False)
            .sum()
            .to_numpy(),
        },
        index=pd.Index(names, name=attribute),
    )
    total = clients["revenue_period"].sum()
    g["client_share"] = g["clients"] / len(clients)
    g["revenue_share"] = g["revenue"] / total if total else float("nan")
    g["revenue_per_client"] = g["revenue"] / g["clients"]
    g = g[["clients", "client_share", "active", "revenue", "revenue_share", "revenue_per_client"]]
    for name, lab in labels.items():
        g = g.join(_mix(codes, g.index, lab).add_prefix(f"{name}: "))
    g = g.sort_values(["clients"], ascending=False)
    return g.rename_axis(attribute).reset_index()


def _groups(values: pd.Series, max_groups: int) -> tuple[np.ndarray, pd.Index]:
    """Each row's group, as a code into the sorted group names (the order groupby gives).

    A group is a value as stripped text, ``(unknown)`` when empty or missing; beyond the
    ``max_groups`` largest (ties in order of first appearance, as ``value_counts``), the rest
    are ``(other)``. The texts are hashed once (:func:`_factorized`); the cleaning and the
    ranking of the groups work on integer codes (~0.15 s -> 0.06 s per attribute at 825,000
    clients).
    """
    raw, distinct = _factorized(values)
    text = pd.Series(distinct, dtype=object).astype("string").str.strip().replace("", UNKNOWN)
    text = np.append(text.to_numpy(dtype=object), UNKNOWN)  # raw code -1 (missing) is unknown
    # Values that differ only by spaces around them are one group.
    group_of, names = pd.factorize(text)
    group = group_of[raw]
    keep = pd.Series(group).value_counts().index[:max_groups]
    # None for a group without rows: the unknown one when no value is missing or empty.
    final = np.full(len(names), None, dtype=object)
    final[np.bincount(group, minlength=len(names)) > 0] = OTHER
    final[keep] = names[keep]
    final_of, final_names = pd.factorize(pd.array(final, dtype="string"), sort=True)
    return final_of[group], pd.Index(final_names)


def _factorized(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values)``: codes in order of first appearance (-1 for missing), uniques.

    Texts usually come as one Python object per distinct value (the engine shares them), so
    the objects are told apart by their addresses first, hashed as integers, and only one
    object per address is then factorized by value (equal texts in several objects merge
    there): ~22 ms -> ~4 ms per attribute at 825,000 clients.
    """
    objects = values.to_numpy()
    if objects.dtype != object or not objects.flags.c_contiguous:
        raw, distinct = pd.factorize(values)
        return raw, np.asarray(distinct, dtype=object)
    # The array's pointers as integers (the buffer keeps the array alive).
    address = np.frombuffer(memoryview(objects), dtype=np.intp)
    by_address, _ = pd.factorize(address)
    # Codes come in order of first appearance: a new one is one above all before it.
    first = np.flatnonzero(np.diff(np.maximum.accumulate(by_address), prepend=-1))
    code_of, distinct = pd.factorize(objects[first])
    return code_of[by_address], distinct


def _mix(codes: np.ndarray, groups: pd.Index, lab: pd.Series) -> pd.DataFrame:
    """Share of each group's labelled rows at each level of the categorical ``lab``.

    As ``pd.crosstab(group, lab, normalize="index")``: only the levels that occur, and NaN for
    a group without labelled rows.
    """
    levels = lab.cat.categories
    level = lab.cat.codes.to_numpy()
    has = level >= 0
    counts = np.bincount(
        codes[has] * len(levels) + level[has], minlength=len(groups) * len(levels)
    ).reshape(len(groups), len(levels))
    with np.errstate(invalid="ignore"):
        shares = counts / counts.sum(axis=1, keepdims=True)
    seen = counts.sum(axis=0) > 0
    return pd.DataFrame(shares[:, seen], index=groups, columns=levels[seen])


class Stratification:
    """The stratification section: one table per attribute."""

    name = "stratification"
    title = "Stratification by client attributes"
    order = 95
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {
        "attributes": ["region", "acquisition_source", "income_band", "industry"],
        "mix": ["tiers", "quadrants"],
        "max_groups": 12,
    }
    definitions: Mapping[str, str] = {
        "Group": "Clients with the same value of an attribute of the customers table.",
        "Active": "Clients of the group with an order in the period.",
        "Revenue": "Net amount of the group's clients in the period; share of the total.",
        "Mix": "Share of the group's clients at each level of a segmentation (tiers, quadrants) "
        "as of the period end.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        s = ctx.settings
        attributes = _names(s["attributes"], "attributes")
        wanted = _names(s["mix"], "mix")
        max_groups = s["max_groups"]
        if isinstance(max_groups, bool) or not isinstance(max_groups, int) or max_groups < 1:
            raise ConfigError("analyses.stratification.max_groups must be a positive whole number")
        clients = client_features(ctx, ctx.period)
        notes: list[str] = []
        known = set(ctx.dataset.columns("customers")) if ctx.has("customers") else set()
        present = [a for a in attributes if a in known]
        missing = [a for a in attributes if a not in known]
        if missing:
            where = (
                f"the customers table has {', '.join(sorted(known))}"
                if known
                else "there is no customers table"
            )
            notes.append(f"Attribute(s) {', '.join(missing)} not in the data ({where}).")
        labels: dict[str, pd.Series] = {}
        ids = client_ids(clients)
        for name in wanted:
            section = ctx.results.get(name)
            seg = section.data.get("segmenter") if section and section.error is None else None
            if not isinstance(seg, Segmenter):
                notes.append(f"No {name} segmentation in this report: its mix is not shown.")
                continue
            labels[name] = _labels(ctx, name, seg, clients, ids)
        if not present or clients.empty:
            return Section(
                self.name,
                self.title,
                summary="No client attribute to group by." if not present else "No clients.",
                notes=notes,
            )
        tables = {}
        for attribute in present:
            frame = group_table(clients, attribute, labels, max_groups)
            formats: dict[str, Unit] = {
                "clients": "count",
                "client_share": "share",
                "active": "count",
                "revenue": "money",
                "revenue_share": "share",
                "revenue_per_client": "money",
            }
            formats.update({c: "share" for c in frame.columns if ": " in c})
            tables[attribute] = Table(
                frame, formats=formats, caption=f"Clients by {attribute}", max_rows=max_groups + 2
            )
        first = tables[present[0]].frame.iloc[0]
        summary = (
            f"Clients grouped by {', '.join(present)}. The largest {present[0]} group, "
            f"{first[present[0]]}, holds {first['client_share']:.0%} of clients and "
            f"{first['revenue_share']:.0%} of this period's revenue."
        )
        return Section(
            self.name,
            self.title,
            summary=summary,
            tables=tables,
            notes=notes,
            data={"groups": {a: t.frame for a, t in tables.items()}},
        )


def _labels(
    ctx: PeriodContext, name: str, seg: Segmenter, clients: pd.DataFrame, ids: pd.Index
) -> pd.Series:
    """The level of each row of ``clients`` (whose ids are ``ids``) by section ``name``'s
    segmenter ``seg`` fitted on this period (usually as the section labelled them); NaN if
    unclassed."""
    this = labelled(ctx, name, seg, ctx.period)
    dtype = pd.CategoricalDtype(list(seg.levels))
    # Level codes moved rather than label texts, which were hashed again per row of clients.
    code = np.append(this.codes, -1)[positions(ids, this.ids)]  # -1: unclassed
    return pd.Series(pd.Categorical.from_codes(code, dtype=dtype), index=clients.index)


@hookimpl
def register_analyses(register: Any) -> None:
    register(Stratification())
