"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987), likelihood as in Fader & Hardie (2005),
"A Note on Deriving the Pareto/NBD Model and Related Expressions".

While alive, a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); her lifetime
is exponential with rate mu ~ Gamma(s, beta). With x repeat purchases, the last at t_x, observed
for T::

    L = Gamma(r+x) alpha^r beta^s / Gamma(r)
        * [ 1 / ((alpha+T)^(r+x) (beta+T)^s)  +  s/(r+s+x) * A0 ]

    A0 = (r+s+x) * integral_{t_x}^{T} (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau
       = J(t_x) - J(T)

The first term is "alive at T", the second "died in (t_x, T]". ``J`` is a Gauss hypergeometric
function; see :func:`_log_j` for how it is evaluated.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln

from segkit.models._base import Array, Compressed, TransactionFitter

# Relative accuracy of the hypergeometric series, and a cap on its number of terms (reached only
# when min(alpha, beta) + t is ~1e-4 of max(alpha, beta) or less).
_SERIES_TOL = 1e-16
_SERIES_MAX_TERMS = 200_000


def _log_series(q: Array, c: Array, z: Array) -> tuple[Array, Array, Array, Array]:
    """log G and d log G / d(q, c, z) for G = sum_n (q)_n / (c)_n z^n, with 0 <= q < c, 0 <= z < 1.

    G(q, c, z) = 2F1(1, q; c; z). Each term is the previous one times (q+n)/(c+n) * z < z, so the
    terms decrease from the start and the tail after term n is below term(n+1) / (1 - z); the sum
    never overflows. Rows are dropped from the loop as soon as they have converged.
    """
    n_rows = len(z)
    log_g, d_q, d_c, d_z = (np.full(n_rows, np.nan) for _ in range(4))
    idx: npt.NDArray[np.intp] = np.arange(n_rows)
    q, c, z = q.copy(), c.copy(), z.copy()
    term = np.ones(n_rows)  # (q)_n / (c)_n z^n
    total = np.ones(n_rows)
    sum_q = np.zeros(n_rows)  # sum over terms of term * sum_{k<n} 1/(q+k)   (= dG/dq)
    sum_c = np.zeros(n_rows)  # sum over terms of term * sum_{k<n} 1/(c+k)   (= -dG/dc)
    sum_z = np.zeros(n_rows)  # sum over terms of n * term / z               (= dG/dz)
    acc_q = np.zeros(n_rows)
    acc_c = np.zeros(n_rows)
    for n in range(_SERIES_MAX_TERMS):
        ratio = (q + n) / (c + n)
        # n * term / z for term n+1, written without dividing by z (z may be 0).
        sum_z += (n + 1) * term * ratio
        term = term * ratio * z
        acc_q += 1.0 / (q + n)
        acc_c += 1.0 / (c + n)
        total += term
        sum_q += term * acc_q
        sum_c += term * acc_c
        # Bound on what is left of the slowest of the four sums (the z-derivative, whose terms
        # carry an extra factor n).
        done = term * (n + 2) * (1.0 + acc_q + acc_c) < _SERIES_TOL * total * (1.0 - z) ** 2
        if done.any():
            finished = idx[done]
            log_g[finished] = np.log(total[done])
            d_q[finished] = sum_q[done] / total[done]
            d_c[finished] = -sum_c[done] / total[done]
            d_z[finished] = sum_z[done] / total[done]
            keep = ~done
            if not keep.any():
                break
            idx, q, c, z = idx[keep], q[keep], c[keep], z[keep]
            term, total, sum_q, sum_c, sum_z = (
                term[keep],
                total[keep],
                sum_q[keep],
                sum_c[keep],
                sum_z[keep],
            )
            acc_q, acc_c = acc_q[keep], acc_c[keep]
    return log_g, d_q, d_c, d_z


def _log_j(
    r: float, alpha: float, s: float, beta: float, x: Array, t: Array
) -> tuple[Array, Array]:
    """log J(t) and its gradient w.r.t. (r, alpha, s, beta), J(t) = (r+s+x) * int_t^inf f.

    With f(tau) = (alpha+tau)^-(r+x) (beta+tau)^-(s+1), the integral is a Gauss hypergeometric
    function 2F1(r+s+x, b; r+s+x+1; z) of z = |alpha-beta| / (max(alpha,beta)+t), with b = s+1 if
    alpha >= beta and b = r+x otherwise (Fader & Hardie 2005, eqs. 19-20; CLVTools pnbd.cpp).
    Choosing the branch keeps 0 <= z < 1. We then apply Euler's transformation
    2F1(A, B; A+1; z) = (1-z)^(1-B) 2F1(1, A+1-B; A+1; z), whose series has decreasing terms
    (no overflow for customers with hundreds of purchases, unlike the direct series, whose terms
    first grow like n^(B-1)) and whose prefactor (1-z) = (min(alpha,beta)+t) / (max+t) is exact.
    This gives, with G(q, c, z) = 2F1(1, q; c; z)::

        alpha >= beta:  J = (alpha+t)^-(r+x)  (beta+t)^-s      G(r+x, r+s+x+1, z)
        alpha <  beta:  J = (alpha+t)^(1-r-x) (beta+t)^-(s+1)  G(s+1, r+s+x+1, z)
    """
    la, lb = np.log(alpha + t), np.log(beta + t)
    ia, ib = 1.0 / (alpha + t), 1.0 / (beta + t)
    c = r + s + x + 1
    if alpha >= beta:
        z = (alpha - beta) * ia
        log_g, g_q, g_c, g_z = _log_series(r + x, c, z)
        log_j = -(r + x) * la - s * lb + log_g
        grad = np.stack(
            [
                -la + g_q + g_c,
                -(r + x) * ia + g_z * (beta + t) * ia**2,
                -lb + g_c,
                -s * ib - g_z * ia,
            ]
        )
    else:
        z = (beta - alpha) * ib
        log_g, g_q, g_c, g_z = _log_series(np.full_like(t, s + 1), c, z)
        log_j = (1 - r - x) * la - (s + 1) * lb + log_g
        grad = np.stack(
            [
                -la + g_c,
                (1 - r - x) * ia - g_z * ib,
                -lb + g_q + g_c,
                -(s + 1) * ib + g_z * (alpha + t) * ib**2,
            ]
        )
    return log_j, grad


class ParetoNBD(TransactionFitter):
    """Pareto/NBD model; parameters ``r, alpha`` (purchase rate) and ``s, beta`` (lifetime)."""

    param_names = ("r", "alpha", "s", "beta")

    def _start_from_alpha(self, alpha: float) -> Array:
        return np.array([1.0, alpha, 1.0, alpha])

    def _log_parts(
        self, theta: Array, data: Compressed, gradient: bool
    ) -> tuple[Array, Array, Array, Array | None, Array | None, Array | None]:
        """log of the x-only factor, of the "alive" and the "died" terms, and their gradients."""
        r, alpha, s, beta = theta
        xs, ts = data.values[0], data.values[2]
        cx, ct = data.codes[0], data.codes[2]
        x, t_x, big_t = data.column(0), data.column(1), data.column(2)
        head = (gammaln(r + xs) - gammaln(r))[cx] + r * np.log(alpha) + s * np.log(beta)
        log_alive = -(r + x) * np.log(alpha + ts)[ct] - s * np.log(beta + ts)[ct]
        # J(t_x) - J(T) in logs; equal to 0 (log = -inf) when the last purchase is at T.
        lj_tx, gj_tx = _log_j(r, alpha, s, beta, x, t_x)
        lj_t, gj_t = _log_j(r, alpha, s, beta, x, big_t)
        diff = lj_t - lj_tx
        positive = big_t > t_x
        log_a0 = np.where(
            positive, lj_tx + np.log(-np.expm1(np.where(positive, diff, -1.0))), -np.inf
        )
        log_died = np.log(s) - np.log(r + s + x) + log_a0
        if not gradient:
            return head, log_alive, log_died, None, None, None
        inv_a, inv_b = (1.0 / (alpha + ts))[ct], (1.0 / (beta + ts))[ct]
        g_head = np.stack(
            [
                (digamma(r + xs) - digamma(r))[cx] + np.log(alpha),
                np.full_like(x, r / alpha),
                np.full_like(x, np.log(beta)),
                np.full_like(x, s / beta),
            ]
        )
        g_alive = np.stack(
            [
                -np.log(alpha + ts)[ct],
                -(r + x) * inv_a,
                -np.log(beta + ts)[ct],
                -s * inv_b,
            ]
        )
        # d log(J1 - J2) = (dlog J1 - rho dlog J2) / (1 - rho), rho = J2 / J1 in [0, 1).
        rho = np.where(positive, np.exp(diff), 0.0)
        g_a0 = np.where(positive, (gj_tx - rho * gj_t) / np.where(positive, 1 - rho, 1.0), 0.0)
        # log_died = log s - log(r+s+x) + log A0.
        g_died = g_a0.copy()
        g_died[0] -= 1.0 / (r + s + x)
        g_died[2] += 1.0 / s - 1.0 / (r + s + x)
        return head, log_alive, log_died, g_head, g_alive, g_died

    def _loglik(self, theta: Array, data: Compressed) -> tuple[Array, Array]:
        head, log_alive, log_died, g_head, g_alive, g_died = self._log_parts(theta, data, True)
        assert g_head is not None and g_alive is not None and g_died is not None
        both = np.logaddexp(log_alive, log_died)
        w_alive = np.exp(log_alive - both)
        grad = g_head + w_alive * g_alive + (1 - w_alive) * g_died
        return head + both, grad

    def _log_p_alive(self, theta: Array, data: Compressed) -> Array:
        _, log_alive, log_died, *_ = self._log_parts(theta, data, False)
        return log_alive - np.logaddexp(log_alive, log_died)

    def _conditional_expectation(self, theta: Array, data: Compressed) -> Array:
        r, alpha, s, beta = theta
        x, big_t, t = data.column(0), data.column(2), data.column(3)
        # (r+x)(beta+T) / ((alpha+T)(s-1)) * [1 - ((beta+T)/(beta+T+t))^(s-1)] * P(alive), with
        # the bracket over (s-1) written to stay exact as s -> 1 (limit: log((beta+T+t)/(beta+T))).
        horizon = np.log1p(t / (beta + big_t))
        e = s - 1
        growth = horizon if e == 0 else -np.expm1(-e * horizon) / e
        scale = (r + x) * (beta + big_t) / (alpha + big_t)
        return scale * growth * np.exp(self._log_p_alive(theta, data))
