"""Which cells a statement covers: the shared predicates, and the `NotCovered` answer.

A theory function asked about a cell that none of its claims covers raises `NotCovered` (a
`ValueError`) with the reason, instead of returning a default that would look like a prediction.
"""

from __future__ import annotations

import sympy

from sim.cell import Cell
from theory.symbols import exact

HOMOGENEOUS_ACTIVATIONS = ("relu", "leaky_relu", "identity")
# The blocks of docs/theory.md §4, whose claims are derived for the Euler step h + alpha f(h).
RESIDUAL_BLOCKS = ("res1", "res3", "linear")
# Inits whose weights are continuous functions of t = k / L: the ResNet discretizes an ODE.
CONTINUOUS_INITS = ("smooth", "shared", "fbm")
STATIONARY_INITS = ("iid", "fgn", "smooth", "shared")


class NotCovered(ValueError):
    """No encoded claim covers this cell (or this question about it); the message says why."""


def euler_residual(cell: Cell) -> bool:
    """True for the cells docs/theory.md §4 is about: a residual block (res1, res3, linear) with the
    Euler stepper. Heun and RK4 steps of these blocks, and the antisym block, are other networks."""
    return cell.block in RESIDUAL_BLOCKS and cell.stepper == "euler"


def require_euler_residual(cell: Cell) -> None:
    """NotCovered unless `euler_residual(cell)` (antisym cells are handled by `theory.antisym`)."""
    if cell.block not in RESIDUAL_BLOCKS:
        raise NotCovered(f"{cell.label()}: the docs/theory.md §4 laws are derived for res1, res3 and linear blocks, "
                         f"not {cell.block!r}")
    if cell.stepper != "euler":
        raise NotCovered(f"{cell.label()}: the docs/theory.md §4 laws are derived for the Euler step h + alpha f(h); "
                         f"nothing is derived for stepper={cell.stepper!r} with block {cell.block!r}")


def activation_of(cell: Cell) -> str:
    """The activation the block actually applies: 'identity' for the 'linear' block."""
    return "identity" if cell.block == "linear" else cell.activation


def slope_of(cell: Cell) -> sympy.Expr:
    """The exact negative slope a of the effective activation (0 relu, 1 identity, a leaky)."""
    act = activation_of(cell)
    if act == "leaky_relu":
        return exact(cell.negative_slope, "negative_slope")
    return sympy.Integer(1) if act == "identity" else sympy.Integer(0)


def iid_like(cell: Cell) -> bool:
    """True for iid weights, and for fgn with H = 1/2 exactly (the same law: white noise)."""
    if cell.init == "iid":
        return True
    return cell.init == "fgn" and exact(cell.hurst, "hurst") == sympy.Rational(1, 2)


def is_homogeneous(cell: Cell) -> bool:
    """True when the effective activation is positively homogeneous (relu, leaky, identity)."""
    return activation_of(cell) in HOMOGENEOUS_ACTIVATIONS


def residual_is_linear(cell: Cell) -> bool:
    """True for h + alpha V h: the 'linear' block, or 'res1' with the identity activation."""
    return cell.block in ("res1", "linear") and activation_of(cell) == "identity"


def exact_moment_applies(cell: Cell) -> bool:
    """Scope of docs/theory.md §4.2's exact law: iid weights, the Euler stepper, and res3 with homogeneous
    sigma or V h blocks.

    For res3 the law needs E||sigma(W h)||^2 = c ||h||^2, true for homogeneous sigma and any
    symmetric entry law. For h + alpha V h it holds with c = 1 since E||V h||^2 = ||h||^2.
    """
    if not iid_like(cell) or cell.stepper != "euler":
        return False
    return (cell.block == "res3" and is_homogeneous(cell)) or residual_is_linear(cell)
