"""Migration between periods with the cut-offs frozen at the earlier period."""

from __future__ import annotations

from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
import pytest
from segmentation_data import run, section, write

from segkit.analyses.migration import Clients, matrices, moves, transitions
from segkit.analyses.segmenter import Labelled, client_ids, keep_labelled, labelled, level_codes

# ABC over one quarter (window_months 3), every client buying the same each month, so XYZ is
# X throughout (CV 0) and only ABC can move.
CONFIG = "analyses:\n  abc_xyz:\n    window_months: 3\n    min_periods: 1\n"


def quarter(customer: str, per_month: float, months: tuple[int, ...]) -> str:
    return "".join(f"{customer},2024-{m:02d}-10,{per_month}\n" for m in months)


Q1, Q2 = (1, 2, 3), (4, 5, 6)


def test_frozen_thresholds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 2024-Q1: K 960, M 180, S 60 (total 1,200). Above K 0 -> A; above M 960/1200 = 80 %
    # (not < 80 %) -> B; above S 1140/1200 = 95 % -> C. Frozen cut-offs: A >= 960, B >= 180.
    # 2024-Q2: K 960 and M 180 unchanged; S grows to 240; N arrives with 6,000.
    # With the Q1 cut-offs: K A (960 >= 960), M B, S B (240 >= 180: up), N A (entered).
    # Refitted on Q2 (total 7,380; above N 0, K 6,000 = 81.3 %, S 6,960 = 94.3 %, M 7,200 =
    # 97.6 %) K would fall to B and M to C although neither changed: the frozen cut-offs keep
    # them in place.
    rows = (
        quarter("K", 320, Q1 + Q2)
        + quarter("M", 60, Q1 + Q2)
        + quarter("S", 20, Q1)
        + quarter("S", 80, Q2)
        + quarter("N", 2000, Q2)
    )
    report = run(write(tmp_path, rows, config=CONFIG), "2024-Q2", monkeypatch)
    # The section's own (refitted) view of Q2 does put K in B: the distribution shifted.
    abc = section(report, "abc_xyz").data["clients"].set_index("customer_id")["cell"]
    assert abc.to_dict() == {"K": "BX", "M": "CX", "N": "AX", "S": "BX"}
    m = section(report, "migration")
    t = m.data["transitions"]["abc_xyz"].set_index("customer_id")
    assert t.loc["K", ["from", "to", "move"]].tolist() == ["AX", "AX", "same"]
    assert t.loc["M", ["from", "to", "move"]].tolist() == ["BX", "BX", "same"]
    assert t.loc["S", ["from", "to", "move"]].tolist() == ["CX", "BX", "up"]
    assert t.loc["N", ["from", "to", "move"]].tolist() == ["(new)", "AX", "entered"]
    # Value = net revenue in 2024-Q2.
    assert t["value"].to_dict() == {"K": 960.0, "M": 180.0, "N": 6000.0, "S": 240.0}
    counts = m.tables["abc_xyz_counts"].frame.set_index("abc_xyz from \\ to")
    assert counts.loc["AX", "AX"] == 1
    assert counts.loc["CX", "BX"] == 1
    assert counts.loc["(new)", "AX"] == 1
    assert counts.to_numpy().sum() == 4
    values = m.tables["abc_xyz_value"].frame.set_index("abc_xyz from \\ to")
    assert values.loc["BX", "BX"] == pytest.approx(180.0)
    assert m.tables["abc_xyz_up"].frame["customer_id"].tolist() == ["S"]
    assert m.tables["abc_xyz_down"].frame.empty
    # Every segmentation with a segmenter is migrated.
    assert {"rfm", "abc_xyz", "quadrants"} <= set(m.data["transitions"])


class Threshold:
    """A stand-in segmenter of another plugin: "hi" when value >= the fitted median."""

    name = "toy"
    levels = ("hi", "lo")

    def features(self, ctx: object, period: object) -> pd.DataFrame:
        raise NotImplementedError

    def fit(self, features: pd.DataFrame) -> Self:
        self.cut_ = float(features["value"].median())
        return self

    def predict(self, features: pd.DataFrame) -> pd.Series:
        return pd.Series(
            ["hi" if v >= self.cut_ else "lo" for v in features["value"]], index=features.index
        )


class ThresholdCodes(Threshold):
    """:class:`Threshold` that also gives its levels' positions (NaN: value missing)."""

    def predict(self, features: pd.DataFrame) -> pd.Series:
        labels = np.array([*self.levels, np.nan], dtype=object)[self.predict_codes(features)]
        return pd.Series(labels, index=features.index)

    def predict_codes(self, features: pd.DataFrame) -> np.ndarray:
        value = features["value"].to_numpy()
        return np.where(np.isnan(value), -1, np.where(value >= self.cut_, 0, 1))


def test_codes_move_as_labels() -> None:
    # Cut at the median, 4. Unclassed (NaN) before or now is (new) / (gone); an odd label
    # ("mid", not a level) keeps its text and has no rank. Codes from predict_codes or from the
    # labels move alike.
    before = pd.DataFrame({"customer_id": list("abcde"), "value": [1.0, 5, 9, np.nan, 3]})
    now = pd.DataFrame({"customer_id": list("abcdf"), "value": [np.nan, 3, 9, 7, 2]})
    value = pd.Series({"a": 1.0, "c": 2.0, "f": 3.0})
    seg = ThresholdCodes().fit(before)
    labels = np.asarray(seg.predict(before), dtype=object)
    labels[4] = "mid"
    fitted = Labelled(seg, client_ids(before), labels, level_codes(seg, labels))
    assert fitted.codes.tolist() == [1, 0, 0, -1, -1]
    by_codes = moves(fitted, now, Clients(value)).frame
    plain = Threshold().fit(before)
    fitted = Labelled(plain, fitted.ids, labels, fitted.codes)
    by_labels = moves(fitted, now.assign(value=now["value"].fillna(-1.0)), Clients(value))
    assert by_codes.set_index("customer_id")[["from", "to", "move"]].to_dict("index") == {
        "a": {"from": "lo", "to": "(gone)", "move": "left"},
        "b": {"from": "hi", "to": "lo", "move": "down"},
        "c": {"from": "hi", "to": "hi", "move": "same"},
        "d": {"from": "(new)", "to": "hi", "move": "entered"},
        "e": {"from": "mid", "to": "(gone)", "move": "left"},
        "f": {"from": "(new)", "to": "lo", "move": "entered"},
    }
    # Threshold labels a's missing value "lo" (-1 < cut): only a differs.
    assert by_labels.frame.drop(index=0).equals(by_codes.drop(index=0))


def test_kept_labels_as_computed() -> None:
    # keep_labelled with the codes handed over, or found itself, records what labelled would
    # compute.
    features = pd.DataFrame({"customer_id": ["a", "b", "c"], "value": [1.0, 5, 9]})
    seg = ThresholdCodes().fit(features)
    labels = seg.predict(features)

    class Ctx:
        def __init__(self) -> None:
            self.cache: dict[object, object] = {}

        def memo(self, key: object, compute: object) -> object:
            if key not in self.cache:
                self.cache[key] = compute()
            return self.cache[key]

    period = type("P", (), {"start": 1, "end": 2})()
    kept = []
    for codes in (None, seg.predict_codes(features)):
        ctx = Ctx()
        keep_labelled(ctx, "toy", period, seg, features, labels, codes)
        kept.append(labelled(ctx, "toy", seg, period))
    for k in kept:
        assert k.segmenter is seg and k.ids.equals(client_ids(features))
        assert k.labels.tolist() == ["lo", "hi", "hi"] and k.codes.tolist() == [1, 0, 0]


def test_generic_transitions_with_entries_and_exits() -> None:
    # Before: a 1, b 5, c 9 (median 5: a lo, b hi, c hi). Now: a 6 (hi: up), b 4 (lo: down),
    # d 100 (entered); c gone (left).
    before = pd.DataFrame({"customer_id": ["a", "b", "c"], "value": [1.0, 5, 9]})
    now = pd.DataFrame({"customer_id": ["a", "b", "d"], "value": [6.0, 4, 100]})
    t = transitions(Threshold(), before, now, pd.Series({"a": 6.0, "d": 100.0}))
    assert t.set_index("customer_id")["move"].to_dict() == {
        "a": "up",
        "b": "down",
        "c": "left",
        "d": "entered",
    }
    assert t.set_index("customer_id")["value"].to_dict() == {"a": 6, "b": 0, "c": 0, "d": 100}
    counts, values = matrices(t, Threshold.levels)
    assert counts.loc["lo", "hi"] == 1 and counts.loc["hi", "lo"] == 1
    assert counts.loc["hi", "(gone)"] == 1 and counts.loc["(new)", "hi"] == 1
    assert values.loc["(new)", "hi"] == 100


def test_clients_valued_or_not() -> None:
    # Every client valued (the union comes from the valued ids) or not (both lists merged): the
    # same rows, 0 for a client without a value.
    before = pd.DataFrame({"customer_id": ["a", "b", "c"], "value": [1.0, 5, 9]})
    now = pd.DataFrame({"customer_id": ["b", "c", "d"], "value": [6.0, 4, 100]})
    every = pd.Series({"e": 5.0, "d": 4.0, "c": 3.0, "b": 2.0, "a": 1.0})
    t = transitions(Threshold(), before, now, every)
    assert t["customer_id"].tolist() == ["a", "b", "c", "d"]
    assert t["value"].tolist() == [1, 2, 3, 4]
    some = transitions(Threshold(), before, now, every.drop(["a", "e"]))
    assert some["value"].tolist() == [0, 2, 3, 4]
    assert some.drop(columns="value").equals(t.drop(columns="value"))
    # A second segmentation of the same clients reuses the match.
    seg = Threshold().fit(before)
    labels = np.asarray(seg.predict(before), dtype=object)
    fitted = Labelled(seg, client_ids(before), labels, level_codes(seg, labels))
    clients = Clients(every)
    first, again = moves(fitted, now, clients), moves(fitted, now.copy(), clients)
    assert again.frame.equals(first.frame)
    # Each frame has its own columns, although the match is shared.
    for c in ("customer_id", "value"):
        assert not np.shares_memory(first.frame[c].to_numpy(), again.frame[c].to_numpy())


def test_clients_unvalued_in_either_period() -> None:
    # Ids without a value in one list, the other or both, between valued ones: each takes its
    # place in the sorted union, with 0 as its value; a list equal to the valued ids too.
    before = pd.DataFrame({"customer_id": ["a", "b", "c", "f"], "value": [1.0, 5, 9, 2]})
    now = pd.DataFrame({"customer_id": ["a", "c", "d", "e", "g"], "value": [6.0, 4, 100, 3, 1]})
    t = transitions(Threshold(), before, now, pd.Series({"b": 2.0, "d": 4.0, "g": 7.0}))
    assert t["customer_id"].tolist() == ["a", "b", "c", "d", "e", "f", "g"]
    assert t["value"].tolist() == [0, 2, 0, 4, 0, 0, 7]
    assert t["move"].tolist() == ["up", "left", "same", "entered", "entered", "left", "entered"]
    valued = pd.DataFrame({"customer_id": ["b", "d", "g"], "value": [1.0, 5, 9]})
    t = transitions(Threshold(), before, valued, pd.Series({"g": 7.0, "d": 4.0, "b": 2.0}))
    assert t["customer_id"].tolist() == ["a", "b", "c", "d", "f", "g"]
    assert t["move"].tolist() == ["left", "down", "left", "entered", "left", "entered"]


def test_no_segmentation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run(write(tmp_path, "A,2024-03-01,10\n"), "2024-Q1", monkeypatch, ["migration"])
    assert "No segmentation" in section(report, "migration").summary


def test_client_ids_reused_per_ids_array() -> None:
    # The index of a frame's ids is made and checked once while in use; another array with the
    # same ids, or a slice of the same one, gets its own.
    frame = pd.DataFrame({"customer_id": np.array(["a", "b", "c"], dtype=object), "x": 1})
    ids = client_ids(frame)
    assert client_ids(frame) is ids
    assert client_ids(frame.copy()) is not ids
    part = client_ids(frame.iloc[1:])
    assert part is not ids and part.tolist() == ["b", "c"]
    with pytest.raises(ValueError, match="several rows"):
        client_ids(pd.DataFrame({"customer_id": ["a", "a"]}))
