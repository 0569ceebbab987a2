"""The backward pass at finite depth: its leading-order law, threshold and validity (docs/theory.md §4.10).

With p_k = dl/dh_k, l = <u, h_L>, p_k = (I + alpha J_k)^T p_{k+1}; to leading order in alpha_L,
p_{k+1} ~ u and J_k is evaluated at h_0, so p_0 - p_L ~ alpha_L sum_k J_k^T u. For V, W independent,
centred, with entries of correlation gamma along k and variance 1/d, and u a unit vector independent
of the network:

    res3:   E||p_0 - p_L||^2 / ||p_L||^2 ~ alpha^2 S_b(L),
            S_b(L) = sum_{j,k} gamma [(1 - 1/d) gamma kappa_sigma'(gamma) + rad_sigma(gamma) / d],
    res1:   S_b(L) = G sum_{j,k} gamma(j - k),   G = E||sigma'(h_0)||^2 / d   (linear: G = 1),

gamma = gamma(j - k), kappa_sigma' = E[sigma'(sqrt(q) X) sigma'(sqrt(q) Y)] (= d kappa_sigma / d rho) and
rad_sigma = E[X sigma'(sqrt(q) X) Y sigma'(sqrt(q) Y)] (= kappa_sigma for homogeneous sigma). V gives a
factor gamma, the rows of W^T ... W orthogonal to h_0 another gamma (d - 1 of the d directions), and
the one direction along h_0 carries the radial term. Exact to order alpha^2, at every width.

Orders kept: alpha^2 only. The law linearizes J_k around h_0, so beside the backward pass's own
next order (relative size alpha^2 S_b) it drops the shift of J_k with h_k, of relative size the
forward mean square alpha^2 S(L) (docs/theory.md §4.8). With iid weights, or a Jacobian that does not
depend on the state (linear block, identity activation), the shift does not enter at this order;
otherwise `backward_law_valid` declares the law outside its validity where the forward deviation is
larger than the input at some simulated depth.

Stationary weights only (iid, fgn, smooth, shared) and Euler steps of res1, res3, linear: fbm,
other steppers and antisym blocks raise NotCovered (their backward verdicts borrow the forward law).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy

from sim.cell import Cell
from theory.activations import (
    NUMERICAL_ACTIVATIONS,
    hermite_order,
    kappa_derivative,
    kappa_derivative_expr,
    kappa_expr,
    radial_kernel,
)
from theory.covariance import correlation_expr
from theory.finite_depth import (
    check_depth,
    check_depths,
    finite_depth_deviation,
    lag_correlations,
    ols_slope,
    stationary_sum,
)
from theory.inputs import input_derivative_factor, input_variance
from theory.scope import NotCovered, activation_of, iid_like, require_euler_residual, slope_of
from theory.symbols import H, L, alpha, d, exact, j, k, rho

# The forward mean square alpha_L^2 S(L) above which the state has moved by more than its own norm,
# so that J_k at h_k is not J_k at h_0 (docs/theory.md §4.10).
VALIDITY_BOUND = 1.0


def _require_covered(cell: Cell) -> None:
    require_euler_residual(cell)
    if cell.init == "fbm":
        raise NotCovered(f"{cell.label()}: the backward law of docs/theory.md §4.10 is derived for stationary "
                         "weights (iid, fgn, smooth, shared), not fbm")


def state_free_jacobian(cell: Cell) -> bool:
    """True when J_k does not depend on the state: V (linear block, res1 identity) or V W (res3 identity)."""
    return activation_of(cell) == "identity"


def backward_finite_depth_sum(cell: Cell, depth: int | None = None, *, q: float | None = None) -> float:
    """S_b(L): the beta-free part of the leading-order E||p_0 - p_L||^2 / ||p_L||^2 (module docstring).

    `q` = ||h_0||^2 / d defaults to `input_variance(cell)` (only tanh and gelu depend on it).
    """
    _require_covered(cell)
    depth = cell.depth if depth is None else check_depth(depth)
    g = lag_correlations(cell, depth)
    if cell.block != "res3":
        return stationary_sum(g, depth) * float(input_derivative_factor(cell))
    q = input_variance(cell) if q is None else float(q)
    if not q > 0:
        raise ValueError(f"q={q!r} is not allowed: expected a variance > 0")
    act, slope, width = activation_of(cell), float(slope_of(cell)), cell.width
    along = kappa_derivative(act, g, q=q, negative_slope=slope)
    radial = radial_kernel(act, g, q=q, negative_slope=slope)
    return stationary_sum(g * ((1.0 - 1.0 / width) * g * along + radial / width), depth)


def backward_finite_depth_deviation(cell: Cell, depth: int | None = None, *, q: float | None = None) -> float:
    """Leading-order E||p_0 - p_L||^2 / ||p_L||^2 = alpha_L^2 S_b(L) at depth L (default cell.depth).

    Status 'asymptotic' (exact to order alpha_L^2, valid where `backward_law_valid`).
    """
    depth = cell.depth if depth is None else check_depth(depth)
    return float(depth) ** (-2.0 * cell.beta) * backward_finite_depth_sum(cell, depth, q=q)


def backward_finite_depth_slope(cell: Cell, depths: Sequence[int], *, q: float | None = None) -> float:
    """Least-squares slope of 1/2 log(backward_finite_depth_deviation) against log L over `depths`."""
    values = check_depths(depths)
    y = np.array([0.5 * np.log(backward_finite_depth_deviation(cell, n, q=q)) for n in values])
    return ols_slope(np.log(values), y)


def backward_finite_depth_threshold(cell: Cell, depths: Sequence[int], *, q: float | None = None) -> float:
    """beta*_b = 1/2 the least-squares slope of log S_b(L) against log L (cell.beta is ignored): where
    `backward_finite_depth_slope` over `depths` crosses zero, in closed form as in docs/theory.md §4.8."""
    values = check_depths(depths)
    y = np.array([np.log(backward_finite_depth_sum(cell, n, q=q)) for n in values])
    return 0.5 * ols_slope(np.log(values), y)


def backward_law_valid(cell: Cell, depths: Sequence[int]) -> bool:
    """Whether the backward law holds at cell.beta over `depths` (one or more; docs/theory.md §4.10).

    False where the forward leading-order mean square alpha_L^2 S(L) exceeds VALIDITY_BOUND at some
    depth of `depths`: the state has moved by more than its norm, so J_k at h_k is not J_k at h_0.
    Always True for iid weights and for a state-free Jacobian, where that shift does not enter the
    law to this order. NotCovered where the backward law is not derived.
    """
    _require_covered(cell)
    values = [check_depth(n) for n in depths]
    if not values:
        raise ValueError("depths=[] is not allowed: expected at least one depth")
    if iid_like(cell) or state_free_jacobian(cell):
        return True
    return max(finite_depth_deviation(cell, n) for n in values) <= VALIDITY_BOUND


def backward_threshold_valid(cell: Cell, depths: Sequence[int]) -> bool:
    """`backward_law_valid` at beta = the backward finite-depth threshold over `depths`."""
    crossing = backward_finite_depth_threshold(cell, depths)
    return backward_law_valid(cell.replace(beta=max(crossing, 0.0)), depths)


def backward_kernel_expr(cell: Cell) -> sympy.Expr:
    """The summand's function of the correlation, g(rho), with S_b = sum_{j,k} g(gamma(j - k)):
    rho [(1 - 1/d) rho kappa_sigma'(rho) + kappa_sigma(rho) / d] for res3 with homogeneous sigma (in the
    width symbol `d`), unevaluated kernels for tanh and gelu, G_sigma rho for res1 and linear."""
    _require_covered(cell)
    if cell.block != "res3":
        return (sympy.Integer(1) if activation_of(cell) == "identity" else sympy.Symbol("G_sigma")) * rho
    act = activation_of(cell)
    if act in NUMERICAL_ACTIVATIONS:
        along = sympy.Function(r"\kappa_{\sigma'}")(rho)
        radial = sympy.Function(r"\lambda_\sigma")(rho)
    else:
        along = kappa_derivative_expr(act, slope_of(cell))
        radial = kappa_expr(act, slope_of(cell))
    return rho * ((1 - 1 / d) * rho * along + radial / d)


def backward_finite_depth_expr(cell: Cell) -> sympy.Expr:
    """The cell's leading-order E||p_0 - p_L||^2/||p_L||^2 as an unevaluated double sum in L, beta
    and the width d."""
    summand = backward_kernel_expr(cell)
    gamma = correlation_expr("iid" if iid_like(cell) else cell.init)
    if cell.init == "fgn" and not iid_like(cell):
        gamma = gamma.subs(H, exact(cell.hurst, "hurst"))
    if cell.init == "smooth":
        gamma = gamma.subs(sympy.Symbol("ell", positive=True), exact(cell.lengthscale, "lengthscale"))
    return alpha**2 * sympy.Sum(summand.subs(rho, gamma), (j, 0, L - 1), (k, 0, L - 1))


def backward_hermite_power(cell: Cell, *, infinite_width: bool = False) -> int:
    """The smallest power p of gamma in the Hermite expansion of the res3 summand (docs/theory.md §4.10):
    sum_{j,k} gamma^p grows fastest for the smallest p, which sets the large-L threshold
    max(1/2, 1 - p (1 - H)) of fgn weights.

    The term along the d - 1 directions orthogonal to h_0 starts at gamma^2 (mu_1 = E sigma'(Z) != 0 for
    every activation of the project); the radial term, of weight 1/d, starts at gamma^(n_0 + 1) with n_0
    the first non-zero Hermite index of sigma (its coefficients are mu_(n+2) + n mu_n, whose first
    non-zero index is n_0 for every activation of the project). So p = n_0 + 1 at finite width, the
    forward value, and p = 2 without the radial term (d -> infinity).
    """
    _require_covered(cell)
    if cell.block != "res3":
        raise NotCovered(f"{cell.label()}: the Hermite power is defined for res3 (res1 and linear: p = 1)")
    if infinite_width:
        return 2
    return hermite_order(activation_of(cell), slope_of(cell)) + 1


def backward_critical_beta(cell: Cell, *, infinite_width: bool = False) -> sympy.Expr:
    """Large-L reading of the backward law for res3 with fgn weights: max(1/2, 1 - p (1 - H)), p from
    `backward_hermite_power` (a conjecture, as for the forward law: the expansion is not controlled at
    the threshold). At finite width it equals the forward beta_c; at infinite width max(1/2, 2H - 1)."""
    if cell.init != "fgn" or iid_like(cell):
        raise NotCovered(f"{cell.label()}: the large-L backward threshold is read for fgn weights with H != 1/2")
    power = backward_hermite_power(cell, infinite_width=infinite_width)
    return sympy.Max(sympy.Rational(1, 2), 1 - power * (1 - exact(cell.hurst, "hurst")))
