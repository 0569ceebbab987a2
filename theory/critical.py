"""Critical exponent, regime and depth exponent of a cell (docs/theory.md §4.1, §4.4, §4.5).

The regime is decided by exact sympy comparison of beta (an exact rational, see
`theory.symbols.exact`) with beta_c: beta = 0.5 against beta_c = 1/2 is exactly 'non-trivial'.
Residual blocks are covered with the Euler stepper only; antisym cells are answered by
`theory.antisym` (a band of non-trivial betas below beta_c where the norm does not explode).
"""

from __future__ import annotations

from functools import cache

import sympy

from sim.cell import ACTIVATIONS, BLOCKS, INITS, STEPPERS, Cell
from theory import antisym
from theory.activations import hermite_order
from theory.scope import CONTINUOUS_INITS, RESIDUAL_BLOCKS, NotCovered, activation_of, require_euler_residual
from theory.symbols import H, beta, exact

REGIMES = ("explode", "identity", "non-trivial")


@cache  # building sympy.Max costs ~3 ms, and a grid asks once per cell
def critical_beta_expr(block: str, activation: str, init: str,
                       negative_slope: float | sympy.Expr = 0.01, *, stepper: str = "euler",
                       damping: float | sympy.Expr = 0) -> sympy.Expr:
    """beta_c as a sympy expression in the Hurst symbol `H` (constant for iid, smooth, shared, fbm).

    Residual blocks (res1, res3, linear) with the Euler stepper; any other stepper raises NotCovered.
    antisym with the identity activation: the deviation threshold of `theory.antisym` (1/2 for iid
    without damping, 1 for shared, smooth or damped; the same for every stepper), NotCovered for
    other activations and for fgn / fbm.

    - iid: 1/2 (theorem, docs/theory.md §4.1).
    - smooth, shared, fbm: 1 (the ResNet is an Euler scheme of a neural ODE; docs/theory.md §4.4).
    - fgn: Max(1/2, 1 - (n + 1)(1 - H)) where n is the index of the first non-zero Hermite
      coefficient of the function whose mean over the weights drives the sum (docs/theory.md §4.8):
      res3: n = 0 when E sigma(Z) != 0 (relu, leaky a < 1, gelu) giving Max(1/2, H), and n = 1
      for odd sigma (tanh, identity, leaky a = 1) giving Max(1/2, 2H - 1).
      res1 and linear: V_k sigma(h_0) has no W to average over, sigma(h_0) != 0 for a random
      input, so sum_{j,k} gamma_H(j - k) = L^(2H) drives it: Max(1/2, H) for every sigma.
    """
    if block not in BLOCKS:
        raise ValueError(f"block={block!r} is not allowed: one of {', '.join(BLOCKS)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is not allowed: one of {', '.join(ACTIVATIONS)}")
    if init not in INITS:
        raise ValueError(f"init={init!r} is not allowed: one of {', '.join(INITS)}")
    if stepper not in STEPPERS:
        raise ValueError(f"stepper={stepper!r} is not allowed: one of {', '.join(STEPPERS)}")
    half = sympy.Rational(1, 2)
    if block == "antisym":
        if activation != "identity" or init not in antisym.ANTISYM_INITS:
            raise NotCovered(f"block 'antisym' with activation={activation!r}, init={init!r}: thresholds "
                             "are derived for the identity activation with iid, shared or smooth weights")
        return half if init == "iid" and exact(damping, "damping") == 0 else sympy.Integer(1)
    if block not in RESIDUAL_BLOCKS or stepper != "euler":
        raise NotCovered(f"block={block!r} with stepper={stepper!r}: beta_c is derived for the Euler "
                         "step of the residual blocks")
    if init == "iid":
        return half
    if init in CONTINUOUS_INITS:
        return sympy.Integer(1)
    if block in ("res1", "linear"):
        return sympy.Max(half, H)
    order = hermite_order(activation, negative_slope)
    return sympy.Max(half, 1 - (order + 1) * (1 - H))


def critical_beta(cell: Cell) -> sympy.Expr:
    """beta_c of the cell, an exact sympy number (H substituted as an exact rational)."""
    if cell.block == "antisym":
        return antisym.critical_beta(cell)
    require_euler_residual(cell)
    hurst = cell.hurst if cell.init in ("fgn", "fbm") else None
    return _substituted(cell.block, activation_of(cell), cell.init, cell.negative_slope, hurst)


@cache
def _substituted(block: str, activation: str, init: str, negative_slope: float, hurst: float | None) -> sympy.Expr:
    expr = critical_beta_expr(block, activation, init, negative_slope)
    return expr if hurst is None else expr.subs(H, exact(hurst, "hurst"))


def _compare(cell: Cell) -> int:
    """sign(beta - beta_c), decided exactly."""
    difference = exact(cell.beta, "beta") - critical_beta(cell)
    if difference.is_zero:
        return 0
    if difference.is_positive:
        return 1
    if difference.is_negative:
        return -1
    raise NotCovered(f"cannot decide the sign of beta - beta_c = {difference} exactly for {cell.label()}")


def regime(cell: Cell) -> str:
    """'explode' (beta < beta_c), 'identity' (beta > beta_c) or 'non-trivial' (beta = beta_c).

    antisym cells: 'non-trivial' on the whole band beta_e <= beta <= beta_c (`theory.antisym.regime`).
    """
    if cell.block == "antisym":
        return antisym.regime(cell)
    return {-1: "explode", 0: "non-trivial", 1: "identity"}[_compare(cell)]


def rough_res1(cell: Cell) -> bool:
    """res1 / linear with fgn of H < 1/2: the first-order deviation L^(H - beta) is not the
    dominant one asymptotically (see `depth_exponent`)."""
    return (cell.block in ("res1", "linear") and cell.stepper == "euler" and cell.init == "fgn"
            and exact(cell.hurst, "hurst") < sympy.Rational(1, 2))


def depth_exponent(cell: Cell) -> sympy.Expr:
    """Predicted large-L log-log slope of the median ||h_L - h_0|| / ||h_0|| against L (docs/theory.md §4.5).

    identity regime: beta_c - beta; 'non-trivial': 0; 'explode': sympy.oo, meaning unbounded
    growth (the deviation grows faster than any fixed power can describe; no slope is predicted).
    One refinement, derived from docs/theory.md §4.8: for res1 / linear with fgn of H < 1/2 the first-order
    deviation scales as L^(H - beta) while the second-order drift, of relative size alpha_L^2 L / d,
    scales as L^(1 - 2 beta); the larger wins, so the slope is Max(H - beta, 1 - 2 beta), which
    is 1 - 2 beta (not 1/2 - beta) just above beta_c = 1/2.
    antisym cells: `theory.antisym.depth_exponent` (0 on the whole non-trivial band).
    """
    if cell.block == "antisym":
        return antisym.depth_exponent(cell)
    side = _compare(cell)
    if side < 0:
        return sympy.oo
    if side == 0:
        return sympy.Integer(0)
    b = exact(cell.beta, "beta")
    if rough_res1(cell):
        return sympy.Max(exact(cell.hurst, "hurst") - b, 1 - 2 * b)
    return critical_beta(cell) - b


def depth_exponent_expr(cell: Cell) -> sympy.Expr:
    """The identity-regime slope as an expression in the symbol `beta` (for the claims)."""
    if cell.block == "antisym":
        return antisym.critical_beta(cell) - beta
    if rough_res1(cell):
        return sympy.Max(exact(cell.hurst, "hurst") - beta, 1 - 2 * beta)
    return critical_beta(cell) - beta
