"""Gaussian moments of the activations: c_sigma, Hermite coefficients and the kernel kappa_sigma.

Conventions (docs/theory.md §4.2, §4.8): Z ~ N(0, 1); X, Y standard normals with correlation rho; q is the
per-coordinate variance of the pre-activation (q = ||h_0||^2 / d in res3).

    c_sigma(q)      = E[sigma(sqrt(q) Z)^2] / q
    kappa_sigma(rho) = E[sigma(sqrt(q) X) sigma(sqrt(q) Y)] / q = sum_n (mu_n^2 / n!) rho^n,
    mu_n           = E[sigma(sqrt(q) Z) He_n(Z)] / sqrt(q).

The backward pass (docs/theory.md §4.10) needs two more kernels, of sigma' and of z sigma'(sqrt(q) z):

    kappa_sigma'(rho) = E[sigma'(sqrt(q) X) sigma'(sqrt(q) Y)] = d kappa_sigma / d rho,
    radial kernel     = E[X sigma'(sqrt(q) X) Y sigma'(sqrt(q) Y)]   (= kappa_sigma for homogeneous sigma).

For the positively homogeneous activations (relu, leaky_relu, identity) none of these depend on q
and they are exact sympy numbers (sympy integration; the arc-cosine kernel of Cho & Saul 2009 for
kappa). For tanh and gelu they are numerical (quadrature), returned as sympy Floats and marked so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache, lru_cache

import numpy as np
import sympy
from numpy.polynomial.hermite_e import hermegauss
from scipy import integrate, special

from sim.cell import ACTIVATIONS
from theory.scope import HOMOGENEOUS_ACTIVATIONS
from theory.symbols import exact, rho, z

NUMERICAL_ACTIVATIONS = ("tanh", "gelu")
_PHI = sympy.exp(-(z**2) / 2) / sympy.sqrt(2 * sympy.pi)
# Gauss-Hermite rule for the Hermite coefficients: 300 nodes resolve coefficients up to n ~ 250.
_GH_NODES = 300
_MAX_TERMS = 250
# The Hermite series is cut where its remaining mass sum_{n>N} mu_n^2/n! is below this fraction
# of c_sigma; that bounds the truncation error of kappa uniformly on |rho| <= 1.
_SERIES_TOL = 1e-12


def check_activation(activation: str) -> str:
    """Return `activation` if it is one the project knows, else raise a precise ValueError."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is not allowed: one of {', '.join(ACTIVATIONS)}")
    return activation


def _slope(activation: str, negative_slope: float | sympy.Expr) -> sympy.Expr:
    """Homogeneous activations as sigma(x) = x (x > 0), a x (x < 0): relu a=0, identity a=1."""
    if activation == "relu":
        return sympy.Integer(0)
    if activation == "identity":
        return sympy.Integer(1)
    slope = exact(negative_slope, "negative_slope")
    if slope.is_number and not 0 <= slope <= 1:
        raise ValueError(f"negative_slope={negative_slope!r} is not allowed: expected a value in [0, 1]")
    return slope


def activation_expr(activation: str, negative_slope: float | sympy.Expr = 0.01) -> sympy.Expr:
    """sigma(z) as a sympy expression in the symbol `z`."""
    check_activation(activation)
    if activation == "tanh":
        return sympy.tanh(z)
    if activation == "gelu":
        return z * (1 + sympy.erf(z / sympy.sqrt(2))) / 2
    slope = _slope(activation, negative_slope)
    if slope == 1:
        return z
    return sympy.Piecewise((z, z > 0), (slope * z, True))


@cache
def _half_line_moment(power: int) -> sympy.Expr:
    """E[Z^power 1{Z > 0}] by sympy integration."""
    return sympy.integrate(z**power * _PHI, (z, 0, sympy.oo))


def _gelu(x: np.ndarray) -> np.ndarray:
    return x * special.ndtr(x)  # gelu(x) = x Phi(x)


def _numeric(activation: str) -> Callable[[np.ndarray], np.ndarray]:
    return np.tanh if activation == "tanh" else _gelu


def _gelu_derivative(x: np.ndarray) -> np.ndarray:
    return special.ndtr(x) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # Phi(x) + x phi(x)


def numeric_derivative(activation: str) -> Callable[[np.ndarray], np.ndarray]:
    """sigma' of tanh (1 - tanh^2) or gelu (Phi + x phi) as a numpy function."""
    if activation not in NUMERICAL_ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is not allowed: one of {', '.join(NUMERICAL_ACTIVATIONS)}")
    return (lambda x: 1.0 - np.tanh(x) ** 2) if activation == "tanh" else _gelu_derivative


def mean_square(activation: str, q: float = 1.0, negative_slope: float = 0.01) -> float:
    """E[sigma(sqrt(q) Z)^2] / q as a float (quadrature for tanh and gelu)."""
    check_activation(activation)
    if activation in HOMOGENEOUS_ACTIVATIONS:
        return float(c_sigma(activation, negative_slope))
    return _quad_mean_square(activation, float(q))


@lru_cache(maxsize=4096)
def _quad_mean_square(activation: str, q: float) -> float:
    f = _numeric(activation)
    s = math.sqrt(q)

    def integrand(x: float) -> float:
        return f(s * x) ** 2 / q * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)

    value, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13, limit=200)
    return value


def c_sigma(activation: str, negative_slope: float | sympy.Expr = 0.01, *,
            q: float = 1.0) -> sympy.Expr:
    """c_sigma = E[sigma(sqrt(q) Z)^2] / q, Z ~ N(0, 1) (q = 1 gives E[sigma(Z)^2]).

    relu 1/2, leaky_relu (1 + a^2)/2, identity 1: exact, by sympy integration over the half lines
    (q plays no role). tanh, gelu: numerical quadrature (scipy, absolute error ~1e-14), returned
    as a sympy Float: a numerical value, not a closed form. `negative_slope` may be a Symbol.
    """
    check_activation(activation)
    if activation in NUMERICAL_ACTIVATIONS:
        if not q > 0:
            raise ValueError(f"q={q!r} is not allowed: expected a variance > 0")
        return sympy.Float(_quad_mean_square(activation, float(q)), 15)
    slope = _slope(activation, negative_slope)
    # sigma^2 = z^2 on z > 0 and a^2 z^2 on z < 0; the two half lines have equal moments.
    return sympy.simplify((1 + slope**2) * _half_line_moment(2))


@lru_cache(maxsize=64)
def is_odd(activation: str, negative_slope: float | sympy.Expr = 0.01) -> bool:
    """True when sigma(-z) = -sigma(z), decided symbolically (tanh, identity, leaky with a = 1)."""
    expr = activation_expr(activation, negative_slope)
    return sympy.simplify(expr.subs(z, -z) + expr) == 0


def hermite_mean(activation: str, negative_slope: float | sympy.Expr = 0.01) -> sympy.Expr:
    """mu_0 = E[sigma(Z)]: exactly 0 for odd sigma; sympy integration otherwise.

    Homogeneous: (1 - a) E[Z 1{Z > 0}] = (1 - a)/sqrt(2 pi). gelu: E[Z Phi(Z)] = E[phi(Z)] by
    Stein's lemma, integrated by sympy (1/(2 sqrt(pi))).
    """
    check_activation(activation)
    if is_odd(activation, negative_slope):
        return sympy.Integer(0)
    if activation == "gelu":
        return sympy.integrate(_PHI * _PHI, (z, -sympy.oo, sympy.oo))
    slope = _slope(activation, negative_slope)
    return sympy.simplify((1 - slope) * _half_line_moment(1))


def hermite_slope(activation: str, negative_slope: float | sympy.Expr = 0.01) -> sympy.Expr:
    """mu_1 = E[Z sigma(Z)] = E[sigma'(Z)]: exact for homogeneous sigma and gelu, numeric for tanh."""
    check_activation(activation)
    if activation == "tanh":
        value, _ = integrate.quad(lambda x: (1 - math.tanh(x) ** 2) * math.exp(-x * x / 2)
                                  / math.sqrt(2 * math.pi), -np.inf, np.inf, epsabs=1e-14)
        return sympy.Float(value, 15)
    if activation == "gelu":
        # E[Phi(Z) + Z phi(Z)] = 1/2 + 0: the second integrand is odd.
        return sympy.integrate(sympy.diff(activation_expr("gelu"), z) * _PHI, (z, -sympy.oo, sympy.oo))
    slope = _slope(activation, negative_slope)
    return sympy.simplify((1 + slope) * _half_line_moment(2))


@cache  # symbolic simplification costs ~10 ms a call, and a grid asks once per cell
def hermite_order(activation: str, negative_slope: float | sympy.Expr = 0.01) -> int:
    """Index of the first non-zero Hermite coefficient of sigma: 0 (E sigma(Z) != 0) or 1 (odd).

    This index sets the fgn threshold (docs/theory.md §4.8): sum gamma_H^(n+1) with n = this index dominates.
    For the activations of the project it does not depend on q (for gelu mu_0(q) > 0 for all q,
    for tanh mu_1(q) = E tanh'(sqrt(q) Z) > 0).
    """
    if hermite_mean(activation, negative_slope) != 0:
        return 0
    if hermite_slope(activation, negative_slope) != 0:
        return 1
    raise ValueError(f"activation={activation!r} is not allowed here: its first two Hermite "
                     "coefficients vanish, which no encoded claim covers")


def arccos_kernel() -> sympy.Expr:
    """The relu kernel kappa(rho) = (sqrt(1 - rho^2) + (pi - arccos rho) rho) / (2 pi)."""
    return (sympy.sqrt(1 - rho**2) + (sympy.pi - sympy.acos(rho)) * rho) / (2 * sympy.pi)


def kappa_expr(activation: str, negative_slope: float | sympy.Expr = 0.01, *,
               q: float = 1.0) -> sympy.Expr:
    """kappa_sigma(rho) as a sympy expression in `rho`.

    Homogeneous sigma = a x + (1 - a) relu(x) gives, since E[X relu(Y)] = rho / 2,
    kappa = a rho + (1 - a)^2 kappa_relu(rho): exact (relu a = 0, identity a = 1, so kappa = rho).
    tanh, gelu: the Hermite series sum_n (mu_n^2 / n!) rho^n truncated where its remaining mass is
    below 1e-12 c_sigma, with numerical (Float) coefficients at the given q.
    """
    check_activation(activation)
    if activation in NUMERICAL_ACTIVATIONS:
        coeffs = series_coefficients(activation, q)
        return sum(sympy.Float(c, 15) * rho**n for n, c in enumerate(coeffs) if c != 0.0)
    slope = _slope(activation, negative_slope)
    if slope == 1:
        return rho
    return slope * rho + (1 - slope) ** 2 * arccos_kernel()


@lru_cache(maxsize=1)
def _gauss_hermite() -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = hermegauss(_GH_NODES)
    return nodes, weights / math.sqrt(2 * math.pi)


def normalized_hermite(activation: str, variances: np.ndarray, *, q: float = 1.0,
                       negative_slope: float = 0.01, terms: int = _MAX_TERMS) -> np.ndarray:
    """(len(variances), terms) array of E[sigma(sqrt(q v) Z) He_n(Z)] / sqrt(q n!), n < terms.

    Gauss-Hermite quadrature with the normalized recurrence h_{n+1} = (x h_n - sqrt(n) h_{n-1})
    / sqrt(n + 1), which does not overflow. Meant for smooth sigma (tanh, gelu); relu's kink
    makes the quadrature converge slowly, which is why relu uses its closed form instead.
    """
    check_activation(activation)
    x, w = _gauss_hermite()
    scale = np.sqrt(q * np.asarray(variances, dtype=float))[:, None]
    if activation in NUMERICAL_ACTIVATIONS:
        values = _numeric(activation)(scale * x[None, :])
    else:
        slope = float(_slope(activation, negative_slope))
        u = scale * x[None, :]
        values = np.where(u > 0, u, slope * u)
    values = values * w[None, :] / math.sqrt(q)
    out = np.empty((scale.shape[0], terms))
    h_prev, h = np.zeros_like(x), np.ones_like(x)
    for n in range(terms):
        out[:, n] = values @ h
        h_prev, h = h, (x * h - math.sqrt(n) * h_prev) / math.sqrt(n + 1)
    if is_odd(activation, negative_slope):
        out[:, 0::2] = 0.0  # exact zeros by parity, instead of rounding noise
    return out


@lru_cache(maxsize=256)
def _series(activation: str, q: float) -> tuple[float, ...]:
    coeffs = normalized_hermite(activation, np.array([1.0]), q=q)[0] ** 2
    total = mean_square(activation, q)
    remaining = total - np.cumsum(coeffs)
    ok = np.nonzero(remaining <= _SERIES_TOL * total)[0]
    if ok.size == 0:
        raise ValueError(f"q={q!r} is not allowed for activation={activation!r}: the Hermite "
                         f"series does not converge to 1e-12 within {_MAX_TERMS} terms")
    return tuple(coeffs[: ok[0] + 1])


def series_coefficients(activation: str, q: float = 1.0) -> np.ndarray:
    """Coefficients mu_n^2 / n! of kappa's Hermite series for tanh or gelu at variance q."""
    if activation not in NUMERICAL_ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is not allowed: the series is used for "
                         f"{', '.join(NUMERICAL_ACTIVATIONS)} only (others have closed forms)")
    if not q > 0:
        raise ValueError(f"q={q!r} is not allowed: expected a variance > 0")
    return np.array(_series(activation, float(q)))


def kappa(activation: str, correlation: np.ndarray | float, *, q: float = 1.0,
          negative_slope: float = 0.01) -> np.ndarray:
    """kappa_sigma evaluated at correlations in [-1, 1] (array in, array of the same shape out).

    Closed form for relu, leaky_relu and identity (independent of q); Hermite series for tanh
    and gelu at variance q (error below 1e-12 c_sigma).
    """
    r = np.clip(np.asarray(correlation, dtype=float), -1.0, 1.0)
    check_activation(activation)
    if activation in NUMERICAL_ACTIVATIONS:
        return np.polynomial.polynomial.polyval(r, series_coefficients(activation, q))
    slope = float(_slope(activation, negative_slope))
    relu = (np.sqrt(1.0 - r * r) + (np.pi - np.arccos(r)) * r) / (2.0 * np.pi)
    return slope * r + (1.0 - slope) ** 2 * relu


def cross_kappa(activation: str, correlation: np.ndarray, var_a: np.ndarray, var_b: np.ndarray,
                *, q: float = 1.0, negative_slope: float = 0.01) -> np.ndarray:
    """E[sigma(sqrt(q v_a) X) sigma(sqrt(q v_b) Y)] / q for unequal variances v_a, v_b.

    Homogeneous sigma: sqrt(v_a v_b) kappa(rho). tanh, gelu: the bilinear Hermite series
    sum_n m_n(v_a) m_n(v_b) rho^n with m_n from `normalized_hermite`; truncated where both
    remaining masses are below 1e-12 of c_sigma, which by Cauchy-Schwarz bounds the error.
    `var_a` broadcasts along rows (shape (m, 1)), `var_b` along columns (shape (n,)).
    """
    r = np.clip(np.asarray(correlation, dtype=float), -1.0, 1.0)
    va, vb = np.asarray(var_a, dtype=float), np.asarray(var_b, dtype=float)
    if activation not in NUMERICAL_ACTIVATIONS:
        return np.sqrt(va * vb) * kappa(activation, r, negative_slope=negative_slope)
    ma = truncated_hermite(activation, va.ravel(), q)
    mb = truncated_hermite(activation, vb.ravel(), q)
    terms = max(ma.shape[1], mb.shape[1])
    ma = np.pad(ma, ((0, 0), (0, terms - ma.shape[1])))
    mb = np.pad(mb, ((0, 0), (0, terms - mb.shape[1])))
    out = np.zeros(np.broadcast_shapes(r.shape, va.shape, vb.shape))
    power = np.ones_like(out)
    ca, cb = ma.reshape(*va.shape, terms), mb.reshape(*vb.shape, terms)
    for n in range(terms):
        out += ca[..., n] * cb[..., n] * power
        power = power * r
    return out


def truncated_hermite(activation: str, variances: np.ndarray, q: float) -> np.ndarray:
    """(len(variances), N) normalized Hermite coefficients, N the shortest length whose dropped
    mass is below 1e-12 of E[sigma(sqrt(q v) Z)^2]/q for every variance v (tanh, gelu)."""
    coeffs = normalized_hermite(activation, variances, q=q)
    # The Gauss-Hermite rule's own E[sigma^2]/q: by its discrete orthonormality the differences
    # below are exactly the masses of the dropped terms.
    x, w = _gauss_hermite()
    values = _numeric(activation)(np.sqrt(q * variances)[:, None] * x[None, :])
    totals = (values**2) @ w / q
    remaining = totals[:, None] - np.cumsum(coeffs**2, axis=1)
    ok = np.all(remaining <= _SERIES_TOL * np.maximum(totals, 1e-300)[:, None] + 1e-300, axis=0)
    if not ok.any():
        raise ValueError(f"q={q!r} is not allowed for activation={activation!r}: the Hermite "
                         f"series does not converge to 1e-12 within {_MAX_TERMS} terms")
    return coeffs[:, : int(np.argmax(ok)) + 1]


def kappa_derivative_expr(activation: str, negative_slope: float | sympy.Expr = 0.01) -> sympy.Expr:
    """kappa_sigma'(rho) = E[sigma'(X) sigma'(Y)] = d kappa_sigma / d rho, homogeneous sigma, in `rho`.

    sigma' = a + (1 - a) 1{x > 0} and P(X > 0, Y > 0) = 1/4 + arcsin(rho) / (2 pi) give
    a + (1 - a)^2 (1/4 + arcsin(rho) / (2 pi)); it equals the derivative of `kappa_expr` (tested).
    """
    check_activation(activation)
    if activation in NUMERICAL_ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is not allowed: closed forms exist for "
                         f"{', '.join(HOMOGENEOUS_ACTIVATIONS)}; use kappa_derivative for tanh and gelu")
    slope = _slope(activation, negative_slope)
    return slope + (1 - slope) ** 2 * (sympy.Rational(1, 4) + sympy.asin(rho) / (2 * sympy.pi))


def _coefficients(values: np.ndarray) -> np.ndarray:
    """E[f(Z) He_n(Z)] / sqrt(n!) for n < _MAX_TERMS, from f at the Gauss-Hermite nodes."""
    x, w = _gauss_hermite()
    out = np.empty(_MAX_TERMS)
    h_prev, h = np.zeros_like(x), np.ones_like(x)
    for n in range(_MAX_TERMS):
        out[n] = (values * w) @ h
        h_prev, h = h, (x * h - math.sqrt(n) * h_prev) / math.sqrt(n + 1)
    return out


@lru_cache(maxsize=256)
def _derivative_series(activation: str, q: float) -> tuple[tuple[float, ...], tuple[float, ...], float, float]:
    """Hermite series (coefficients of rho^n) of the kernels of sigma'(sqrt(q) z) and of
    z sigma'(sqrt(q) z), each cut where its remaining mass is below 1e-12 of its total, and the
    two totals E[sigma'(sqrt(q) Z)^2], E[Z^2 sigma'(sqrt(q) Z)^2] (their values at rho = 1)."""
    x, w = _gauss_hermite()
    slope = numeric_derivative(activation)(math.sqrt(q) * x)
    out = []
    for values in (slope, x * slope):
        coeffs = _coefficients(values) ** 2
        total = float((values**2) @ w)
        remaining = total - np.cumsum(coeffs)
        ok = np.nonzero(remaining <= _SERIES_TOL * total)[0]
        if ok.size == 0:
            raise ValueError(f"q={q!r} is not allowed for activation={activation!r}: the Hermite series of "
                             f"sigma' does not converge to 1e-12 within {_MAX_TERMS} terms")
        out.append((tuple(coeffs[: ok[0] + 1]), total))
    (kernel, kernel_total), (radial, radial_total) = out
    return kernel, radial, kernel_total, radial_total


def _derivative_kernels(activation: str, correlation: np.ndarray | float, q: float,
                        negative_slope: float) -> tuple[np.ndarray, np.ndarray]:
    r = np.clip(np.asarray(correlation, dtype=float), -1.0, 1.0)
    check_activation(activation)
    if activation not in NUMERICAL_ACTIVATIONS:
        slope = float(_slope(activation, negative_slope))
        return (slope + (1.0 - slope) ** 2 * (0.25 + np.arcsin(r) / (2.0 * np.pi)),
                kappa(activation, r, negative_slope=negative_slope))
    if not q > 0:
        raise ValueError(f"q={q!r} is not allowed: expected a variance > 0")
    kernel, radial, kernel_total, radial_total = _derivative_series(activation, float(q))
    first = np.polynomial.polynomial.polyval(r, np.array(kernel))
    second = np.polynomial.polynomial.polyval(r, np.array(radial))
    # at correlation 1 the totals themselves, not the truncated series
    return np.where(r == 1.0, kernel_total, first), np.where(r == 1.0, radial_total, second)


def kappa_derivative(activation: str, correlation: np.ndarray | float, *, q: float = 1.0,
                     negative_slope: float = 0.01) -> np.ndarray:
    """kappa_sigma'(rho) = E[sigma'(sqrt(q) X) sigma'(sqrt(q) Y)] at correlations in [-1, 1].

    Closed form for relu, leaky_relu and identity (`kappa_derivative_expr`); for tanh and gelu the
    Hermite series of sigma'(sqrt(q) z) by Gauss-Hermite quadrature, cut where the remaining mass
    is below 1e-12 of E[sigma'(sqrt(q) Z)^2] (the error bound uniformly on |rho| <= 1).
    """
    return _derivative_kernels(activation, correlation, q, negative_slope)[0]


def radial_kernel(activation: str, correlation: np.ndarray | float, *, q: float = 1.0,
                  negative_slope: float = 0.01) -> np.ndarray:
    """E[X sigma'(sqrt(q) X) Y sigma'(sqrt(q) Y)] at correlations in [-1, 1].

    For homogeneous sigma, z sigma'(z) = sigma(z), so this is kappa_sigma; for tanh and gelu the
    Hermite series of z sigma'(sqrt(q) z), cut as in `kappa_derivative`.
    """
    return _derivative_kernels(activation, correlation, q, negative_slope)[1]
