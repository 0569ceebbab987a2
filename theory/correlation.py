"""Two inputs at infinite width (docs/theory.md §4.7, status 'asymptotic').

For iid res3 with homogeneous sigma and infinite width, the per-coordinate covariances of the
two hidden states follow q_i' = q_i (1 + c alpha^2) and q_12' = q_12 + alpha^2 sqrt(q_1 q_2)
kappa(rho), so their cosine obeys rho' = (rho + alpha^2 kappa(rho)) / (1 + c alpha^2). In the
time t = k alpha^2 (t in [0, tau], tau = L^(1 - 2 beta)) this is

    d rho / dt = kappa_sigma(rho) - c_sigma rho,

which for relu is docs/theory.md §4.7's (f(rho) - rho) / 2 with f the arc-cosine function 2 kappa_relu. It is 0
for the identity (a linear network keeps cosines at infinite width) and its fixed point rho = 1
attracts: explosion (tau -> oo) collapses the inputs, identity (tau -> 0) freezes rho.
"""

from __future__ import annotations

import numpy as np
import sympy
from scipy.integrate import solve_ivp

from theory.activations import c_sigma, kappa_expr
from theory.moments import _require_homogeneous
from theory.symbols import rho, t


def correlation_rhs(activation: str = "relu",
                    negative_slope: float | sympy.Expr = 0.01) -> sympy.Expr:
    """kappa_sigma(rho) - c_sigma rho, the right-hand side of the cosine ODE, in `rho`."""
    _require_homogeneous(activation)
    return kappa_expr(activation, negative_slope) - c_sigma(activation, negative_slope) * rho


def correlation_ode(activation: str = "relu",
                    negative_slope: float | sympy.Expr = 0.01) -> sympy.Eq:
    """d rho(t)/dt = kappa_sigma(rho) - c_sigma rho as a sympy equation in the function rho(t)."""
    rho_t = sympy.Function("rho")(t)
    rhs = correlation_rhs(activation, negative_slope).subs(rho, rho_t)
    return sympy.Eq(sympy.Derivative(rho_t, t), rhs)


def solve_correlation(rho0: float, tau: float | np.ndarray, activation: str = "relu",
                      negative_slope: float = 0.01) -> float | np.ndarray:
    """rho(tau) from rho(0) = rho0 (scipy solve_ivp, rtol 1e-10); tau a number or a sorted array."""
    if not -1.0 <= rho0 <= 1.0:
        raise ValueError(f"rho0={rho0!r} is not allowed: expected a cosine in [-1, 1]")
    times = np.atleast_1d(np.asarray(tau, dtype=float))
    if np.any(times < 0) or np.any(np.diff(times) < 0):
        raise ValueError(f"tau={tau!r} is not allowed: expected non-negative, increasing times")
    if times[-1] == 0.0:
        values = np.full(times.shape, float(rho0))
        return float(values[0]) if np.ndim(tau) == 0 else values
    rhs = sympy.lambdify(rho, correlation_rhs(activation, negative_slope), "numpy")

    def field(_: float, y: np.ndarray) -> np.ndarray:
        return np.atleast_1d(rhs(np.clip(y, -1.0, 1.0)))

    sol = solve_ivp(field, (0.0, float(times[-1])), [rho0], t_eval=times, rtol=1e-10, atol=1e-12)
    values = np.clip(sol.y[0], -1.0, 1.0)
    return float(values[0]) if np.ndim(tau) == 0 else values
