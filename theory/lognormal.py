"""The log-normal law at criticality (docs/theory.md §4.3, status 'asymptotic').

For iid res3 with homogeneous sigma (and the V h block, c = 1) the network is an Euler scheme,
with step alpha_L^2 = tau / L, of dH_t = sqrt(c_sigma / d) ||H_t|| dB_t on [0, tau],
tau = L^(1 - 2 beta): the increment alpha V sigma(W h) has covariance alpha^2 c ||h||^2 / d I.
Ito's formula for R = ||H||^2 gives d log R = 2 sqrt(c/d) dW + c (1 - 2/d) dt, hence

    log(||h_L||^2 / ||h_0||^2) ~ Normal(c tau (1 - 2/d), 4 c tau / d).

E exp of it is exp(c tau), the L -> oo limit of the exact (1 + c tau / L)^L (docs/theory.md §4.2).
"""

from __future__ import annotations

import sympy

from sim.cell import Cell
from theory.activations import c_sigma
from theory.moments import _require_homogeneous
from theory.scope import NotCovered, activation_of, exact_moment_applies, slope_of
from theory.symbols import d, exact, tau


def lognormal_law_expr(activation: str = "relu",
                       negative_slope: float | sympy.Expr = 0.01) -> tuple[sympy.Expr, sympy.Expr]:
    """(mean, variance) of log(||h_L||^2/||h_0||^2) in the symbols tau and d."""
    _require_homogeneous(activation)
    c = c_sigma(activation, negative_slope)
    return c * tau * (1 - 2 / d), 4 * c * tau / d


def lognormal_law(cell: Cell) -> tuple[sympy.Expr, sympy.Expr]:
    """(mean, variance) for the cell: c tau (1 - 2/d), 4 c tau / d with tau = L^(1 - 2 beta)."""
    if not exact_moment_applies(cell):
        raise NotCovered(f"{cell.label()}: the log-normal law (docs/theory.md §4.3) is derived for iid "
                         "weights with res3 and homogeneous sigma, or the V h block")
    mean, var = lognormal_law_expr(activation_of(cell), slope_of(cell))
    tau_value = sympy.Integer(cell.depth) ** (1 - 2 * exact(cell.beta, "beta"))
    values = {tau: tau_value, d: sympy.Integer(cell.width)}
    return mean.subs(values), var.subs(values)
