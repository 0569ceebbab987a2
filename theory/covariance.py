"""Correlations of the weight processes along the layer index (docs/theory.md §2), in numpy and sympy.

Every weight entry is a unit-variance process along k (times 1/sqrt(d)); these are its
correlations: gamma(n) between layers k and k + n for the stationary families, C(j, k) for fbm.
"""

from __future__ import annotations

import numpy as np
import sympy

from theory.symbols import H, L, j, k


def fgn_autocovariance(hurst: float, lags: np.ndarray) -> np.ndarray:
    """gamma_H(n) = (|n+1|^2H - 2|n|^2H + |n-1|^2H) / 2 for integer lags (any sign).

    Written for |n| >= 2 as n^2H/2 [expm1(2H log1p(1/n)) + expm1(2H log1p(-1/n))] so that the
    second difference keeps its relative accuracy at lags up to 2^20 (direct evaluation loses
    about log10(n^2H) digits to cancellation).
    """
    n = np.abs(np.asarray(lags, dtype=float))
    two_h = 2.0 * hurst
    out = np.empty_like(n)
    out[n == 0] = 1.0
    out[n == 1] = 2.0 ** (two_h - 1.0) - 1.0
    big = n >= 2
    m = n[big]
    out[big] = 0.5 * m**two_h * (np.expm1(two_h * np.log1p(1.0 / m))
                                 + np.expm1(two_h * np.log1p(-1.0 / m)))
    return out


def smooth_correlation(lengthscale: float, lags: np.ndarray, depth: int) -> np.ndarray:
    """exp(-(n/L)^2 / (2 l^2)): the `smooth` kernel between t = k/L and t = (k + n)/L."""
    s = np.asarray(lags, dtype=float) / depth
    return np.exp(-(s * s) / (2.0 * lengthscale * lengthscale))


def fbm_variances(hurst: float, depth: int) -> np.ndarray:
    """v_k = t_k^(2H), t_k = (k + 1)/L, k = 0..L-1: the variances of B_H(t_k)."""
    return ((np.arange(depth) + 1.0) / depth) ** (2.0 * hurst)


def fbm_covariance(hurst: float, depth: int, rows: slice | np.ndarray) -> np.ndarray:
    """(len(rows), L) block of C(j, k) = (t_j^2H + t_k^2H - |t_j - t_k|^2H) / 2."""
    tt = (np.arange(depth) + 1.0) / depth
    tj = tt[rows][:, None]
    two_h = 2.0 * hurst
    return 0.5 * (tj**two_h + tt[None, :] ** two_h - np.abs(tj - tt[None, :]) ** two_h)


def correlation_expr(init: str) -> sympy.Expr:
    """gamma(j - k) (or C(j, k) for fbm) as a sympy expression in j, k, L, H, ell."""
    n = j - k
    ell = sympy.Symbol("ell", positive=True)
    if init == "iid":
        return sympy.KroneckerDelta(j, k)
    if init == "fgn":
        return (sympy.Abs(n + 1) ** (2 * H) - 2 * sympy.Abs(n) ** (2 * H)
                + sympy.Abs(n - 1) ** (2 * H)) / 2
    if init == "smooth":
        return sympy.exp(-(n**2) / (2 * ell**2 * L**2))
    if init == "shared":
        return sympy.Integer(1)
    if init == "fbm":
        tj, tk = (j + 1) / L, (k + 1) / L
        return (tj ** (2 * H) + tk ** (2 * H) - sympy.Abs(tj - tk) ** (2 * H)) / 2
    raise ValueError(f"init={init!r} is not allowed: one of iid, fgn, fbm, smooth, shared")
