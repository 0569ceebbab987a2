"""Second moments of the forward pass (docs/theory.md §4.2) and their limits in depth.

Exact (docs/theory.md §4.2, any width): for iid weights with symmetric entries of variance 1/d and either
res3 with homogeneous sigma, or the V h block (linear, res1 with identity),

    E ||h_L||^2 / ||h_0||^2 = (1 + c_sigma alpha_L^2)^L,   E ||h_L - h_0||^2 / ||h_0||^2 = that - 1.

Reason: E ||V z||^2 = ||z||^2, E ||sigma(W h)||^2 = c_sigma ||h||^2 (for the symmetric law of
(W h)_i), the cross term vanishes because V_{k+1} is independent of h_k and centred, and
h_k - h_0 is a martingale with orthogonal increments.

For res1 with another sigma only the conditional step is exact; iterating it needs the law of
the state, which the width limit supplies (status 'asymptotic'): see `width_limit_moment`.

All of this is for the Euler step; other steppers of these blocks raise NotCovered. The antisym
block's exact law (iid, identity activation, Euler) is `theory.antisym`; `second_moment` and
`deviation_second_moment` return it for those cells.
"""

from __future__ import annotations

import math

import numpy as np
import sympy

from sim.cell import BLOCKS, Cell
from theory import antisym
from theory.activations import _gauss_hermite, _numeric, c_sigma, check_activation
from theory.inputs import input_factor, input_factor_is_exact, input_variance
from theory.scope import (
    HOMOGENEOUS_ACTIVATIONS,
    NotCovered,
    activation_of,
    exact_moment_applies,
    iid_like,
    is_homogeneous,
    require_euler_residual,
    slope_of,
)
from theory.symbols import L, alpha, beta, exact, q


def exact_moment_expr(activation: str = "relu",
                      negative_slope: float | sympy.Expr = 0.01) -> sympy.Expr:
    """(1 + c_sigma L^(-2 beta))^L in the symbols L and beta (homogeneous sigma only)."""
    _require_homogeneous(activation)
    return (1 + c_sigma(activation, negative_slope) * alpha**2) ** L


def exact_deviation_expr(activation: str = "relu",
                         negative_slope: float | sympy.Expr = 0.01) -> sympy.Expr:
    """(1 + c_sigma L^(-2 beta))^L - 1: E ||h_L - h_0||^2 / ||h_0||^2 in L and beta."""
    return exact_moment_expr(activation, negative_slope) - 1


def _require_homogeneous(activation: str) -> None:
    check_activation(activation)
    if activation not in HOMOGENEOUS_ACTIVATIONS:
        raise NotCovered(f"activation={activation!r}: the exact second moment needs a positively "
                         "homogeneous sigma (relu, leaky_relu, identity); for tanh and gelu only "
                         "the width-limit recursion is encoded (width_limit_moment)")


def _exact_law_parts(cell: Cell) -> tuple[sympy.Expr, sympy.Expr]:
    """(1 + c alpha^2, L) for a cell in the exact law's scope, else NotCovered."""
    if not exact_moment_applies(cell):
        raise NotCovered(f"{cell.label()}: the exact second moment (docs/theory.md §4.2) covers iid weights "
                         "with res3 and homogeneous sigma, or the V h block; not this cell")
    c = c_sigma(activation_of(cell), slope_of(cell))
    step = 1 + c * sympy.Integer(cell.depth) ** (-2 * exact(cell.beta, "beta"))
    return step, sympy.Integer(cell.depth)


def second_moment(cell: Cell) -> sympy.Expr:
    """E ||h_L||^2 / ||h_0||^2 = (1 + c_sigma alpha_L^2)^L, exact (power kept unevaluated).

    antisym (iid, identity, Euler): ((1 - alpha gamma)^2 + 2 alpha^2 (d - 1)/d)^L, exact.
    """
    if cell.block == "antisym":
        return antisym.exact_second_moment(cell)
    step, depth = _exact_law_parts(cell)
    return sympy.Pow(step, depth, evaluate=False)


def deviation_second_moment(cell: Cell) -> sympy.Expr:
    """E ||h_L - h_0||^2 / ||h_0||^2 = (1 + c_sigma alpha_L^2)^L - 1, exact.

    antisym (iid, identity, Euler): that moment - 2 (1 - alpha gamma)^L + 1, exact.
    """
    if cell.block == "antisym":
        return antisym.exact_deviation_moment(cell)
    step, depth = _exact_law_parts(cell)
    return sympy.Add(sympy.Pow(step, depth, evaluate=False), -1, evaluate=False)


def moment_limit(block: str, activation: str, beta_value: float | str | sympy.Expr,
                 negative_slope: float | sympy.Expr = 0.01) -> sympy.Expr:
    """sympy.limit of the exact E ||h_L||^2 / ||h_0||^2 as L -> oo at a fixed beta.

    Computed by sympy, not looked up: oo for beta < 1/2, exp(c_sigma) at 1/2, 1 above.
    `block` must be one for which the exact law holds with this activation.
    """
    if block not in BLOCKS:
        raise ValueError(f"block={block!r} is not allowed: one of {', '.join(BLOCKS)}")
    if block == "antisym":
        raise NotCovered("block='antisym': its exact moment depends on the width and the damping, "
                         "which this function does not take (see theory.antisym.exact_moment_expr)")
    act = "identity" if block == "linear" else activation
    if block == "res1" and act != "identity":
        raise NotCovered(f"block='res1' with activation={activation!r}: only the conditional step "
                         "is exact, so there is no exact moment to take the limit of")
    b = exact(beta_value, "beta")
    if b.is_number and b < 0:
        raise ValueError(f"beta={beta_value!r} is not allowed: expected beta >= 0")
    return sympy.limit(exact_moment_expr(act, negative_slope).subs(beta, b), L, sympy.oo)


def conditional_step_expr() -> sympy.Eq:
    """E[||h_{k+1}||^2 | h_k] = ||h_k||^2 + alpha_L^2 ||sigma(h_k)||^2 (res1, iid; exact)."""
    h_k, s_k, h_next = sympy.symbols(r"\|h_k\|^2 \|\sigma(h_k)\|^2 \|h_{k+1}\|^2", positive=True)
    cond = sympy.Function(r"\mathbb{E}_k")
    return sympy.Eq(cond(h_next), h_k + alpha**2 * s_k)


def first_layer_moment(cell: Cell) -> sympy.Expr:
    """E ||h_1||^2 / ||h_0||^2 = 1 + alpha_L^2 F for res1 / linear with iid weights: exact.

    F = E ||sigma(h_0)||^2 / ||h_0||^2 (`theory.inputs.input_factor`): 1/2 for relu, so the
    first layer's factor is exactly 1 + alpha_L^2 / 2. Iterating it is not exact (the state's
    positive fraction drifts); see `width_limit_moment`.
    """
    if cell.block not in ("res1", "linear") or not iid_like(cell) or cell.stepper != "euler":
        raise NotCovered(f"{cell.label()}: the exact first-layer step is encoded for res1 and "
                         "linear with iid weights and the Euler stepper")
    if not input_factor_is_exact(cell):
        raise NotCovered(f"{cell.label()}: with an input matrix and a non-homogeneous sigma the "
                         "factor E||sigma(h_0)||^2/||h_0||^2 is only known at large width")
    a2 = sympy.Integer(cell.depth) ** (-2 * exact(cell.beta, "beta"))
    return 1 + a2 * input_factor(cell)


def width_limit_recursion_expr(activation: str = "tanh",
                               negative_slope: float | sympy.Expr = 0.01) -> sympy.Eq:
    """q_{k+1} = q_k + alpha_L^2 E[sigma(sqrt(q_k) Z)^2]: the width-limit recursion of q_k = ||h_k||^2/d.

    Derived here (docs/theory.md §4.2): at large width the coordinates of W h_k (res3) or of h_k itself
    (res1: h_{k+1} - h_k = alpha V sigma(h_k) is Gaussian given h_k, independent of h_k, so
    Gaussian coordinates stay Gaussian) are N(0, q_k) and ||sigma(.)||^2 / d concentrates.
    Status 'asymptotic' (large width); for homogeneous sigma it gives (1 + c alpha^2)^L.
    """
    check_activation(activation)
    q_next = sympy.Symbol("q_{k+1}", positive=True)
    q_k = sympy.Symbol("q_k", positive=True)
    zsym = sympy.Symbol("Z")
    if activation in HOMOGENEOUS_ACTIVATIONS:
        rhs = q_k * (1 + c_sigma(activation, negative_slope) * alpha**2)
    else:
        sigma = sympy.Function(r"\sigma")
        rhs = q_k + alpha**2 * sympy.Function(r"\mathbb{E}")(sigma(sympy.sqrt(q_k) * zsym) ** 2)
    return sympy.Eq(q_next, rhs.subs(q, q_k))


def width_limit_moment(cell: Cell) -> sympy.Expr:
    """q_L / q_0 from the width-limit recursion (status 'asymptotic', iid weights, any block).

    Homogeneous sigma: (1 + c_sigma alpha_L^2)^L (exact for res3, an approximation for res1
    relu, where finite widths exceed it). tanh, gelu: the recursion iterated numerically from
    q_0 = `input_variance(cell)` with a 300-node Gauss-Hermite rule; a sympy Float.
    """
    require_euler_residual(cell)
    if not iid_like(cell):
        raise NotCovered(f"{cell.label()}: the width-limit recursion needs independent layers")
    a2 = sympy.Integer(cell.depth) ** (-2 * exact(cell.beta, "beta"))
    act = activation_of(cell)
    if is_homogeneous(cell):
        return sympy.Pow(1 + c_sigma(act, slope_of(cell)) * a2, cell.depth, evaluate=False)
    x, w = _gauss_hermite()
    f = _numeric(act)
    step = float(a2)
    q0 = qk = input_variance(cell)
    for _ in range(cell.depth):
        qk = qk + step * float(w @ f(math.sqrt(qk) * x) ** 2)
        if not np.isfinite(qk):
            break
    return sympy.Float(qk / q0, 15)


def exact_deviation_slope(cell: Cell, depths: list[int] | tuple[int, ...]) -> float:
    """Least-squares slope of 1/2 log E||h_L - h_0||^2/||h_0||^2 (the exact law) against log L.

    An exact prediction for the root-mean-square deviation over the given depths; as L -> oo it
    tends to 1/2 - beta for beta > 1/2 (docs/theory.md §4.5). Evaluated in float64 through log1p/expm1.
    """
    if len(set(depths)) < 2:
        raise ValueError(f"depths={list(depths)!r} is not allowed: expected two distinct depths")
    _exact_law_parts(cell)  # scope check
    c = float(c_sigma(activation_of(cell), slope_of(cell)))
    x = np.log(np.asarray(depths, dtype=float))
    depth = np.exp(x)
    y = 0.5 * np.log(np.expm1(depth * np.log1p(c * depth ** (-2.0 * cell.beta))))
    xc = x - x.mean()
    return float(xc @ (y - y.mean()) / (xc @ xc))
