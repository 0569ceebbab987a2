"""Everything the theory predicts for one cell, each value with its status and claim.

`predictions(cell, depths)` is what `python -m theory` prints for a cell and what a checker can
consume: one `Prediction` per quantity, only for the laws that cover the cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy

from sim.cell import Cell
from theory import antisym
from theory.backward import (
    backward_critical_beta,
    backward_finite_depth_deviation,
    backward_finite_depth_slope,
    backward_finite_depth_threshold,
    backward_law_valid,
    backward_threshold_valid,
)
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
from theory.width import median_finite_depth_slope, median_regime, width_rule_applies

# Which claim backs each headline prediction, in order of preference.
_ANTISYM_THRESHOLDS = tuple(f"antisym-{init}-{stepper}" for init in antisym.ANTISYM_INITS
                            for stepper in ("euler", "heun", "rk4")) + ("antisym-damped", "antisym-damped-smooth")
_CRITICAL_CLAIMS = ("iid-trichotomy", "fgn-res3-mean", "fgn-res3-odd", "fgn-res1",
                    "smooth-critical-beta", *_ANTISYM_THRESHOLDS)
# The status of a prediction no claim covers: an explicit answer, never a silent default.
NOT_COVERED = "not covered"
_SLOPE_CLAIMS = ("iid-median-slope", "res1-rough-deviation-slope", "deviation-slope", *_ANTISYM_THRESHOLDS)


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
    """beta_c, regime and depth exponent of the cell, with the status of the claim behind them; under
    the small-width rule (docs/theory.md §4.9) the medians' regimes instead of the median slope."""
    cell_claims = {c.name: c for c in claims_for(cell)}
    name, status = _first(cell_claims, _CRITICAL_CLAIMS)
    out = [Prediction("beta_c", critical_beta(cell), status, name),
           Prediction("regime", sympy.Symbol(regime(cell)), status, name,
                      "of the second moment" if width_rule_applies(cell) else "")]
    if width_rule_applies(cell):
        return out + [
            Prediction("regime of median ||h_L|| (fwd)", sympy.Symbol(median_regime(cell, "fwd")), "asymptotic",
                       "iid-median-width"),
            Prediction("regime of median ||h_L - h_0|| (diff)", sympy.Symbol(median_regime(cell, "diff")),
                       "asymptotic", "iid-median-width", "the median deviation tends to a constant"
                       if median_regime(cell, "diff") == "flat" else ""),
        ]
    slope_name, slope_status = _first(cell_claims, _SLOPE_CLAIMS)
    value = depth_exponent(cell)
    note = "unbounded" if value == sympy.oo else ""
    out.append(Prediction("depth exponent", value, slope_status, slope_name, note))
    return out


def _limit(cell: Cell, fallback: str) -> Prediction:
    try:
        limit = limit_object(cell)
    except NotCovered as exc:
        return Prediction("limit object", sympy.Symbol("none"), NOT_COVERED, "-", str(exc))
    backing = {"neural SDE": "res3-neural-sde" if cell.block == "res3" else "iid-neural-sde",
               "neural ODE": "fbm-neural-ode" if cell.init == "fbm" else "smooth-neural-ode"}
    if cell.block == "antisym":
        backing = {"neural SDE": "antisym-iid-sde", "neural ODE": "antisym-neural-ode"}
        if limit.status != "theorem" and limit.kind == "neural ODE":
            backing = {"neural ODE": "antisym-damped"}
    return Prediction(f"limit object ({limit.kind})", limit.equation, limit.status,
                      backing.get(limit.kind, fallback), limit.source)


def _finite_depth(cell: Cell, depths: Sequence[int] | None, claim_name: str, status: str) -> list[Prediction]:
    """The antisym finite-depth deviation (the most complete formula), slope and threshold."""
    out = []
    try:
        value = finite_depth_deviation(cell)
    except NotCovered as exc:
        out.append(Prediction("finite-depth E||h_L-h_0||^2/||h_0||^2", sympy.Symbol("none"), NOT_COVERED, "-",
                              str(exc)))
    else:
        out.append(Prediction("finite-depth E||h_L-h_0||^2/||h_0||^2", sympy.Float(value, 6), status,
                              claim_name, f"at L={cell.depth}"))
    if depths:
        listed = ",".join(map(str, depths))
        try:
            out.append(Prediction("finite-depth slope", sympy.Float(finite_depth_slope(cell, depths), 6),
                                  status, claim_name, f"over depths {listed}"))
        except NotCovered as exc:
            out.append(Prediction("finite-depth slope", sympy.Symbol("none"), NOT_COVERED, "-", str(exc)))
        out.append(Prediction("finite-depth threshold", sympy.Float(finite_depth_threshold(cell, depths), 6),
                              "asymptotic", "finite-depth-threshold", f"over depths {listed}"))
    return out


def _antisym_predictions(cell: Cell, names: set[str], depths: Sequence[int] | None) -> list[Prediction]:
    out = headline(cell)
    beta_e = antisym.explosion_beta(cell)
    out.append(Prediction("beta_e (explosion below)", sympy.Symbol("none") if beta_e is None else beta_e,
                          out[0].status, out[0].claim, "no beta > 0 explodes" if beta_e is None else ""))
    if "antisym-exact-moment" in names:
        out += [Prediction("E||h_L||^2/||h_0||^2", second_moment(cell), "exact", "antisym-exact-moment"),
                Prediction("E||h_L-h_0||^2/||h_0||^2", deviation_second_moment(cell), "exact",
                           "antisym-exact-deviation")]
    out.append(_limit(cell, out[0].claim))
    backing = next((n for n in ("antisym-exact-deviation", "antisym-iid-deviation", "antisym-shared-deviation")
                    if n in names), "antisym-leading-deviation")
    return out + _finite_depth(cell, depths, backing, "exact" if backing == "antisym-exact-deviation" else "asymptotic")


def predictions(cell: Cell, depths: Sequence[int] | None = None) -> list[Prediction]:
    """Every prediction that applies to the cell (headline first, then the laws)."""
    names = {c.name for c in claims_for(cell)}
    if cell.block == "antisym":
        antisym.require_covered(cell)
        return _antisym_predictions(cell, names, depths)
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
            listed = ",".join(map(str, depths))
            out.append(Prediction("exact RMS-deviation slope", sympy.Float(
                exact_deviation_slope(cell, list(depths)), 6), "exact", "iid-deviation-slope",
                f"over depths {listed}"))
            out.append(Prediction("finite-depth slope of median log ||h_L|| (fwd)", sympy.Float(
                median_finite_depth_slope(cell, list(depths), "fwd"), 6), "asymptotic", "iid-median-width",
                f"over depths {listed}"))
    if "res1-first-layer" in names:
        out.append(Prediction("E||h_1||^2/||h_0||^2", first_layer_moment(cell), "exact",
                              "res1-first-layer"))
    if "width-limit-recursion" in names and "iid-exact-moment" not in names:
        out.append(Prediction("E||h_L||^2/||h_0||^2 (large width)", width_limit_moment(cell),
                              "asymptotic", "width-limit-recursion"))
    out.append(_limit(cell, out[0].claim))
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
    return out + _backward(cell, names, depths)


_OUTSIDE = "outside the law's validity: the forward mean square exceeds 1 at a simulated depth"


def _backward(cell: Cell, names: set[str], depths: Sequence[int] | None) -> list[Prediction]:
    """The gradient's laws (docs/theory.md §4.6, §4.10): exact moments, the backward finite-depth law and
    threshold beside the forward one, and its large-L reading."""
    out = []
    if "backward-moment" in names:
        out += [Prediction("E||p_0||^2/||p_L||^2", second_moment(cell), "exact", "backward-moment"),
                Prediction("E||p_0-p_L||^2/||p_L||^2", deviation_second_moment(cell), "exact",
                           "backward-exact-deviation")]
    law = next((n for n in ("finite-depth-backward-res3", "finite-depth-backward-res1") if n in names), None)
    if law is None:
        return out + [Prediction("backward finite-depth threshold", sympy.Symbol("none"), NOT_COVERED, "-",
                                 "the backward law is derived for stationary weights; bwd_diff borrows the "
                                 "forward law")]
    out.append(Prediction("backward finite-depth E||p_0-p_L||^2/||p_L||^2",
                          sympy.Float(backward_finite_depth_deviation(cell), 6), "asymptotic", law,
                          f"order alpha^2, at L={cell.depth}"))
    if "hermite-backward-threshold" in names:
        out += [Prediction("backward beta_c (large L)", backward_critical_beta(cell), "conjecture",
                           "hermite-backward-threshold", f"width {cell.width}"),
                Prediction("backward beta_c (large L, infinite width)",
                           backward_critical_beta(cell, infinite_width=True), "conjecture",
                           "hermite-backward-threshold")]
    if depths:
        listed = ",".join(map(str, depths))
        slope_note = f"over depths {listed}" + ("" if backward_law_valid(cell, depths) else f"; {_OUTSIDE}")
        threshold_note = f"over depths {listed}" + ("" if backward_threshold_valid(cell, depths) else f"; {_OUTSIDE}")
        out += [
            Prediction("backward finite-depth slope", sympy.Float(backward_finite_depth_slope(cell, depths), 6),
                       "asymptotic", "finite-depth-backward-threshold", slope_note),
            Prediction("backward finite-depth threshold",
                       sympy.Float(backward_finite_depth_threshold(cell, depths), 6), "asymptotic",
                       "finite-depth-backward-threshold", threshold_note),
        ]
    return out
