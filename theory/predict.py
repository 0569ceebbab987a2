"""Everything the theory predicts for one cell, each value with its status and claim.

`predictions(cell, depths)` is what `python -m theory` prints for a cell and what a checker can
consume: one `Prediction` per quantity, only for the laws that cover the cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy

from sim.cell import Cell
from theory.claims import claims_for
from theory.critical import critical_beta, depth_exponent, regime
from theory.finite_depth import (
    finite_depth_deviation,
    finite_depth_slope,
    finite_depth_threshold,
)
from theory.limits import limit_object
from theory.lognormal import lognormal_law
from theory.moments import (
    deviation_second_moment,
    exact_deviation_slope,
    first_layer_moment,
    moment_limit,
    second_moment,
    width_limit_moment,
)
from theory.scope import NotCovered, activation_of, slope_of

# Which claim backs each headline prediction, in order of preference.
_CRITICAL_CLAIMS = ("iid-trichotomy", "fgn-res3-mean", "fgn-res3-odd", "fgn-res1",
                    "smooth-critical-beta")
# The status of a prediction no claim covers: an explicit answer, never a silent default.
NOT_COVERED = "not covered"
_SLOPE_CLAIMS = ("iid-deviation-slope", "res1-rough-deviation-slope", "deviation-slope")


@dataclass(frozen=True)
class Prediction:
    """One predicted quantity for a cell: value (sympy), status, and the claim it comes from."""

    name: str
    value: sympy.Basic
    status: str
    claim: str
    note: str = ""


def _first(cell_claims: dict, names: Sequence[str]) -> tuple[str, str]:
    for name in names:
        if name in cell_claims:
            return name, cell_claims[name].status
    raise NotCovered("no claim covers this prediction")


def headline(cell: Cell) -> list[Prediction]:
    """beta_c, regime and depth exponent of the cell, with the status of the claim behind them."""
    cell_claims = {c.name: c for c in claims_for(cell)}
    name, status = _first(cell_claims, _CRITICAL_CLAIMS)
    out = [Prediction("beta_c", critical_beta(cell), status, name),
           Prediction("regime", sympy.Symbol(regime(cell)), status, name)]
    slope_name, slope_status = _first(cell_claims, _SLOPE_CLAIMS)
    value = depth_exponent(cell)
    note = "unbounded" if value == sympy.oo else ""
    out.append(Prediction("depth exponent", value, slope_status, slope_name, note))
    return out


def predictions(cell: Cell, depths: Sequence[int] | None = None) -> list[Prediction]:
    """Every prediction that applies to the cell (headline first, then the laws)."""
    names = {c.name for c in claims_for(cell)}
    out = headline(cell)
    if "iid-exact-moment" in names:
        out += [
            Prediction("E||h_L||^2/||h_0||^2", second_moment(cell), "exact", "iid-exact-moment"),
            Prediction("E||h_L-h_0||^2/||h_0||^2", deviation_second_moment(cell), "exact",
                       "iid-exact-deviation"),
            Prediction("limit L->oo of E||h_L||^2/||h_0||^2",
                       moment_limit("res3" if cell.block == "res3" else "linear",
                                    activation_of(cell), cell.beta, slope_of(cell)),
                       "exact", "iid-moment-limit"),
        ]
        mean, var = lognormal_law(cell)
        out += [Prediction("mean log(||h_L||^2/||h_0||^2)", mean, "asymptotic", "critical-lognormal"),
                Prediction("var log(||h_L||^2/||h_0||^2)", var, "asymptotic", "critical-lognormal")]
        if depths:
            out.append(Prediction("exact RMS-deviation slope", sympy.Float(
                exact_deviation_slope(cell, list(depths)), 6), "exact", "iid-deviation-slope",
                f"over depths {','.join(map(str, depths))}"))
    if "res1-first-layer" in names:
        out.append(Prediction("E||h_1||^2/||h_0||^2", first_layer_moment(cell), "exact",
                              "res1-first-layer"))
    if "width-limit-recursion" in names and "iid-exact-moment" not in names:
        out.append(Prediction("E||h_L||^2/||h_0||^2 (large width)", width_limit_moment(cell),
                              "asymptotic", "width-limit-recursion"))
    try:
        limit = limit_object(cell)
        backing = {"neural SDE": "iid-neural-sde", "neural ODE": "smooth-neural-ode"}
        out.append(Prediction(f"limit object ({limit.kind})", limit.equation, limit.status,
                              backing.get(limit.kind, out[0].claim), limit.source))
    except NotCovered as exc:
        out.append(Prediction("limit object", sympy.Symbol("none"), NOT_COVERED, "-", str(exc)))
    finite = next(n for n in ("finite-depth-res3", "finite-depth-res1", "finite-depth-fbm")
                  if n in names)
    out.append(Prediction("finite-depth E||h_L-h_0||^2/||h_0||^2",
                          sympy.Float(finite_depth_deviation(cell), 6), "asymptotic", finite,
                          f"order alpha^2, at L={cell.depth}"))
    if depths:
        listed = ",".join(map(str, depths))
        out += [
            Prediction("finite-depth slope", sympy.Float(finite_depth_slope(cell, depths), 6),
                       "asymptotic", "finite-depth-threshold", f"over depths {listed}"),
            Prediction("finite-depth threshold", sympy.Float(finite_depth_threshold(cell, depths), 6),
                       "asymptotic", "finite-depth-threshold", f"over depths {listed}"),
        ]
    return out
