"""Regimes and thresholds decided from stored data, beside theory's predictions.

**Series.** Cells that differ only in beta and depth form a series (same block, activation,
negative slope, init, dist, regularity, width, input dimension, seed and dtype). When the store
holds several cells for one (series, beta, depth), the one with the most samples is used (ties: the
smallest key).

**Slope.** For each series, beta and quantity q in {diff, bwd_diff}, y_L = the median over samples of
the natural log of the deviation (= log of the median deviation) is regressed on log L by weighted
least squares (statsmodels WLS), weights 1/se_L^2 with se_L = 1.2533 sd_L / sqrt(n_L), the
asymptotic standard error of a median of approximately normal values (the log-deviations are close
to normal, docs/theory.md §4.3). The slope's standard error is the WLS one with the known variances, multiplied
by the scale factor S = sqrt(max(1, chi2 / (k - 2))) (k depths, chi2 the weighted residual sum of
squares): a misfit of the straight line beyond Monte Carlo noise widens the interval instead of being
ignored. The 95% interval is slope +- 1.96 S se. With two depths no misfit can be measured (S = 1);
with one there is no slope.

**Observed regime** (DELTA = 0.05, the smallest slope counted as a dependence on depth: a median
deviation changing by less than a factor L^0.05, 1.23 over a 64-fold range of depths, counts as
depth-independent):
- 'explode' when the whole interval lies above +DELTA, or when the 95% interval of the slope between
  every pair of consecutive depths does (exploding deviations grow faster than any power of L, so a
  straight line misfits them and the scale factor can widen its interval across zero; requiring
  every step to grow is an intersection-union test, at level 2.5% like each step's);
- 'identity' when the interval lies below -DELTA, or every consecutive step's does;
- 'non-trivial' when it lies inside [-DELTA, +DELTA];
- 'inconclusive' otherwise (including no slope).

**Regime verdict**: 'not covered' when theory gives no regime; 'inconclusive' when the observed regime
is; 'agree' when the observed regime equals theory's (basis 'asymptotic'), or equals the regime that
theory's finite-depth slope over the simulated depths gives under the same DELTA rule (basis
'finite-depth': a finite-depth bias of the large-depth prediction, docs/theory.md §4.4 and 4.8); 'outside
validity' for a bwd_diff row that the asymptotic regime does not match where the backward law does not
hold (below); 'disagree' otherwise (basis: what was compared).

**Threshold.** Per series and quantity, the observed beta_c is where the fitted slope crosses zero
as beta increases: at the first pair of consecutive betas with slope > 0 and then <= 0, the straight
line slope(beta) = a + b beta through these two betas gives beta_c = -a/b (only the two: slope(beta)
curves upwards on the explode side, and a wider window would pull the root towards it). Its 95%
interval is Fieller's for the ratio, with the covariance of the slopes propagated exactly from the
per-depth medians: medians at the same depth share their network
draws across beta (common random numbers), and their correlation is estimated by the quadrant
formula corr = 4 P(X <= med X, Y <= med Y) - 1 (exact asymptotically for sample medians); scale
factors S are carried along. No sign change on the beta grid, or an unbounded Fieller set, leaves the
threshold empty ('inconclusive').

**Threshold verdict**: 'agree' when theory's finite-depth threshold for the simulated depths lies in
the interval, 'disagree' when outside; when theory gives no finite-depth threshold the asymptotic
beta_c is used instead (basis 'asymptotic'); 'not covered' when it gives neither; 'inconclusive' when
no interval was found.

Where theory puts a non-trivial band between an explosion edge beta_e and beta_c (antisym blocks:
the norm explodes below beta_e while the deviation, a rotation, stays of order one up to beta_c),
the slope's first crossing of zero marks beta_e, so it is judged against beta_e (basis 'explosion
edge (asymptotic)'). Where theory says nothing explodes at beta > 0 (RK4, damping), the slope is
about zero below beta_c and its crossing of zero marks no boundary: the verdict is 'inconclusive'
(basis 'no explosion predicted'); the per-beta regime verdicts still test beta_c.

The backward quantity bwd_diff is compared with the backward pass's own finite-depth law
(docs/theory.md §4.10: slope and threshold of E||p_0 - p_L||^2 to leading order), basis 'finite-depth
(backward law)', for res1, res3 and linear blocks with stationary weights; elsewhere (fbm, antisym)
the forward law of docs/theory.md §4.8 is borrowed, basis 'finite-depth (forward law)'. The backward law
linearizes the Jacobians around h_0, which fails where the forward deviation is larger than the input
(`theory.backward_law_valid`): a regime row there that the asymptotic regime does not match, and a
threshold whose predicted crossing lies there, get the verdict 'outside validity' (basis 'backward
law outside validity') instead of agree or disagree; the threshold row still records the backward
crossing in finite_depth_beta_c.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from sim.cell import Cell
from sim.grid.predictions import CellPrediction, Predictor
from sim.grid.store import StoredCell

DELTA = 0.05
LEVEL = 0.05
OUTSIDE_VALIDITY = "outside validity"  # the verdict where the backward law does not hold (docs/theory.md §4.10)
OUTSIDE_BASIS = "backward law outside validity"
Z = float(stats.norm.isf(LEVEL / 2))
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)  # 1.2533: sd of a sample median / (sd / sqrt(n)), normal
SLOPE_QUANTITIES = ("diff", "bwd_diff")  # the quantities whose zero crossing in beta is a threshold
REGIME_QUANTITIES = ("fwd", *SLOPE_QUANTITIES)  # the quantities whose median's regime is judged
REGIMES = ("explode", "identity", "non-trivial")
NORM_REGIMES = ("explode", "collapse", "flat")


def labels(quantity: str) -> tuple[str, str, str]:
    """(rising, falling, level) regime names of a slope: a deviation that falls with depth tends to
    the identity, a norm (fwd) that falls collapses, and a level norm is 'flat'."""
    return NORM_REGIMES if quantity == "fwd" else REGIMES
# Betas on each side of the sign change used by the threshold's line fit.
THRESHOLD_HALF_WINDOW = 1

Series = tuple[Any, ...]


def series_of(cell: Cell) -> Series:
    """The series a cell belongs to: its identity without beta, depth, samples and device."""
    slope = cell.negative_slope if cell.activation == "leaky_relu" else None
    return (cell.block, cell.activation, slope, cell.init, cell.dist, cell.regularity, cell.width,
            cell.input_dim, cell.seed, cell.dtype, cell.stepper, cell.damping)


def _sort_key(series: Series) -> tuple[Any, ...]:
    """Orders series with None values first."""
    return tuple((v is not None, v if v is not None else 0) for v in series)


def group(stored: Iterable[StoredCell]) -> dict[Series, dict[float, dict[int, StoredCell]]]:
    """series -> beta -> depth -> the cell used (most samples, then smallest key), sorted."""
    chosen: dict[Series, dict[float, dict[int, StoredCell]]] = {}
    for sc in stored:
        slot = chosen.setdefault(series_of(sc.cell), {}).setdefault(sc.cell.beta, {})
        old = slot.get(sc.cell.depth)
        if old is None or (sc.cell.samples, old.key) > (old.cell.samples, sc.key):
            slot[sc.cell.depth] = sc
    return {s: {b: dict(sorted(chosen[s][b].items())) for b in sorted(chosen[s])}
            for s in sorted(chosen, key=_sort_key)}


# ---------------------------------------------------------------------- slopes
@dataclass(frozen=True)
class MedianStat:
    """Median of the finite per-sample logs, its standard error and the count used."""

    median: float
    se: float
    n: int


def median_stat(logs: np.ndarray) -> MedianStat | None:
    """Median and its asymptotic standard error; None with fewer than 2 finite values."""
    x = np.asarray(logs, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return None
    se = MEDIAN_SE_FACTOR * float(x.std(ddof=1)) / math.sqrt(len(x))
    # A zero spread would give infinite weight; the float64 resolution of the median bounds it.
    se = max(se, 1e-12 * max(1.0, abs(float(np.median(x)))))
    return MedianStat(float(np.median(x)), se, len(x))


@dataclass(frozen=True)
class SlopeFit:
    """Log-log slope of the median deviation against depth, with its 95% interval.

    depths: the depths used; coef: (k,) weights with slope = coef @ medians; se: the medians'
    standard errors; scale: the misfit scale factor S >= 1; step_lo / step_hi: the smallest lower
    and the largest upper 95% bound of the slopes between consecutive depths.
    """

    slope: float
    lo: float
    hi: float
    slope_se: float
    scale: float
    depths: tuple[int, ...]
    coef: np.ndarray
    se: np.ndarray
    step_lo: float
    step_hi: float


def fit_slope(depths: Sequence[int], medians: Sequence[float], ses: Sequence[float]) -> SlopeFit | None:
    """WLS of medians on log(depths), weights 1/se^2; None with fewer than two depths."""
    if len(depths) < 2:
        return None
    x = np.log(np.asarray(depths, dtype=np.float64))
    y = np.asarray(medians, dtype=np.float64)
    se = np.asarray(ses, dtype=np.float64)
    from statsmodels.regression.linear_model import WLS  # imported when needed: slow to load

    design = np.column_stack([np.ones_like(x), x])
    weights = 1.0 / se**2
    fit = WLS(y, design, weights=weights).fit()
    known = fit.cov_params(scale=1.0)
    scale = 1.0
    if fit.df_resid > 0:
        scale = math.sqrt(max(1.0, float(fit.ssr) / float(fit.df_resid)))
    slope = float(fit.params[1])
    slope_se = math.sqrt(float(known[1, 1])) * scale
    wx = design.T * weights
    coef = np.linalg.solve(wx @ design, wx)[1]
    steps = np.diff(y) / np.diff(x)
    steps_se = np.sqrt(se[1:] ** 2 + se[:-1] ** 2) / np.diff(x)
    return SlopeFit(slope, slope - Z * slope_se, slope + Z * slope_se, slope_se, scale,
                    tuple(int(d) for d in depths), coef, se, float(np.min(steps - Z * steps_se)),
                    float(np.max(steps + Z * steps_se)))


def classify(lo: float | None, hi: float | None, step_lo: float | None = None,
             step_hi: float | None = None, delta: float = DELTA, quantity: str = "diff") -> str:
    """The observed regime from a slope interval and the consecutive-depth bounds (module docstring)."""
    rising, falling, level = labels(quantity)
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive"
    if lo > delta or (step_lo is not None and step_lo > delta):
        return rising
    if hi < -delta or (step_hi is not None and step_hi < -delta):
        return falling
    if lo >= -delta and hi <= delta:
        return level
    return "inconclusive"


def regime_of_slope(slope: float | None, delta: float = DELTA, quantity: str = "diff") -> str | None:
    """The regime a predicted slope gives under the DELTA rule (None when there is no slope)."""
    if slope is None or math.isnan(slope):
        return None
    rising, falling, level = labels(quantity)
    if slope > delta:
        return rising
    if slope < -delta:
        return falling
    return level


def _expected(predicted: str, quantity: str) -> str:
    """The observed label a predicted median regime shows as: a deviation whose median tends to a
    constant ('flat', docs/theory.md §4.9) has slope 0, which the slope rule calls 'non-trivial'."""
    return "non-trivial" if predicted == "flat" and quantity != "fwd" else predicted


def regime_verdict(observed: str, prediction: CellPrediction, quantity: str = "diff") -> tuple[str, str]:
    """(verdict, basis) for one observed regime against theory (see the module docstring)."""
    if not prediction.covered:
        return "not covered", ""
    if observed == "inconclusive":
        return "inconclusive", ""
    if observed == _expected(prediction.regime, quantity):
        return "agree", "asymptotic"
    if prediction.outside_validity:
        return OUTSIDE_VALIDITY, OUTSIDE_BASIS
    finite = regime_of_slope(prediction.finite_depth_slope, quantity=quantity)
    if observed == finite:
        return "agree", "finite-depth"
    return "disagree", "asymptotic" if finite is None else "asymptotic and finite-depth"


def slope_for(cells: dict[int, StoredCell], quantity: str) -> SlopeFit | None:
    """The slope fit of one (series, beta) over its depths for `quantity`."""
    points = [(d, median_stat(sc.logs[quantity])) for d, sc in cells.items()]
    points = [(d, m) for d, m in points if m is not None]
    return fit_slope([d for d, _ in points], [m.median for _, m in points], [m.se for _, m in points])


# ---------------------------------------------------------------------- thresholds
@dataclass(frozen=True)
class Threshold:
    """Observed beta_c with its Fieller 95% interval (None when not found); betas fitted."""

    beta_c: float | None
    lo: float | None
    hi: float | None
    betas: tuple[float, ...]


def _quadrant_correlation(a: StoredCell, b: StoredCell, quantity: str) -> float:
    """Correlation of the sample medians of two cells paired by sample index (shared draws)."""
    if a is b:
        return 1.0
    if a.device != b.device:
        return 0.0  # different random streams: independent draws
    m = min(len(a.logs[quantity]), len(b.logs[quantity]))
    x, y = a.logs[quantity][:m], b.logs[quantity][:m]
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2:
        return 0.0
    both = np.mean((x <= np.median(x)) & (y <= np.median(y)))
    return float(np.clip(4.0 * both - 1.0, -1.0, 1.0))


def slope_covariance(fits: Sequence[SlopeFit], cells: Sequence[dict[int, StoredCell]],
                     quantity: str) -> np.ndarray:
    """Covariance matrix of the slopes of several betas of one series (shared draws per depth)."""
    n = len(fits)
    cov = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            total = 0.0
            for ai, depth in enumerate(fits[i].depths):
                if depth not in fits[j].depths:
                    continue
                aj = fits[j].depths.index(depth)
                corr = _quadrant_correlation(cells[i][depth], cells[j][depth], quantity)
                total += fits[i].coef[ai] * fits[j].coef[aj] * corr * fits[i].se[ai] * fits[j].se[aj]
            cov[i, j] = cov[j, i] = total * fits[i].scale * fits[j].scale
    return cov


def fieller_root(a: float, b: float, cov: np.ndarray, z: float = Z) -> tuple[float, float] | None:
    """Fieller interval for -a/b given the covariance of (a, b); None when unbounded."""
    vaa, vab, vbb = cov[0, 0], cov[0, 1], cov[1, 1]
    qa = b * b - z * z * vbb
    qb = 2.0 * (a * b - z * z * vab)
    qc = a * a - z * z * vaa
    disc = qb * qb - 4.0 * qa * qc
    if qa <= 0 or disc < 0:
        return None
    root = math.sqrt(disc)
    return (-qb - root) / (2 * qa), (-qb + root) / (2 * qa)


def find_threshold(betas: Sequence[float], fits: Sequence[SlopeFit],
                   cells: Sequence[dict[int, StoredCell]], quantity: str, z: float = Z) -> Threshold:
    """Where the slope crosses zero as beta increases (see the module docstring); the interval is
    Fieller's at critical value z (default: 95%)."""
    slopes = [f.slope for f in fits]
    cross = next((i for i in range(len(slopes) - 1) if slopes[i] > 0 >= slopes[i + 1]), None)
    if cross is None:
        return Threshold(None, None, None, ())
    lo_i = max(0, cross - THRESHOLD_HALF_WINDOW + 1)
    hi_i = min(len(slopes), cross + THRESHOLD_HALF_WINDOW + 1)
    window = range(lo_i, hi_i)
    x = np.array([betas[i] for i in window])
    s = np.array([slopes[i] for i in window])
    design = np.column_stack([np.ones_like(x), x])
    proj = np.linalg.pinv(design)  # (2, k): (a, b) = proj @ s
    a, b = proj @ s
    cov_s = slope_covariance([fits[i] for i in window], [cells[i] for i in window], quantity)
    cov_ab = proj @ cov_s @ proj.T
    used = tuple(float(v) for v in x)
    if b == 0:
        return Threshold(None, None, None, used)
    interval = fieller_root(float(a), float(b), cov_ab, z)
    if interval is None:
        return Threshold(float(-a / b), None, None, used)
    return Threshold(float(-a / b), float(interval[0]), float(interval[1]), used)


def threshold_verdict(observed: Threshold, finite: float | None, asymptotic: float | None,
                      explosion: float | None = None, outside_validity: bool = False) -> tuple[str, str]:
    """(verdict, basis) of an observed threshold against theory (see the module docstring).
    explosion: theory's explosion edge beta_e (NaN: nothing explodes; None: no such prediction);
    outside_validity: the finite-depth crossing lies where its law does not hold (backward law)."""
    if outside_validity and finite is not None:
        if observed.lo is None or observed.hi is None:
            return "inconclusive", OUTSIDE_BASIS
        return OUTSIDE_VALIDITY, OUTSIDE_BASIS
    predicted, basis = (finite, "finite-depth") if finite is not None else (asymptotic, "asymptotic")
    if explosion is not None and predicted is not None:
        if math.isnan(explosion):
            return "inconclusive", "no explosion predicted"
        if explosion < predicted - 1e-9:
            predicted, basis = explosion, "explosion edge (asymptotic)"
    if predicted is None:
        return "not covered", ""
    if observed.lo is None or observed.hi is None:
        return "inconclusive", basis
    return ("agree" if observed.lo <= predicted <= observed.hi else "disagree"), basis


# ---------------------------------------------------------------------- tables
def _forward_law_note(basis: str, quantity: str, law: str | None = None) -> str:
    """Which finite-depth law judged a bwd_diff row: the backward law (docs/theory.md §4.10) where it is
    derived, the forward law, borrowed, elsewhere (docs/theory.md §4.6)."""
    if quantity == "bwd_diff" and "finite-depth" in basis:
        return basis.replace("finite-depth", f"finite-depth ({'backward' if law == 'backward' else 'forward'} law)")
    return basis


def _series_columns(series: Series) -> dict[str, Any]:
    block, activation, slope, init, dist, regularity, width, _input_dim, seed, dtype, stepper, damping = series
    return {"block": block, "activation": activation, "init": init, "dist": dist,
            "regularity": regularity, "width": width, "negative_slope": slope, "dtype": dtype,
            "seed": seed, "stepper": stepper, "damping": damping}


def tables(stored: Iterable[StoredCell], predictor: Predictor
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(regime rows, threshold rows) for every series of the store, in a deterministic order."""
    regime_rows: list[dict[str, Any]] = []
    threshold_rows: list[dict[str, Any]] = []
    for series, by_beta in group(stored).items():
        base = _series_columns(series)
        all_depths = sorted({d for cells in by_beta.values() for d in cells})
        for quantity in REGIME_QUANTITIES:
            fitted: list[tuple[float, SlopeFit, dict[int, StoredCell]]] = []
            for beta, cells in by_beta.items():
                fit = slope_for(cells, quantity)
                depths = sorted(cells)
                cell = next(iter(cells.values())).cell
                prediction = predictor.cell(cell, depths, quantity)
                observed = (classify(fit.lo, fit.hi, fit.step_lo, fit.step_hi, quantity=quantity) if fit
                            else "inconclusive")
                verdict, basis = regime_verdict(observed, prediction, quantity)
                basis = _forward_law_note(basis, quantity, prediction.law)
                regime_rows.append({
                    **base, "beta": beta, "depths": depths, "quantity": quantity,
                    "slope": fit.slope if fit else None, "slope_lo": fit.lo if fit else None,
                    "slope_hi": fit.hi if fit else None, "observed_regime": observed,
                    "predicted_regime": prediction.regime, "predicted_beta_c": prediction.beta_c,
                    "predicted_slope": prediction.slope,
                    "finite_depth_slope": prediction.finite_depth_slope,
                    "verdict": verdict, "verdict_basis": basis,
                    "samples": min(sc.cell.samples for sc in cells.values())})
                if fit is not None:
                    fitted.append((beta, fit, cells))
            if quantity not in SLOPE_QUANTITIES:
                continue
            cell = next(iter(next(iter(by_beta.values())).values())).cell
            found = find_threshold([b for b, _, _ in fitted], [f for _, f, _ in fitted],
                                   [c for _, _, c in fitted], quantity)
            theory = predictor.threshold(cell, all_depths, quantity)
            verdict, basis = threshold_verdict(found, theory.finite_depth, theory.asymptotic, theory.explosion,
                                               theory.outside_validity)
            basis = _forward_law_note(basis, quantity, theory.law)
            threshold_rows.append({
                **base, "quantity": quantity, "observed_beta_c": found.beta_c,
                "beta_c_lo": found.lo, "beta_c_hi": found.hi,
                "finite_depth_beta_c": theory.finite_depth, "asymptotic_beta_c": theory.asymptotic,
                "explosion_beta": theory.explosion,
                "verdict": verdict, "verdict_basis": basis, "depths": all_depths,
                "betas_fitted": list(found.betas)})
    return regime_rows, threshold_rows
