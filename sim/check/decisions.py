"""The check's verdicts: the regime as built, the observed beta_c, theory's prediction for the measured
weight family, and one sentence that says it.

Every rule is `sim.grid.regimes`' (docs/decisions.md), called on the check's samples: per beta and
quantity (diff, bwd_diff) the depth slope of the median log deviation (`slope_for`: WLS with the
medians' standard errors and the misfit scale factor), the regime of its 95% interval (`classify`,
DELTA = 0.05), and the threshold where the slope crosses zero along beta with Fieller's interval
(`find_threshold`, the covariance of the slopes from the per-depth medians, which share their
networks across beta). beta = 0 is the model as built (alpha = 1), so the as-built regime is the
regime at beta = 0.

Theory: the measured family (sim.check.correlation) names a cell of the product, block res3 with the
user's blocks' activation when they are the product's own res3 blocks (mapping 'exact'), else relu
(mapping 'analogy': a transformer block is not res3, so the claim's status becomes a conjecture for
it). `theory` gives that cell's beta_c (asymptotic) and its finite-depth threshold over the depths
checked (sim.grid.predictions.Predictor), and `threshold_verdict` judges the observed interval
against them as the grid does. Theory's beta_c is the total exponent of the branch; when the
as-built branch already scales with depth (the first block's |f_0(h_0) − h_0| / |h_0| against L has a
95% interval excluding 0, slope −beta_0), the prediction for the extra L^-beta is beta_c − beta_0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.cell import Cell
from sim.check.correlation import Family
from sim.grid.predictions import Predictor
from sim.grid.regimes import (
    SLOPE_QUANTITIES,
    SlopeFit,
    classify,
    find_threshold,
    fit_slope,
    median_stat,
    regime_of_slope,
    slope_for,
    threshold_verdict,
)

# The claims that state beta_c for a res3 cell, in the order they are looked for.
BETA_C_CLAIMS = ("iid-trichotomy", "fgn-res3-mean", "fgn-res3-odd", "smooth-critical-beta")
# How far below 1 an observed interval may end and still be read as "near 1": finite-depth thresholds sit
# a little below their asymptotic value (docs/theory.md §4.8).
NEAR_ONE = 0.05


@dataclass(frozen=True)
class Draws:
    """The per-sample logs of one (depth, beta): the part of a stored cell that sim.grid.regimes
    reads (`logs[quantity]`, (samples,) float64, and the device, whose random stream pairs draws)."""

    logs: dict[str, np.ndarray]
    device: str


def series(samples: pd.DataFrame, device: str) -> dict[float, dict[int, Draws]]:
    """beta -> depth -> Draws, sorted, from check.csv rows (samples in index order)."""
    out: dict[float, dict[int, Draws]] = {}
    for (beta, depth), rows in samples.sort_values("sample").groupby(["beta", "depth"], sort=True):
        logs = {q: rows[q].to_numpy(dtype=np.float64) for q in ("fwd", "diff", "bwd", "bwd_diff")}
        out.setdefault(float(beta), {})[int(depth)] = Draws(logs, device)
    return out


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval (all None when there is none)."""

    value: float | None
    lo: float | None
    hi: float | None

    @classmethod
    def of(cls, fit: SlopeFit | None) -> Interval:
        return cls(None, None, None) if fit is None else cls(fit.slope, fit.lo, fit.hi)


def branch_exponent(samples: pd.DataFrame) -> Interval:
    """The depth slope of the as-built first step |h_1 − h_0| / |h_0| (beta = 0), with its interval:
    minus the exponent by which the user's own initialization scales a branch with depth."""
    rows = samples[samples["beta"] == 0.0]
    points = [(int(d), median_stat(g["first_step"].to_numpy(dtype=np.float64))) for d, g in rows.groupby("depth")]
    points = [(d, m) for d, m in points if m is not None]
    fit = fit_slope([d for d, _ in points], [m.median for _, m in points], [m.se for _, m in points])
    return Interval.of(fit)


@dataclass(frozen=True)
class TheoryView:
    """What theory says for the measured family (see the module docstring).

    asymptotic / finite_depth: the cell's beta_c and finite-depth threshold (total exponents);
    shift: beta_0 (0 unless the as-built branch scales with depth); predicted / predicted_finite:
    the thresholds for the check's extra L^-beta; claim, claim_status: the claim stating beta_c;
    mapping: 'exact' or 'analogy'; status: the claim's status, or 'conjecture' for an analogy.
    """

    init: str | None
    activation: str
    mapping: str
    claim: str | None
    claim_status: str | None
    status: str | None
    asymptotic: float | None
    finite_depth: float | None
    shift: float
    predicted: float | None
    predicted_finite: float | None
    cell: str | None

    def predicted_regime(self, beta: float) -> str | None:
        """Theory's regime at an extra scale L^-beta: beta against the predicted threshold."""
        if self.predicted is None:
            return None
        if abs(beta - self.predicted) <= 1e-9:
            return "non-trivial"
        return "explode" if beta < self.predicted else "identity"


def _claim(cell: Cell) -> tuple[str | None, str | None]:
    try:
        import theory

        found = {c.name: c.status for c in theory.claims_for(cell)}
    except Exception:  # theory is optional at run time: no claim named
        return None, None
    for name in BETA_C_CLAIMS:
        if name in found:
            return name, found[name]
    return None, None


def theory_view(family: Family, depths: Sequence[int], width: int, exact_activation: str | None,
                shift: Interval, predictor: Predictor | None = None) -> TheoryView:
    """Theory's thresholds for `family` over `depths`. exact_activation: the activation of the
    product's res3 blocks when the user's blocks are those (mapping 'exact'), else None."""
    activation = exact_activation or "relu"
    mapping = "exact" if exact_activation else "analogy"
    beta_0 = 0.0
    if shift.value is not None and shift.lo is not None and not (shift.lo <= 0.0 <= shift.hi):
        beta_0 = -shift.value
    if family.init is None:
        return TheoryView(None, activation, mapping, None, None, None, None, None, beta_0, None, None, None)
    hurst = family.hurst if family.init == "fgn" else None
    cell = Cell(block="res3", activation=activation, init=family.init, hurst=hurst, beta=0.5,
                depth=max(depths), width=width, samples=2)
    predictor = predictor or Predictor()
    threshold = predictor.threshold(cell, list(depths))
    claim, claim_status = _claim(cell)
    status = claim_status if mapping == "exact" else ("conjecture" if claim_status else None)

    def minus(v: float | None) -> float | None:
        return None if v is None else v - beta_0

    label = cell.label().rsplit(" beta=", 1)[0] + f" d={width}"
    return TheoryView(family.init, activation, mapping, claim, claim_status, status, threshold.asymptotic,
                      threshold.finite_depth, beta_0, minus(threshold.asymptotic), minus(threshold.finite_depth),
                      label)


def decide(samples: pd.DataFrame, family: Family, view: TheoryView, shift: Interval, device: str
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(regime rows, threshold rows): per (beta, quantity), and per quantity (module docstring).
    shift: `branch_exponent(samples)`."""
    by_beta = series(samples, device)
    depths = sorted({d for cells in by_beta.values() for d in cells})
    n = int(samples.groupby(["depth", "beta"]).size().min())
    regime_rows: list[dict[str, Any]] = []
    threshold_rows: list[dict[str, Any]] = []
    for quantity in SLOPE_QUANTITIES:
        fitted: list[tuple[float, SlopeFit, dict[int, Draws]]] = []
        for beta, cells in by_beta.items():
            fit = slope_for(cells, quantity)  # type: ignore[arg-type]  # Draws holds what is read
            observed = classify(fit.lo, fit.hi, fit.step_lo, fit.step_hi) if fit else "inconclusive"
            predicted_slope = None
            finite_slope = None
            if view.predicted is not None and beta >= view.predicted - 1e-9:
                predicted_slope = view.predicted - beta
            if view.predicted_finite is not None:
                finite_slope = view.predicted_finite - beta
            regime_rows.append({
                "beta": beta, "quantity": quantity,
                "slope": fit.slope if fit else None, "slope_lo": fit.lo if fit else None,
                "slope_hi": fit.hi if fit else None, "observed_regime": observed,
                "predicted_regime": view.predicted_regime(beta), "predicted_slope": predicted_slope,
                "finite_depth_slope": finite_slope, "finite_depth_regime": regime_of_slope(finite_slope),
                "depths": depths, "samples": n})
            if fit is not None:
                fitted.append((beta, fit, cells))
        found = find_threshold([b for b, _, _ in fitted], [f for _, f, _ in fitted],
                               [c for _, _, c in fitted], quantity)  # type: ignore[misc]
        verdict, basis = threshold_verdict(found, view.predicted_finite, view.predicted)
        if view.mapping == "analogy" and basis:
            basis += ", by analogy"
        built = next((r for r in regime_rows if r["quantity"] == quantity and r["beta"] == 0.0), None)
        threshold_rows.append({
            "quantity": quantity, "observed_beta_c": found.beta_c, "beta_c_lo": found.lo, "beta_c_hi": found.hi,
            "as_built_slope": built["slope"] if built else None,
            "as_built_slope_lo": built["slope_lo"] if built else None,
            "as_built_slope_hi": built["slope_hi"] if built else None,
            "as_built_regime": built["observed_regime"] if built else "inconclusive",
            "predicted_as_built_regime": view.predicted_regime(0.0),
            "family": family.init or "not covered", "hurst": family.hurst, "hurst_lo": family.hurst_lo,
            "hurst_hi": family.hurst_hi, "lag1_correlation": family.lag1, "lag1_correlation_se": family.lag1_se,
            "branch_exponent": None if shift.value is None else -shift.value,
            "branch_exponent_lo": None if shift.hi is None else -shift.hi,
            "branch_exponent_hi": None if shift.lo is None else -shift.lo,
            "theory_cell": view.cell, "mapping": view.mapping, "claim": view.claim, "claim_status": view.claim_status,
            "status": view.status, "theory_beta_c": view.asymptotic, "finite_depth_beta_c": view.predicted_finite,
            "predicted_beta_c": view.predicted, "verdict": verdict, "verdict_basis": basis,
            "depths": depths, "betas_fitted": list(found.betas), "samples": n})
    return regime_rows, threshold_rows


# ---------------------------------------------------------------------- the sentence
def _num(value: float | None, digits: int = 2) -> str:
    """A number for a sentence: fixed digits, a true minus sign, no negative zero, '–' for none."""
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:.{digits}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace("-", "−")


def _interval(lo: float | None, hi: float | None) -> str:
    return f"95% interval {_num(lo)} to {_num(hi)}"


def sentence(threshold: dict[str, Any], family: Family, view: TheoryView, betas: Sequence[float]) -> str:
    """What the network does as built, which scaling makes it non-trivial, and whether theory agrees:
    one paragraph from a check_thresholds.csv row (the forward deviation's)."""
    depths = threshold["depths"]
    span = f"depths {min(depths)} to {max(depths)}"
    interval = _interval(threshold["as_built_slope_lo"], threshold["as_built_slope_hi"])
    slope = f"L^{_num(threshold['as_built_slope'])} ({interval})"
    regime = threshold["as_built_regime"]
    built = {
        "explode": f"As built, the network explodes with depth: ‖h_L − h_0‖/‖h_0‖ grows as {slope} over {span}.",
        "identity": f"As built, the network collapses towards the identity: ‖h_L − h_0‖/‖h_0‖ shrinks as {slope} "
                    f"over {span}.",
        "non-trivial": f"As built, the network is non-trivial: ‖h_L − h_0‖/‖h_0‖ does not depend on depth "
                       f"(it scales as {slope} over {span}).",
    }.get(regime, f"As built, the data do not decide the regime: ‖h_L − h_0‖/‖h_0‖ scales as {slope} over {span}.")
    beta_c = threshold["observed_beta_c"]
    lo, hi = min(betas), max(betas)
    if beta_c is None:
        scaling = (f"No β from {_num(lo)} to {_num(hi)} makes it non-trivial: the depth slope of the deviation "
                   "does not change sign on that range.")
    elif threshold["beta_c_lo"] is None:
        scaling = (f"Multiplying each block's branch by L^−β makes it non-trivial near β = {_num(beta_c)}, "
                   "but the data do not bound that value (no interval).")
    else:
        scaling = (f"Multiplying each block's branch by L^−β makes it non-trivial at β_c = {_num(beta_c)} "
                   f"({_interval(threshold['beta_c_lo'], threshold['beta_c_hi'])}).")
    weights = f"Its blocks' weights are {family.words}"
    if view.predicted is None:
        return f"{built} {scaling} {weights}; theory has no prediction for such weights."
    how = (f"claim {view.claim}, a {view.claim_status} for res3 blocks" if view.claim else "theory")
    how += "" if view.mapping == "exact" else ", applied to these blocks by analogy"
    shift = ""
    if view.shift:
        shift = (f"; as built, the first block's branch already scales as L^{_num(-view.shift)}, so theory expects "
                 f"β_c = {_num(view.asymptotic)} − {_num(view.shift)} = {_num(view.predicted)} more")
    predicted = view.predicted_finite if view.predicted_finite is not None else view.predicted
    finite = ""
    if view.predicted_finite is not None and abs(view.predicted_finite - view.predicted) > 0.005:
        finite = f" (at these depths {_num(view.predicted_finite)})"
    verdict = {
        "agree": "theory agrees",
        "disagree": f"theory disagrees: {_num(predicted)} lies outside the observed interval",
        "inconclusive": "the data cannot judge it (no interval for the observed β_c)",
    }.get(threshold["verdict"], "theory has no prediction to compare")
    theory_beta = _num(view.asymptotic) if not view.shift else _num(view.predicted)
    hint = ""
    lo_c, hi_c = threshold["beta_c_lo"], threshold["beta_c_hi"]
    if (threshold["verdict"] == "disagree" and family.init in ("iid", "fgn") and lo_c is not None
            and lo_c <= 1.0 <= hi_c + NEAR_ONE):
        hint = (" An observed β_c near 1 with weights that are not shared points to a part of the branch whose "
                "mean is not zero in every block, whatever the weights (a ReLU after the addition makes one): it "
                "adds up along depth like shared weights, for which theory predicts β_c = 1.")
    return (f"{built} {scaling} {weights}, for which theory predicts β_c = {theory_beta}{finite} ({how}{shift}): "
            f"{verdict}.{hint}")

