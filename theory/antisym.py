"""The 'antisym' block with the identity activation: f_k(h) = (S_k - gamma I) h, S_k = K_k - K_k^T.

Covered cells: block 'antisym', activation 'identity', width >= 2, init 'iid' (or fgn with H = 1/2),
'shared' or 'smooth', any stepper, any damping gamma >= 0. Everything else raises `NotCovered`.

**Exact second moment, iid, Euler** (any zero-mean entry law of variance 1/d). With A_k = S_k - gamma I,
h_{k+1} = h_k + alpha A_k h_k and A_k independent of h_k. Because <h, S h> = 0 for every
antisymmetric S, ||h + alpha A h||^2 = (1 - alpha gamma)^2 ||h||^2 + alpha^2 ||S h||^2 for every draw,
and E||S u||^2 = sum_i E(sum_{j != i} (K_ij - K_ji) u_j)^2 = (2/d) sum_i (1 - u_i^2) = 2(d - 1)/d =: s2
for a unit u (the terms of different j use disjoint entries of K). So
E[||h_{k+1}||^2 | h_k] = ((1 - alpha gamma)^2 + alpha^2 s2) ||h_k||^2 and, iterating with the tower property,

    E||h_L||^2 / ||h_0||^2 = ((1 - alpha gamma)^2 + alpha^2 s2)^L.

Since E[A_k] = -gamma I and the layers are independent, E h_L = (1 - alpha gamma)^L h_0, hence

    E||h_L - h_0||^2 / ||h_0||^2 = ((1 - alpha gamma)^2 + alpha^2 s2)^L - 2 (1 - alpha gamma)^L + 1.

With gamma = 0 the norm grows deterministically given the draws: ||h_{k+1}||^2 = ||h_k||^2 (1 + alpha^2
||S_k u_k||^2), so log ||h_L||^2 concentrates around L alpha^2 s2 = s2 L^(1 - 2 beta).

**Heun and RK4, iid** (`theory.expansion`): the alpha^2 coefficient of E||h_L||^2/||h_0||^2 is exactly
L s2 (euler), L s2/2 (heun) and 0 (rk4); for rk4 the alpha^2 term of ||h_L||^2 - ||h_0||^2 vanishes for
every draw (RK4's order conditions b^T c = 1/2, b^T a c = 1/6, b^T c^2 = 1/3, b^T C a c = 1/8 make its
alpha^2 term that of the exact, norm-preserving flow of the linearly interpolated field; the alpha^3 term
also vanishes identically, as the expansion shows), and the next order is alpha^4, per-layer rate
-(d^2 - 1)/(36 d^2) for both log E||h_L||^2 and E log ||h_L||^2 (Gaussian law): the norm slowly
collapses for beta < 1/4. The
deviation's leading term is (alpha/2) sum_k (S_k + S_{k+1}) h_0, a random walk of variance
alpha^2 s2 (L - 1/2): the deviation threshold is 1/2 for every stepper.

**Shared weights**: h_L = R(alpha A)^L h_0 exactly, A normal with eigenvalues -gamma + i mu_j. With
gamma = 0, |R(i y)|^2 = 1 + c y^(2m) + ... (`theory.stability`) makes the norm explode for beta < 1/(2m)
when c > 0 (euler 1/2, heun 1/4) and never for rk4; the phase L arg R(i alpha mu) ~ T mu, T = L^(1-beta),
rotates h by an angle that diverges for beta < 1, so the deviation is O(1) for beta <= 1 and
~ T ||A h_0|| for beta > 1: beta_c = 1, with a non-trivial band [beta_e, 1] below it.
**Smooth weights** vary on the scale of the whole network, so A is locally constant and the same
thresholds are conjectured. **Damping gamma > 0** adds -2 alpha gamma to the per-layer log-growth,
which beats every O(alpha^2) term as alpha -> 0: no explosion for beta > 0, h_L -> 0 for beta < 1
(deviation -> ||h_0||), and a deviation ~ gamma L^(1-beta) for beta > 1, so beta_c = 1 for every init.
At finite depth explosion persists while alpha is above about 2 gamma / s2 (Euler).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import sympy
from scipy import signal

from sim.cell import Cell
from theory.covariance import smooth_correlation
from theory.expansion import log_norm_rates, moment_rates
from theory.scope import NotCovered, iid_like
from theory.stability import (
    imaginary_explosion_beta,
    imaginary_gain,
    imaginary_stability_limit,
    stability_polynomial,
    y,
)
from theory.symbols import L, alpha, d, exact

gamma = sympy.Symbol("gamma", nonnegative=True)  # damping of the antisym block
s2 = 2 * (d - 1) / d  # E||S u||^2 for a unit u
ANTISYM_INITS = ("iid", "shared", "smooth")
_ZETA = sympy.Symbol("z")


# ------------------------------------------------------------------------------ scope
def antisym_family(cell: Cell) -> str:
    """'iid', 'shared' or 'smooth' for a covered antisym cell (fgn with H = 1/2 counts as iid)."""
    return "iid" if iid_like(cell) else cell.init


def antisym_covered(cell: Cell) -> bool:
    """True for the cells this module derives anything for (see the module docstring)."""
    return (cell.block == "antisym" and cell.activation == "identity" and cell.width >= 2
            and (iid_like(cell) or cell.init in ("shared", "smooth")))


def require_covered(cell: Cell) -> None:
    """NotCovered with the reason unless `antisym_covered(cell)`."""
    if cell.block != "antisym":
        raise NotCovered(f"{cell.label()}: not an antisym cell")
    if cell.activation != "identity":
        raise NotCovered(f"{cell.label()}: antisym theory is derived for the identity activation only "
                         f"(sigma={cell.activation!r} makes the field non-linear; relu adds a mean drift)")
    if cell.width < 2:
        raise NotCovered(f"{cell.label()}: at width 1 K - K^T = 0 and the network is trivial")
    if not (iid_like(cell) or cell.init in ("shared", "smooth")):
        raise NotCovered(f"{cell.label()}: antisym theory covers iid, shared and smooth weights, "
                         f"not init={cell.init!r}")


def _damping(cell: Cell) -> sympy.Expr:
    return exact(cell.damping, "damping")


def s2_value(width: int) -> sympy.Expr:
    """s2 = 2 (d - 1)/d at the given width."""
    return s2.subs(d, width)


# ------------------------------------------------------------------ exact moments (iid, Euler)
def exact_moment_expr() -> sympy.Expr:
    """((1 - alpha gamma)^2 + 2 alpha^2 (d - 1)/d)^L in L, beta, d, gamma (iid, Euler)."""
    return ((1 - alpha * gamma) ** 2 + alpha**2 * s2) ** L


def exact_deviation_expr() -> sympy.Expr:
    """E||h_L - h_0||^2/||h_0||^2 = exact_moment_expr() - 2 (1 - alpha gamma)^L + 1 (iid, Euler)."""
    return exact_moment_expr() - 2 * (1 - alpha * gamma) ** L + 1


def exact_moment_applies(cell: Cell) -> bool:
    """iid antisym identity with the Euler stepper, any entry law and damping."""
    return antisym_covered(cell) and antisym_family(cell) == "iid" and cell.stepper == "euler"


def _exact_parts(cell: Cell) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
    if not exact_moment_applies(cell):
        raise NotCovered(f"{cell.label()}: the exact antisym moment is derived for iid weights, the "
                         "identity activation and the Euler stepper")
    a = sympy.Integer(cell.depth) ** (-exact(cell.beta, "beta"))
    g = _damping(cell)
    return (1 - a * g) ** 2 + a**2 * s2_value(cell.width), 1 - a * g, sympy.Integer(cell.depth)


def exact_second_moment(cell: Cell) -> sympy.Expr:
    """E||h_L||^2/||h_0||^2 for the cell (exact; the power kept unevaluated)."""
    step, _, depth = _exact_parts(cell)
    return sympy.Pow(step, depth, evaluate=False)


def exact_deviation_moment(cell: Cell) -> sympy.Expr:
    """E||h_L - h_0||^2/||h_0||^2 for the cell (exact)."""
    step, mean, depth = _exact_parts(cell)
    return sympy.Add(sympy.Pow(step, depth, evaluate=False), -2 * sympy.Pow(mean, depth, evaluate=False), 1,
                     evaluate=False)


# ---------------------------------------------------------------- small-step coefficients (iid)
def second_order_coefficient(stepper: str) -> sympy.Expr:
    """The alpha^2 per-layer coefficient of E||h_L||^2/||h_0||^2 (gamma = 0): s2, s2/2, 0."""
    return moment_rates(stepper)["norm"][2]


def log_norm_rate(stepper: str, width: int | sympy.Expr = d) -> tuple[int, sympy.Expr]:
    """(n, g): the first non-zero per-layer coefficient g alpha^n of E log ||h_L||^2 (gamma = 0,
    Gaussian): (2, s2) euler, (2, s2/2) heun, (4, -(d^2 - 1)/(36 d^2)) rk4."""
    rates = log_norm_rates(stepper, sympy.sympify(width))
    for n, value in enumerate(rates):
        if value != 0:
            return n, value
    raise NotCovered(f"stepper={stepper!r}: no non-zero rate up to alpha^4")


def mean_drift(stepper: str) -> sympy.Expr:
    """m2 with E<h_L, h_0> ~ exp(-m2 L alpha^2) h_0 (gamma = 0): 0, s2/4, s2/2. The beta = 1/2 limit
    dH = -m2 H dt + dW H (dW an antisymmetric Brownian matrix, E dW^T dW = s2 I dt) has these
    moments: E||H_1||^2 = exp(s2 - 2 m2), E<H_1, H_0> = exp(-m2)."""
    return -moment_rates(stepper)["overlap"][2]


# ------------------------------------------------------------------------------ thresholds
def critical_beta(cell: Cell) -> sympy.Expr:
    """The deviation threshold beta_c (identity for beta > beta_c): 1/2 for iid without damping,
    1 for shared and smooth weights and for any damped cell."""
    require_covered(cell)
    if antisym_family(cell) == "iid" and _damping(cell) == 0:
        return sympy.Rational(1, 2)
    return sympy.Integer(1)


def _iid_explosion(cell: Cell) -> sympy.Expr | None:
    if cell.stepper in ("euler", "heun"):
        return sympy.Rational(1, 2)  # the alpha^2 rate s2 or s2/2 holds for any entry law
    if cell.dist != "gaussian":
        raise NotCovered(f"{cell.label()}: the alpha^4 rate that decides RK4's norm below beta = 1/4 "
                         "is derived for Gaussian weights only")
    power, rate = log_norm_rate(cell.stepper, cell.width)
    return sympy.Integer(1) / power if rate > 0 else None


def explosion_beta(cell: Cell) -> sympy.Expr | None:
    """beta_e: the norm (and the deviation) explodes for beta < beta_e; None when no beta > 0 explodes.

    gamma = 0: iid euler and heun 1/2; iid rk4 None (its alpha^4 rate is negative: collapse);
    shared and smooth 1/2 (euler), 1/4 (heun), None (rk4). gamma > 0: None.
    """
    require_covered(cell)
    if _damping(cell) != 0:
        return None
    if antisym_family(cell) == "iid":
        return _iid_explosion(cell)
    return imaginary_explosion_beta(cell.stepper)


def _explodes_at_unit_step(cell: Cell) -> bool:
    """beta = 0 (alpha = 1) is outside every small-step argument; it is decided only where every
    step grows the norm: Euler with iid weights (||h + S h||^2 = ||h||^2 + ||S h||^2), and shared or
    smooth weights whose |R(iy)| exceeds 1 for every y != 0 (euler, heun)."""
    if _damping(cell) != 0:
        return False
    if antisym_family(cell) == "iid":
        return cell.stepper == "euler"
    coeffs = sympy.Poly(imaginary_gain(cell.stepper) - 1, y).coeffs()
    return imaginary_stability_limit(cell.stepper) == 0 and all(c > 0 for c in coeffs)


def regime(cell: Cell) -> str:
    """'explode' for beta < beta_e, 'non-trivial' for beta_e <= beta <= beta_c, 'identity' above."""
    b = exact(cell.beta, "beta")
    require_covered(cell)
    if b == 0:
        if _explodes_at_unit_step(cell):
            return "explode"
        raise NotCovered(f"{cell.label()}: at beta = 0 (alpha = 1) the regime depends on the spectrum "
                         "of the weights, not on a small-step expansion")
    beta_c = critical_beta(cell)
    if b > beta_c:
        return "identity"
    if antisym_family(cell) == "iid" and cell.stepper == "rk4" and b >= sympy.Rational(1, 4):
        return "non-trivial"  # L alpha^4 -> const or 0: the sign of the alpha^4 rate does not matter
    beta_e = explosion_beta(cell)
    if beta_e is not None and b < beta_e:
        return "explode"
    return "non-trivial"


def depth_exponent(cell: Cell) -> sympy.Expr:
    """Large-L slope of log median ||h_L - h_0|| against log L: beta_c - beta (identity), 0
    (non-trivial), sympy.oo (explode: unbounded growth)."""
    name = regime(cell)
    if name == "explode":
        return sympy.oo
    if name == "non-trivial":
        return sympy.Integer(0)
    return critical_beta(cell) - exact(cell.beta, "beta")


# --------------------------------------------------------------------------- finite depth
def _layer_weights(cell: Cell, depth: int) -> np.ndarray:
    """Weight of each layer's matrix in the order-alpha deviation alpha sum_m w_m A_m h_0: 1 for
    Euler (L matrices), the trapezoid (1/2, 1, ..., 1, 1/2) for Heun and RK4 (L + 1 matrices; RK4's
    weights b = (1, 2, 2, 1)/6 at nodes (0, 1/2, 1/2, 1) also give (A_k + A_{k+1})/2)."""
    if cell.stepper == "euler":
        return np.ones(depth)
    w = np.ones(depth + 1)
    w[0] = w[-1] = 0.5
    return w


def leading_sum(cell: Cell, depth: int) -> float:
    """S(L) with E||h_L - h_0||^2/||h_0||^2 = alpha^2 S(L) + O(alpha^3):
    s2 sum_{m,n} w_m w_n gamma(m - n) + gamma_damp^2 (sum_m w_m)^2 (E<S_m u, S_n u> = gamma(m-n) s2,
    and the damping adds the deterministic -gamma sum w_m h_0)."""
    require_covered(cell)
    w = _layer_weights(cell, depth)
    family = antisym_family(cell)
    if family == "iid":
        quad = float(w @ w)
    elif family == "shared":
        quad = float(w.sum()) ** 2
    else:
        lags = np.arange(len(w))
        corr = smooth_correlation(cell.lengthscale, lags, depth)
        auto = signal.fftconvolve(w, w[::-1])[len(w) - 1:]  # sum_m w_m w_{m+n}, n >= 0
        quad = float(corr[0] * auto[0] + 2.0 * corr[1:] @ auto[1:])
    return float(s2_value(cell.width)) * quad + float(cell.damping) ** 2 * float(w.sum()) ** 2


def _log_expm1_difference(kn: float, ko: float) -> float:
    """log(expm1(kn) - 2 expm1(ko)), accurate when both are tiny and when kn is huge."""
    if kn > 30.0:
        return kn + math.log1p(-2.0 * math.expm1(ko) * math.exp(-kn) - math.exp(-kn))
    value = math.expm1(kn) - 2.0 * math.expm1(ko)
    if not value > 0:
        raise NotCovered(f"the truncated expansion gives a non-positive deviation ({value:g}) here")
    return math.log(value)


def _exact_log_deviation(cell: Cell, depth: int) -> float:
    a = float(depth) ** (-cell.beta)
    g, c = float(cell.damping), float(s2_value(cell.width))
    log_m = math.log1p(-2.0 * a * g + a * a * (g * g + c))
    q = 1.0 - a * g
    if q > 0:
        return _log_expm1_difference(depth * log_m, depth * math.log1p(-a * g))
    # (1 - alpha gamma)^L alternates in sign; m > q^2 keeps m^L dominant when it is large
    kn = depth * log_m
    value = math.exp(kn) - 2.0 * q**depth + 1.0 if kn < 700 else math.inf
    return math.log(value) if math.isfinite(value) else kn


@lru_cache(maxsize=64)
def _numeric_rates(stepper: str, damping: sympy.Expr, width: int, order: int):
    rates = moment_rates(stepper, damping, sympy.Integer(width), 4)
    keep = order + 1
    return tuple(tuple(float(x) for x in rates[name][:keep])
                 for name in ("norm", "norm_boundary", "overlap", "overlap_boundary"))


def _resummed_log_deviation(cell: Cell, depth: int) -> float:
    """log(E||h_L||^2 - 2 E<h_L, h_0> + 1)/||h_0||^2 with log E = L rate + boundary, truncated at
    alpha^4 (Gaussian) or alpha^2 (other laws: the alpha^4 terms are not derived for them)."""
    order = 4 if cell.dist == "gaussian" else 2
    norm, norm_b, over, over_b = _numeric_rates(cell.stepper, _damping(cell), cell.width, order)
    a = float(depth) ** (-cell.beta)
    powers = [a**n for n in range(order + 1)]
    kn = sum((depth * r + b) * p for r, b, p in zip(norm, norm_b, powers, strict=True))
    ko = sum((depth * r + b) * p for r, b, p in zip(over, over_b, powers, strict=True))
    return _log_expm1_difference(kn, ko)


def _shared_log_deviation(cell: Cell, depth: int) -> float:
    """log of int |R(alpha(i mu - gamma))^L - 1|^2 rho(mu) d mu, rho the semicircle law of the
    eigenvalues mu of S (variance s2, radius 2 sqrt(s2)): the large-width spectral measure of a random
    unit h_0 for A. Gauss-Chebyshev (second kind) nodes resolve the phase T mu, T = L alpha."""
    a = float(depth) ** (-cell.beta)
    radius = 2.0 * math.sqrt(float(s2_value(cell.width)))
    nodes = int(min(2**20, max(2001, 8.0 * depth * a * radius + 1001)))
    theta = np.arange(1, nodes + 1) * math.pi / (nodes + 1)
    weights = np.sin(theta) ** 2 * 2.0 / (nodes + 1)
    mus = radius * np.cos(theta)
    # R(z) - 1 directly (no cancellation for small z), then L log R via complex log1p
    poly = sympy.Poly(stability_polynomial(cell.stepper) - 1, _ZETA).all_coeffs()
    z = a * (1j * mus - float(cell.damping))
    w = depth * np.log1p(np.polyval(np.array(poly, dtype=complex), z))
    re, im = w.real, w.imag
    # |e^w - 1|^2 in log form: e^{2 re} |1 - e^{-w}|^2 when re > 1, else the expm1 form
    big = re > 1.0
    out = np.empty_like(re)
    tail = np.exp(-w[big])
    out[big] = 2.0 * re[big] + np.log(np.abs(1.0 - tail) ** 2)
    small = ~big
    real_part = np.expm1(re[small]) * np.cos(im[small]) - 2.0 * np.sin(im[small] / 2.0) ** 2
    imag_part = np.exp(re[small]) * np.sin(im[small])
    with np.errstate(divide="ignore"):
        out[small] = np.log(real_part**2 + imag_part**2)
    top = float(np.max(out))
    if not np.isfinite(top):
        raise NotCovered(f"{cell.label()}: the deviation is zero to double precision")
    return top + math.log(float(weights @ np.exp(out - top)))


def finite_depth_log_deviation(cell: Cell, depth: int) -> float:
    """log E||h_L - h_0||^2/||h_0||^2 at depth L, with the most complete formula derived:

    - iid, Euler: the exact law (any entry law, any damping);
    - iid, Heun / RK4: log-moments resummed in L from their exact per-layer rates (asymptotic:
      O(alpha^6 L) dropped, alpha^4 for Gaussian weights, alpha^2 otherwise);
    - shared: the spectral integral over the semicircle law (asymptotic in width), every regime;
    - smooth: the leading order alpha^2 S(L), only where it is meaningful (beta >= beta_c, or below
      beta_e where both grow); NotCovered in the non-trivial band, where the deviation saturates.
    """
    require_covered(cell)
    family = antisym_family(cell)
    if family == "iid":
        if cell.stepper == "euler":
            return _exact_log_deviation(cell, depth)
        return _resummed_log_deviation(cell, depth)
    if family == "shared":
        return _shared_log_deviation(cell, depth)
    b = exact(cell.beta, "beta")
    beta_e = explosion_beta(cell)
    if b < critical_beta(cell) and (beta_e is None or b >= beta_e):
        raise NotCovered(f"{cell.label()}: with smooth weights only the leading order is derived, and in "
                         "the non-trivial band the deviation saturates where the leading order keeps growing")
    return math.log(float(depth) ** (-2.0 * cell.beta) * leading_sum(cell, depth))


def finite_depth_expr(cell: Cell) -> sympy.Expr:
    """The leading-order deviation alpha^2 (s2 sum_{m,n} w_m w_n gamma(m - n) + gamma^2 L^2) as an
    unevaluated sympy sum (m, n over the weight sets: L of them for Euler, L + 1 otherwise)."""
    require_covered(cell)
    m, n = sympy.symbols("m n", integer=True, nonnegative=True)
    top = L - 1 if cell.stepper == "euler" else L
    weight = sympy.Function("w")
    family = antisym_family(cell)
    if family == "iid":
        corr = sympy.KroneckerDelta(m, n)
    elif family == "shared":
        corr = sympy.Integer(1)
    else:
        corr = sympy.exp(-((m - n) ** 2) / (2 * exact(cell.lengthscale, "lengthscale") ** 2 * L**2))
    total = s2 * sympy.Sum(weight(m) * weight(n) * corr, (m, 0, top), (n, 0, top)) + gamma**2 * L**2
    return (alpha**2 * total).subs({d: cell.width, gamma: _damping(cell)})
