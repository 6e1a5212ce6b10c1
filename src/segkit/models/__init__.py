"""Probabilistic customer-lifetime-value models, with a lifetimes-like API.

* :class:`BetaGeo` - BG/NBD (Fader, Hardie & Lee 2005)
* :class:`ModifiedBetaGeo` - MBG/NBD (Batislam, Denizel & Filiztekin 2007)
* :class:`ParetoNBD` - Pareto/NBD (Schmittlein, Morrison & Colombo 1987)
* :class:`GammaGamma` - spend per transaction (Colombo & Jiang 1999; Fader, Hardie & Lee 2005)

All fit by maximum likelihood (``fit(...)`` returns the fitter) on unique input rows weighted by
their counts; fitted attributes end in ``_`` (``params_``, ``log_likelihood_``, ``converged_``),
``summary`` is a DataFrame with standard errors. Times are in whatever unit the data uses.
"""

from segkit.models._base import ConvergenceError, ConvergenceWarning, NotFittedError
from segkit.models.beta_geo import BetaGeo, ModifiedBetaGeo
from segkit.models.gamma_gamma import GammaGamma
from segkit.models.pareto_nbd import ParetoNBD

__all__ = [
    "BetaGeo",
    "ConvergenceError",
    "ConvergenceWarning",
    "GammaGamma",
    "ModifiedBetaGeo",
    "NotFittedError",
    "ParetoNBD",
]
