"""The leading-order deviation at finite depth and the finite-depth threshold (docs/theory.md §4.8).

Linearizing h_k ~ h_0, h_L - h_0 ~ alpha_L sum_k V_{k+1} f_k with f_k = sigma(W_{k+1} h_0) (res3)
or sigma(h_0) (res1, linear). With V independent of W, centred, entries of correlation gamma along
k and variance 1/d, E <V_j a, V_k b> = gamma(j - k) <a, b>, so to order alpha_L^2:

    res3:  E||h_L - h_0||^2 / ||h_0||^2 ~ alpha^2 sum_{j,k} gamma(j-k) kappa_sigma(gamma(j-k))
    res1:  E||h_L - h_0||^2 / ||h_0||^2 ~ alpha^2 sum_{j,k} gamma(j-k) F,  F = E||sigma(h_0)||^2/||h_0||^2

(E<sigma(W_j h), sigma(W_k h)> = d q kappa(gamma) with q = ||h_0||^2/d, since the coordinates of
W_j h and W_k h are N(0, q) with correlation gamma.) For fbm, gamma(j - k) becomes C(j, k) and
kappa takes the two variances v_j = t_j^2H, v_k = t_k^2H. Orders kept: alpha^2 only. Dropped:
terms of relative size alpha^2 L (and alpha^2 L / d for res1 with fgn; see below), so the formula
is accurate where the deviation is small: identity regime and near the threshold.

res1 / linear with fgn of H < 1/2: sum gamma_H(j - k) = L^2H exactly, so the first-order term
is alpha^2 L^2H F; the second-order term contains a drift alpha^2 (sum_{j<k} gamma) D sigma(h_0)/d
of relative size alpha^2 L / (2 d), whose square grows like L^(2 - 4 beta) / d^2 and eventually
sets beta_c = 1/2. It is not encoded (its full coefficient needs all order-alpha^4 terms): at
beta = 1/2 it matters only beyond L ~ (4 d^2)^(1/(1 - 2H)), far beyond simulated depths, so
there the finite-depth threshold given here sits near H, below the asymptotic 1/2.

The double sum over a stationary gamma is sum_n (L - |n|) g(n), O(L); fbm is O(L^2) in blocks.

Residual blocks are covered with the Euler stepper only. antisym cells (identity activation, iid,
shared or smooth weights) use `theory.antisym`: S(L) = s2 sum_{m,n} w_m w_n gamma(m - n) + gamma^2 L^2
for the sum and the threshold, and for the deviation itself the most complete formula derived there
(exact for iid Euler, resummed for iid Heun and RK4, spectral for shared weights).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import sympy

from sim.cell import Cell
from theory import antisym
from theory.activations import (
    NUMERICAL_ACTIVATIONS,
    kappa,
    kappa_expr,
    mean_square,
    truncated_hermite,
)
from theory.covariance import (
    correlation_expr,
    fbm_covariance,
    fbm_variances,
    fgn_autocovariance,
    smooth_correlation,
)
from theory.inputs import input_factor, input_variance
from theory.scope import activation_of, iid_like, require_euler_residual, slope_of
from theory.symbols import H, L, alpha, exact, j, k, rho

_ROW_BLOCK = 256  # fbm rows per block: a (256, L) float64 block is 8 MB at L = 4096


def lag_correlations(cell: Cell, depth: int) -> np.ndarray:
    """gamma(n) for n = 0..L-1 (stationary families)."""
    lags = np.arange(depth)
    if iid_like(cell):
        return (lags == 0).astype(float)
    if cell.init == "fgn":
        return fgn_autocovariance(cell.hurst, lags)
    if cell.init == "smooth":
        return smooth_correlation(cell.lengthscale, lags, depth)
    return np.ones(depth)  # shared


def stationary_sum(g: np.ndarray, depth: int) -> float:
    """sum_{j,k < L} g(|j - k|) = L g(0) + 2 sum_{n >= 1} (L - n) g(n)."""
    weights = 2.0 * (depth - np.arange(depth, dtype=float))
    weights[0] = depth
    return float(weights @ g)


def _res3_kernel(cell: Cell, correlations: np.ndarray, q: float) -> np.ndarray:
    act = activation_of(cell)
    if act in NUMERICAL_ACTIVATIONS:
        out = kappa(act, correlations, q=q)
        # at correlation 1 use c_sigma(q) itself rather than the truncated series
        out[correlations == 1.0] = mean_square(act, q)
        return out
    return kappa(act, correlations, negative_slope=float(slope_of(cell)))


def _fbm_res3_sum(cell: Cell, depth: int, q: float) -> float:
    act = activation_of(cell)
    v = fbm_variances(cell.hurst, depth)
    root = np.sqrt(v)
    coeffs = truncated_hermite(act, v, q) if act in NUMERICAL_ACTIVATIONS else None
    total = 0.0
    for start in range(0, depth, _ROW_BLOCK):
        rows = slice(start, min(depth, start + _ROW_BLOCK))
        cov = fbm_covariance(cell.hurst, depth, rows)
        corr = np.clip(cov / (root[rows, None] * root[None, :]), -1.0, 1.0)
        if coeffs is None:
            cross = root[rows, None] * root[None, :] * kappa(
                act, corr, negative_slope=float(slope_of(cell)))
        else:
            cross = np.zeros_like(corr)
            power = np.ones_like(corr)
            for n in range(coeffs.shape[1]):
                cross += coeffs[rows, n, None] * coeffs[None, :, n] * power
                power *= corr
        total += float(np.sum(cov * cross))
    return total


def _fbm_plain_sum(hurst: float, depth: int) -> float:
    """sum_{j,k} C(j, k) = L sum_j t_j^2H - 1/2 sum_n (L - |n|) |n / L|^2H, in O(L)."""
    v = fbm_variances(hurst, depth)
    lags = np.arange(depth, dtype=float)
    return depth * float(v.sum()) - 0.5 * stationary_sum((lags / depth) ** (2 * hurst), depth)


def finite_depth_sum(cell: Cell, depth: int | None = None, *, q: float | None = None) -> float:
    """S(L) = sum_{j,k=0}^{L-1} gamma(j - k) K(j, k): the beta-free part of the deviation.

    K = kappa_sigma(gamma) for res3 (with the fbm variances for fbm), F for res1 and linear.
    `q` = ||h_0||^2 / d defaults to `input_variance(cell)` (only tanh and gelu depend on it).
    """
    depth = cell.depth if depth is None else check_depth(depth)
    if cell.block == "antisym":
        return antisym.leading_sum(cell, depth)
    require_euler_residual(cell)
    q = input_variance(cell) if q is None else float(q)
    if not q > 0:
        raise ValueError(f"q={q!r} is not allowed: expected a variance > 0")
    res3 = cell.block == "res3"
    if cell.init == "fbm":
        if res3:
            return _fbm_res3_sum(cell, depth, q)
        return _fbm_plain_sum(cell.hurst, depth) * float(input_factor(cell))
    g = lag_correlations(cell, depth)
    if res3:
        return stationary_sum(g * _res3_kernel(cell, g, q), depth)
    return stationary_sum(g, depth) * float(input_factor(cell))


def finite_depth_deviation(cell: Cell, depth: int | None = None, *,
                           q: float | None = None) -> float:
    """Leading-order E||h_L - h_0||^2 / ||h_0||^2 = alpha_L^2 S(L) at depth L (default cell.depth).

    Status 'asymptotic' (exact to order alpha_L^2; see the module docstring for what is dropped).
    antisym cells: `theory.antisym.finite_depth_log_deviation` exponentiated (inf when it overflows).
    """
    depth = cell.depth if depth is None else check_depth(depth)
    if cell.block == "antisym":
        log_value = antisym.finite_depth_log_deviation(cell, depth)
        return math.exp(log_value) if log_value < 700.0 else math.inf
    return float(depth) ** (-2.0 * cell.beta) * finite_depth_sum(cell, depth, q=q)


def check_depth(depth: int) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int | np.integer) or depth < 1:
        raise ValueError(f"depth={depth!r} is not allowed: expected an integer >= 1")
    return int(depth)


def check_depths(depths: Sequence[int]) -> list[int]:
    values = [check_depth(x) for x in depths]
    if len(set(values)) < 2:
        raise ValueError(f"depths={list(depths)!r} is not allowed: expected at least two "
                         "distinct depths to fit a slope")
    return values


def ols_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Ordinary least-squares slope of y on x."""
    xc = x - x.mean()
    return float(xc @ (y - y.mean()) / (xc @ xc))


def finite_depth_slope(cell: Cell, depths: Sequence[int], *, q: float | None = None) -> float:
    """Least-squares slope of 1/2 log(finite_depth_deviation) against log L over `depths`.

    The median deviation scales like the square root of the second moment, hence the 1/2.
    """
    values = check_depths(depths)
    if cell.block == "antisym":  # in logs throughout: exploding antisym deviations overflow floats
        y = np.array([0.5 * antisym.finite_depth_log_deviation(cell, n) for n in values])
    else:
        y = np.array([0.5 * np.log(finite_depth_deviation(cell, n, q=q)) for n in values])
    return ols_slope(np.log(values), y)


def finite_depth_threshold(cell: Cell, depths: Sequence[int], *, q: float | None = None) -> float:
    """The beta at which `finite_depth_slope` over `depths` crosses zero (cell.beta is ignored).

    1/2 log(alpha_L^2 S(L)) = -beta log L + 1/2 log S(L) with S free of beta, so the fitted slope
    is exactly (1/2 slope of log S against log L) - beta: the threshold is that first term, in
    closed form. (A root-finder on the slope returns the same number; the tests check it.)
    antisym cells: the same closed form with the leading-order S(L) of `theory.antisym.leading_sum`
    (the crossing of the order-alpha^2 slope; their full finite-depth deviation is not of the form
    alpha^2 S(L)). Shared weights give exactly 1, iid about 1/2 (damping moves it towards 1).
    """
    values = check_depths(depths)
    y = np.array([np.log(finite_depth_sum(cell, n, q=q)) for n in values])
    return 0.5 * ols_slope(np.log(values), y)


def finite_depth_expr(cell: Cell) -> sympy.Expr:
    """The cell's leading-order deviation as an unevaluated double sum in L (and beta).

    kappa is the closed form for homogeneous sigma and the function kappa_sigma for tanh / gelu
    (evaluated numerically by `finite_depth_deviation`). antisym: `theory.antisym.finite_depth_expr`.
    """
    if cell.block == "antisym":
        return antisym.finite_depth_expr(cell)
    require_euler_residual(cell)
    gamma = correlation_expr("iid" if iid_like(cell) else cell.init)
    values = {}
    if cell.init in ("fgn", "fbm"):
        values[H] = exact(cell.hurst, "hurst")
    if cell.init == "smooth":
        values[sympy.Symbol("ell", positive=True)] = exact(cell.lengthscale, "lengthscale")
    gamma = gamma.subs(values)
    act = activation_of(cell)
    if cell.block != "res3":
        factor = sympy.Symbol("F_sigma")
        summand = gamma * factor
    elif cell.init == "fbm":
        vj = ((j + 1) / L) ** (2 * values[H])
        vk = ((k + 1) / L) ** (2 * values[H])
        kern = sympy.Function(r"\kappa_\sigma")
        summand = gamma * sympy.sqrt(vj * vk) * kern(gamma / sympy.sqrt(vj * vk))
    elif act in NUMERICAL_ACTIVATIONS:
        summand = gamma * sympy.Function(r"\kappa_\sigma")(gamma)
    else:
        summand = gamma * kappa_expr(act, slope_of(cell)).subs(rho, gamma)
    return alpha**2 * sympy.Sum(summand, (j, 0, L - 1), (k, 0, L - 1))

