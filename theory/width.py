"""The typical (median) norm of the i.i.d. network at small width (docs/theory.md §4.9).

The verdicts judge medians, and the median of ‖h_L‖ does not follow the second moment at every
width. For `res3` with Gaussian i.i.d. weights and a positively homogeneous σ (and the linear block
h + α V h), rotation invariance makes the layers' log-norm increments
ξ_k = log(‖h_{k+1}‖² / ‖h_k‖²) independent and identically distributed, with mean

    m(α, d) = E log((1 + a g)² + a² q),   a = α √(ρ/d),  g ~ N(0, 1),  q ~ χ²_{d−1},

where ρ = ‖σ(z)‖²/d for z ~ N(0, I_d) (ρ = 1 for the linear block). To leading order in α,
m = c_σ (1 − 2/d) α² (the Itô drift of log‖H‖² in the neural SDE), so log‖h_L‖² has median
≈ L m = c_σ (1 − 2/d) τ, τ = L^{1−2β}, while the second moment (1 + c_σ α²)^L explodes at every
width. For 0 < β < ½:
- d ≥ 3: the median norm explodes;
- d = 2: the increments are those of a planar walk with circular steps, and by Jensen's formula
  m(α, 2) = E log⁺|w|² = E[E₁(1 / (α² ρ))] > 0 exactly (E₁ the exponential integral), smaller than
  any power of α: L m → 0, the median norm stays at ‖h_0‖ (flat);
- d = 1: m = −c_σ α² + O(α⁴) < 0: the median norm collapses to 0.
The median deviation ‖h_L − h_0‖/‖h_0‖ follows the norm where it explodes, and tends to 1 (slope 0)
where the norm collapses (d = 1) or spreads symmetrically around ‖h_0‖ in log scale with a direction
that becomes uniform (d = 2). For β ≥ ½ nothing changes (τ stays bounded). The gradients' law at
d ≤ 2 is not derived (the Jacobian's σ′ depends on W, which breaks the rotation argument).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np
import sympy
from scipy.special import exp1, roots_hermitenorm

from sim.cell import Cell
from theory.activations import c_sigma
from theory.critical import depth_exponent, regime
from theory.scope import NotCovered, activation_of, exact_moment_applies, residual_is_linear, slope_of
from theory.symbols import exact

NORM_REGIMES = ("explode", "flat", "collapse")
QUANTITIES = ("fwd", "diff", "bwd_diff")
_NODES = 160  # Gauss–Hermite nodes per axis for E[E1(1/(alpha^2 rho))]: the integrand is smooth


def width_rule_applies(cell: Cell) -> bool:
    """True where the median's regime depends on the width: the exact-law cells (iid, Euler, res3 with
    homogeneous σ, or the linear block) at d ≤ 2 and 0 ≤ β < ½."""
    b = exact(cell.beta, "beta")
    return exact_moment_applies(cell) and cell.width <= 2 and b < sympy.Rational(1, 2)


def _require(cell: Cell) -> None:
    """NotCovered where the width rule applies but is not derived (β = 0 at d = 1; non-Gaussian d = 2
    entries at β ≤ ¼, whose O(α⁴) drift carries the entries' fourth cumulant)."""
    b = exact(cell.beta, "beta")
    if cell.width == 1 and b == 0:
        raise NotCovered(f"{cell.label()}: at d = 1 and beta = 0 the sign of the typical norm's drift "
                         "E log(1 + xi)^2 is not derived (docs/theory.md §4.9)")
    if cell.width == 2 and cell.dist != "gaussian" and b <= sympy.Rational(1, 4):
        raise NotCovered(f"{cell.label()}: at d = 2 with {cell.dist} entries and beta <= 1/4 the typical "
                         "norm's O(alpha^4) drift is not derived (docs/theory.md §4.9)")


def norm_regime(cell: Cell) -> str:
    """The regime of the median of ‖h_L‖/‖h_0‖ as L grows: 'explode', 'flat' or 'collapse'.

    Width rule (module docstring) where it applies; elsewhere 'explode' where the deviation explodes
    (‖h_L‖ ≥ ‖h_L − h_0‖ − ‖h_0‖) and 'flat' where it does not (identity: ‖h_L‖/‖h_0‖ → 1;
    non-trivial: a finite limit law).
    """
    if width_rule_applies(cell):
        _require(cell)
        if cell.width == 1:
            return "collapse"
        if exact(cell.beta, "beta") == 0:  # d = 2, Gaussian: m(1, 2) > 0 is a fixed positive drift
            return "explode"
        return "flat"
    return "explode" if regime(cell) == "explode" else "flat"


def median_regime(cell: Cell, quantity: str = "diff") -> str:
    """The regime of the median of `quantity` that the verdicts judge.

    fwd: `norm_regime`. diff: the trichotomy's regime, except under the width rule where the median
    deviation tends to 1 ('flat') when the norm collapses or stays flat. bwd_diff: the trichotomy's
    regime (the gradients follow it), NotCovered under the width rule (not derived there).
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity={quantity!r} is not allowed: one of {', '.join(QUANTITIES)}")
    if quantity == "fwd":
        return norm_regime(cell)
    if not width_rule_applies(cell):
        return regime(cell)
    if quantity == "bwd_diff":
        raise NotCovered(f"{cell.label()}: the gradients' median at width d <= 2 below beta = 1/2 is not "
                         "derived (docs/theory.md §4.9)")
    return "explode" if norm_regime(cell) == "explode" else "flat"


def median_depth_exponent(cell: Cell, quantity: str = "diff") -> sympy.Expr:
    """Large-L slope of the median log-`quantity` against log L: sympy.oo (explode), -sympy.oo
    (collapse of the norm), 0 (flat), or the deviation's `depth_exponent`."""
    kind = median_regime(cell, quantity)
    if kind == "explode":
        return sympy.oo
    if kind == "collapse":
        return -sympy.oo
    if kind == "flat" or quantity == "fwd":
        return sympy.Integer(0)
    return depth_exponent(cell)


@cache
def _planar_drift(alpha: float, negative_slope: float, linear: bool) -> float:
    """m(α, 2) = E[E₁(1/(α² ρ))], ρ = (σ(z₁)² + σ(z₂)²)/2 (ρ = 1 for the linear block), by a
    tensor Gauss–Hermite rule (checked against Monte Carlo in the tests)."""
    if linear:
        return float(exp1(1.0 / alpha**2))
    x, w = roots_hermitenorm(_NODES)
    w = w / w.sum()
    z1, z2 = np.meshgrid(x, x)
    # a positively homogeneous sigma is z for z > 0 and a z below (a = 0 relu, 1 identity)
    rho = (np.where(z1 > 0, z1, negative_slope * z1) ** 2 + np.where(z2 > 0, z2, negative_slope * z2) ** 2) / 2
    safe = np.where(rho > 0, rho, 1.0)
    values = np.where(rho > 0, exp1(1.0 / (alpha**2 * safe)), 0.0)
    return float((np.outer(w, w) * values).sum())


def log_norm_drift(cell: Cell, depth: int | None = None) -> float:
    """m(α_L, d), the mean of one layer's log(‖h_{k+1}‖²/‖h_k‖²), α_L = L^{-β} at L = `depth` (default
    the cell's): exact for d = 2 (Gaussian entries), c_σ (1 − 2/d) α² to leading order otherwise.
    Exact-law cells only (NotCovered elsewhere)."""
    if not exact_moment_applies(cell):
        raise NotCovered(f"{cell.label()}: the log-norm drift is derived for iid res3 with homogeneous "
                         "sigma and the linear block (docs/theory.md §4.9)")
    alpha = float(depth or cell.depth) ** -float(cell.beta)
    linear = residual_is_linear(cell)
    if cell.width == 2 and cell.dist == "gaussian":
        return _planar_drift(alpha, float(slope_of(cell)), linear)
    c = 1.0 if linear else float(c_sigma(activation_of(cell), slope_of(cell)))
    return c * (1 - 2 / cell.width) * alpha**2


def _log_median_deviation(centre: float, variance: float, width: int) -> float:
    """log median |e^Z − 1| for the log-state Z of the diffusion approximation at d ≤ 2: Z = X real at
    d = 1, Z = X + iY at d = 2 (the plane as ℂ), X ~ N(centre, variance), Y ~ N(0, variance)
    independent. P(|e^Z − 1| ≤ m) is a normal probability for X given the angle (the condition is
    quadratic in e^X), averaged over the angle by Gauss–Hermite; the median by bisection in log m."""
    from scipy.special import ndtr

    sd = math.sqrt(variance)

    def x_prob(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """P(lo <= e^X <= hi) for X ~ N(centre, variance), lo >= 0."""
        with np.errstate(divide="ignore"):
            upper = ndtr((np.log(np.maximum(hi, 1e-300)) - centre) / sd)
            lower = np.where(lo > 0, ndtr((np.log(np.maximum(lo, 1e-300)) - centre) / sd), 0.0)
        return np.where(hi > 0, np.clip(upper - lower, 0.0, 1.0), 0.0)

    if width == 1:
        def cdf(m: float) -> float:
            return float(x_prob(np.array(max(1 - m, 0.0)), np.array(1 + m)))
    else:
        x, w = roots_hermitenorm(_NODES)
        w = w / w.sum()
        cos, sin2 = np.cos(sd * x), np.sin(sd * x) ** 2

        def cdf(m: float) -> float:
            # |e^{X+iy} - 1| <= m  <=>  u^2 - 2u cos y + 1 - m^2 <= 0 for u = e^X
            root = np.sqrt(np.maximum(m * m - sin2, 0.0))
            inside = m * m >= sin2
            prob = x_prob(np.maximum(cos - root, 0.0), cos + root)
            return float((w * np.where(inside, prob, 0.0)).sum())

    lo, hi = -40.0, 40.0  # log m
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if cdf(math.exp(mid)) >= 0.5 else (mid, hi)
    return (lo + hi) / 2


def median_finite_depth_slope(cell: Cell, depths: Sequence[int], quantity: str = "diff") -> float:
    """The slope theory predicts for the median log-`quantity` over `depths`, in the diffusion
    approximation of docs/theory.md §4.3 with the drift of §4.9: the log-norm is X ~ N(y, v) with
    y(L) = L m(α_L, d)/2 and v = c_σ τ_L/d; for fwd the slope of y against log L (exact-law cells at
    any width), for diff (under the width rule) the slope of log median |e^Z − 1|, Z = X (d = 1) or
    X + iY with a uniformly spreading angle Y ~ N(0, v) (d = 2). NotCovered elsewhere, where the
    finite-depth law of docs/theory.md §4.8 applies instead."""
    if quantity not in ("fwd", "diff"):
        raise NotCovered(f"{cell.label()}: no finite-depth median law for {quantity!r} under the width rule")
    if not width_rule_applies(cell) and quantity == "diff":
        raise NotCovered(f"{cell.label()}: outside the width rule the finite-depth deviation law applies")
    if not exact_moment_applies(cell):
        raise NotCovered(f"{cell.label()}: the median log-norm is derived for the exact-law cells")
    if width_rule_applies(cell):
        _require(cell)
    ls = np.array(sorted({int(d) for d in depths}), dtype=float)
    if len(ls) < 2:
        raise ValueError(f"depths={list(depths)!r} is not allowed: at least two distinct depths")
    y = np.array([0.5 * n * log_norm_drift(cell, int(n)) for n in ls])
    if quantity == "diff":
        c = 1.0 if residual_is_linear(cell) else float(c_sigma(activation_of(cell), slope_of(cell)))
        variances = c * ls ** (1 - 2 * float(cell.beta)) / cell.width
        y = np.array([_log_median_deviation(yi, vi, cell.width) for yi, vi in zip(y, variances, strict=True)])
    return float(np.polyfit(np.log(ls), y, 1)[0])
