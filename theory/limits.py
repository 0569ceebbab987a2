"""The limit object of a cell as L -> oo, per regime, as a printable sympy equation.

- identity regime: h_L -> h_0;
- explode regime: log(||h_L|| / ||h_0||) -> oo (no limit object);
- iid at beta = 1/2: a neural SDE dH_t = diffusion dB_t on t in [0, 1] (theorem for res1 with
  Gaussian weights, Hayou; the res3 coefficient is derived here, asymptotic);
- smooth, shared, fbm at beta = 1: the neural ODE dH/dt = V(t) sigma(W(t) H) on [0, 1] (theorem
  for Lipschitz weight paths, asymptotic for fbm's Hölder-H ones; that beta_c = 1 is the boundary
  is a conjecture).
For fgn with H != 1/2 at beta = beta_c no limit object is derived: `NotCovered`.

antisym (identity activation; `theory.antisym`):
- iid, no damping, beta = 1/2: the SDE dH = -m2 H dt + dW_t H on [0, 1], dW an antisymmetric
  Brownian matrix with E dW^T dW = s2 I dt and m2 = 0 (euler), s2/4 (heun), s2/2 (rk4): drift and
  diffusion matched to the exact order-alpha^2 moments (status 'asymptotic');
- iid with damping, beta = 1: the noise averages out and dH/dt = -gamma H ('asymptotic');
- shared or smooth weights, beta = 1: the ODE dH/dt = (S(t) - gamma I) H, the limit of every
  consistent Runge-Kutta method (theorem; Ascher 2008, Haber & Ruthotto 2017);
- inside the non-trivial band below beta_c the state keeps rotating (or collapses): NotCovered.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy
from sympy.printing.latex import LatexPrinter

from sim.cell import Cell
from theory import antisym
from theory.activations import c_sigma
from theory.critical import regime
from theory.scope import CONTINUOUS_INITS, NotCovered, activation_of, iid_like, is_homogeneous, slope_of
from theory.symbols import L, d, exact
from theory.width import norm_regime, width_rule_applies

MARION = "Marion, Fermanian, Biau, Vert, JMLR 2025"
STABILITY_SOURCE = "Haber & Ruthotto 2017; Ascher 2008"


class Norm(sympy.Function):
    """The Euclidean norm ||x||, printed as such in LaTeX."""

    nargs = 1

    def _latex(self, printer: LatexPrinter, exp: str | None = None) -> str:
        body = rf"\left\| {printer._print(self.args[0])} \right\|"
        return f"{body}^{{{exp}}}" if exp else body


@dataclass(frozen=True)
class LimitObject:
    """What the network becomes as L -> oo: kind, equation, and its drift / diffusion if any."""

    regime: str
    kind: str  # 'identity', 'explosion', 'neural SDE' or 'neural ODE'
    status: str
    source: str
    equation: sympy.Eq
    drift: sympy.Expr | None = None
    diffusion: sympy.Expr | None = None
    horizon: sympy.Expr | None = None

    def latex(self) -> str:
        """The equation in LaTeX."""
        return sympy.latex(self.equation)


_t = sympy.Symbol("t", nonnegative=True)
_H = sympy.Symbol("H_t", commutative=False)
_V = sympy.Symbol("V(t)", commutative=False)
_W = sympy.Symbol("W(t)", commutative=False)
_sigma = sympy.Function(r"\sigma")


HAYOU = "Hayou, TMLR 2023 (arXiv 2210.00688)"


def _status(cell: Cell, regime_name: str) -> tuple[str, str]:
    """What is proved about the cell's limit, by whom (docs/theory.md §10 says what each source proves)."""
    if iid_like(cell):
        if regime_name != "non-trivial":
            return "theorem", MARION
        if cell.block in ("res1", "linear") and cell.dist == "gaussian":
            return "theorem", f"{HAYOU}; {MARION}"
        return "asymptotic", "derived here, docs/theory.md §4.3 (diffusion approximation)"
    if cell.init in CONTINUOUS_INITS:
        if regime_name == "non-trivial":
            if cell.init == "fbm":  # Hölder-H, not Lipschitz, in t: Euler still converges, at rate L^-H
                return "asymptotic", "derived here, docs/theory.md §4.4"
            return "theorem", f"{MARION}; Chen et al., NeurIPS 2018"
        return "conjecture", "derived here, docs/theory.md §4.4 (beta_c = 1 boundary)"
    return "conjecture", "derived here, docs/theory.md §4.4"


def _sde_diffusion(cell: Cell) -> sympy.Expr:
    h = sympy.Symbol("H_t")
    act = activation_of(cell)
    if cell.block == "res3":
        if is_homogeneous(cell):
            return sympy.sqrt(c_sigma(act, slope_of(cell)) / d) * Norm(h)
        zsym = sympy.Symbol("Z")
        return sympy.sqrt(sympy.Function(r"\mathbb{E}")(_sigma(Norm(h) * zsym / sympy.sqrt(d)) ** 2))
    if act == "identity":
        return Norm(h) / sympy.sqrt(d)
    return Norm(_sigma(h)) / sympy.sqrt(d)


def _antisym_limit(cell: Cell, name: str) -> LimitObject:
    h_l, h_0 = sympy.Symbol("h_L"), sympy.Symbol("h_0")
    family = antisym.antisym_family(cell)
    # the regime itself is derived here; smooth weights only by the locally-constant argument
    status, source = ("conjecture" if family == "smooth" else "asymptotic"), "derived here"
    if name == "identity":
        return LimitObject(name, "identity", status, source, sympy.Eq(sympy.Limit(h_l, L, sympy.oo), h_0))
    if name == "explode":
        growth = sympy.log(Norm(h_l) / Norm(h_0))
        return LimitObject(name, "explosion", status, source,
                           sympy.Eq(sympy.Limit(growth, L, sympy.oo), sympy.oo))
    beta_value = exact(cell.beta, "beta")
    if beta_value != antisym.critical_beta(cell):
        raise NotCovered(f"{cell.label()}: inside the non-trivial band below beta_c the state keeps "
                         "rotating by a diverging angle (or collapses to 0): no limit object")
    damping = exact(cell.damping, "damping")
    h = sympy.Symbol("H_t", commutative=False)
    if family == "iid" and damping == 0:
        drift = -antisym.mean_drift(cell.stepper).subs(d, cell.width) * h
        dh, dw = sympy.Symbol("dH_t"), sympy.Symbol("dW_t", commutative=False)
        equation = sympy.Eq(dh, drift * sympy.Symbol("dt") + dw * h)
        return LimitObject(name, "neural SDE", "asymptotic", "derived here", equation, drift=drift,
                           diffusion=dw * h, horizon=sympy.Integer(1))
    lhs = sympy.Symbol(r"\frac{d H_t}{d t}")
    if family == "iid":
        field = -damping * h
        return LimitObject(name, "neural ODE", "asymptotic", "derived here", sympy.Eq(lhs, field),
                           drift=field, diffusion=sympy.Integer(0), horizon=sympy.Integer(1))
    field = (sympy.Symbol("S(t)", commutative=False) - damping) * h
    return LimitObject(name, "neural ODE", "theorem", STABILITY_SOURCE, sympy.Eq(lhs, field), drift=field,
                       diffusion=sympy.Integer(0), horizon=sympy.Integer(1))


def limit_object(cell: Cell) -> LimitObject:
    """The cell's limit object as L -> oo (see the module docstring); NotCovered for fgn at beta_c."""
    name = regime(cell)
    if cell.block == "antisym":
        return _antisym_limit(cell, name)
    if width_rule_applies(cell) and norm_regime(cell) != "explode":
        raise NotCovered(f"{cell.label()}: at width d <= 2 the second moment explodes but the typical norm "
                         f"does not ({norm_regime(cell)}; iid-median-width, docs/theory.md §4.9): no single "
                         "limit object describes both")
    status, source = _status(cell, name)
    h_l, h_0 = sympy.Symbol("h_L"), sympy.Symbol("h_0")
    if name == "identity":
        return LimitObject(name, "identity", status, source,
                           sympy.Eq(sympy.Limit(h_l, L, sympy.oo), h_0))
    if name == "explode":
        growth = sympy.log(Norm(h_l) / Norm(h_0))
        return LimitObject(name, "explosion", status, source,
                           sympy.Eq(sympy.Limit(growth, L, sympy.oo), sympy.oo))
    if iid_like(cell):
        diffusion = _sde_diffusion(cell)
        dh, db = sympy.Symbol("dH_t"), sympy.Symbol("dB_t")
        return LimitObject(name, "neural SDE", status, source, sympy.Eq(dh, diffusion * db),
                           drift=sympy.Integer(0), diffusion=diffusion, horizon=sympy.Integer(1))
    if cell.init in CONTINUOUS_INITS:
        act = activation_of(cell)
        if cell.block == "res3":
            field = _V * _sigma(_W * _H)
        elif act == "identity":
            field = _V * _H
        else:
            field = _V * _sigma(_H)
        lhs = sympy.Symbol(r"\frac{d H_t}{d t}")
        return LimitObject(name, "neural ODE", status, source, sympy.Eq(lhs, field),
                           drift=field, diffusion=sympy.Integer(0), horizon=sympy.Integer(1))
    raise NotCovered(f"{cell.label()}: no limit object is derived for fgn weights with H != 1/2 "
                     "at beta = beta_c (docs/theory.md gives only the critical exponent there)")
