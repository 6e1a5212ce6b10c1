"""Bad input is refused with a ValueError that says what to do; no prediction before fit."""

from __future__ import annotations

import numpy as np
import pytest

from segkit.models import (
    BetaGeo,
    ConvergenceWarning,
    GammaGamma,
    ModifiedBetaGeo,
    NotFittedError,
    ParetoNBD,
)

TRANSACTION_MODELS = [BetaGeo, ModifiedBetaGeo, ParetoNBD]


@pytest.mark.parametrize("model", TRANSACTION_MODELS)
@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([1, 2], [5.0, 12.0], [10.0, 10.0], "recency is larger than T"),
        ([-1, 2], [0.0, 5.0], [10.0, 10.0], "frequency must be >= 0"),
        ([0, 2], [3.0, 5.0], [10.0, 10.0], "recency must be 0 when frequency is 0"),
        ([1.5, 2], [3.0, 5.0], [10.0, 10.0], "whole numbers"),
        ([1, 2], [np.nan, 5.0], [10.0, 10.0], "NaN"),
        ([0, 0], [0.0, 0.0], [10.0, 10.0], "needs some repeat purchases"),
        ([1, 2, 3], [1.0, 2.0], [10.0, 10.0], "same length"),
    ],
)
def test_transaction_models_reject_bad_input(
    model: type[BetaGeo | ParetoNBD],
    frequency: list[float],
    recency: list[float],
    T: list[float],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        model().fit(frequency, recency, T)


@pytest.mark.parametrize("model", TRANSACTION_MODELS)
def test_predicting_before_fit_is_refused(model: type[BetaGeo | ParetoNBD]) -> None:
    fitter = model()
    with pytest.raises(NotFittedError, match="call fit"):
        fitter.probability_alive(1, 2.0, 3.0)
    with pytest.raises(NotFittedError, match="call fit"):
        fitter.expected_purchases(10)
    with pytest.raises(NotFittedError):
        _ = fitter.params_


def test_negative_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="weights"):
        BetaGeo().fit([1, 2], [1.0, 2.0], [5.0, 5.0], weights=[1, -1])


@pytest.mark.parametrize(
    ("frequency", "monetary_value", "message"),
    [
        ([1, 2], [10.0, 0.0], "monetary_value must be > 0"),
        ([1, 2], [10.0, -5.0], "monetary_value must be > 0"),
        ([0, 0], [0.0, 0.0], "needs customers with repeat purchases"),
        ([-1, 2], [1.0, 5.0], "frequency must be >= 0"),
    ],
)
def test_gamma_gamma_rejects_bad_input(
    frequency: list[float], monetary_value: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        GammaGamma().fit(frequency, monetary_value)


def test_gamma_gamma_before_fit_is_refused() -> None:
    with pytest.raises(NotFittedError):
        GammaGamma().conditional_expected_spend(1, 10.0)


def test_unidentified_fit_warns_and_gives_nan_standard_errors() -> None:
    # Four customers cannot pin down four parameters: the fit must say so, not print numbers.
    with pytest.warns(ConvergenceWarning):
        model = BetaGeo().fit([0, 1, 3, 2], [0.0, 4.0, 9.0, 2.0], [10.0, 10.0, 10.0, 10.0])
    assert all(np.isnan(v) for v in model.standard_errors_.values())
    assert all(np.isfinite(v) for v in model.params_.values())
    with pytest.raises(ValueError, match="t"):
        model.conditional_expected_purchases(-1, 1, 2.0, 3.0)
    with pytest.raises(ValueError, match="t"):
        model.conditional_expected_purchases(-1, 1, 2.0, 3.0)
