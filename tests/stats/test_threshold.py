"""The 1/sqrt(L) threshold, confirmed from data: log-log slopes of the median deviation over
depths 64..4096, the beta where the slope crosses zero, and the same for the backward pass.

All estimates come from the grid's own estimators (`sim.grid.regimes`): weighted least squares of the
per-depth medians of the log-deviation on log L, and a Fieller interval for the zero crossing.
Networks: `res3` relu, iid Gaussian weights, d = 16, one shared set of draws per depth across beta
(common random numbers, as in the grid).

Level: every assertion below is at family-wise level 1e-4 over the 10 interval assertions of this
file (Bonferroni, z = 4.42 each), so the file's false-failure rate is below 1e-4 (plus the
documented finite-depth bias allowances, which are bounds, not tuning). Standard errors come from
independent network draws: one network per sample.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import stats
from stat_tools import as_stored, median_slope_bias, z_critical

import theory
from sim import Cell, simulate_betas
from sim.grid.regimes import find_threshold, fit_slope, median_stat, slope_for

DEPTHS = (64, 128, 256, 512, 1024, 2048, 4096)
WIDTH = 16
SAMPLES = 160
TESTS = 10
Z = z_critical(1e-4, TESTS)
# One simulation serves every test: the slope betas and a grid around 1/2 for the threshold.
IID_BETAS = (0.25, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.75, 1.0)
THRESHOLD_BETAS = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)
C_RELU = 0.5


@lru_cache(maxsize=4)
def series(init: str, betas: tuple[float, ...], hurst: float | None = None,
           depths: tuple[int, ...] = DEPTHS, samples: int = SAMPLES, seed: int = 0) -> dict:
    """{beta: {depth: StoredCell}} for one family, every beta on the same draws per depth."""
    out: dict[float, dict] = {b: {} for b in betas}
    for depth in depths:
        cell = Cell(block="res3", activation="relu", init=init, hurst=hurst, depth=depth, width=WIDTH,
                    samples=samples, seed=seed)
        for res in simulate_betas(cell, list(betas)):
            out[res.cell.beta][depth] = as_stored(res)
    return out


def test_slope_of_median_deviation_identity_side() -> None:
    """beta = 3/4 and 1: the slope's interval contains 1/2 - beta and excludes 0.

    Smallest detectable slope error: about Z x SE ~ 0.02 (SE ~ 0.004 at 160 samples per depth).
    """
    data = series("iid", IID_BETAS)
    for beta in (0.75, 1.0):
        fit = slope_for(data[beta], "diff")
        expected = 0.5 - beta
        allowed = Z * fit.slope_se + median_slope_bias(beta)
        assert abs(fit.slope - expected) <= allowed, (beta, fit.slope, fit.slope_se, expected)
        assert fit.slope + Z * fit.slope_se < 0, (beta, fit.slope, fit.slope_se)


def test_slope_at_critical_beta_is_flat() -> None:
    """beta = 1/2: the interval contains 0 and lies inside (-0.1, 0.1).

    At beta = 1/2 the deviation converges in law (neural SDE); the exact moment's slope over these
    depths is -c/(4 L) at most in size, well inside the allowance."""
    fit = slope_for(series("iid", IID_BETAS)[0.5], "diff")
    allowed = Z * fit.slope_se + median_slope_bias(0.5)
    assert abs(fit.slope) <= allowed, (fit.slope, fit.slope_se)
    assert abs(fit.slope) + Z * fit.slope_se < 0.1, (fit.slope, fit.slope_se)


def test_log_norm_growth_exponent_explode_side() -> None:
    """beta = 1/4: the mean of X = log(||h_L||^2/||h_0||^2) grows like c (1 - 2/d) L^(1 - 2 beta).

    For Gaussian iid res3 the per-layer increments of X are i.i.d., so E X = L E[Delta] exactly,
    with E[Delta] = c (1 - 2/d) alpha^2 - b alpha^4 + ..., |b| <= (c^2 + Var r)(1/2 + 4/d), Var r =
    5/(4d) for relu (r = ||relu(W u)||^2). The log-log slope of a L^(1/2) - b is then within
    |b| / (2 (a sqrt(64) - |b|)) of 1/2 over these depths: that is the bias allowance. The exponent
    is fitted by WLS of log mean X on log L with delta-method standard errors.
    """
    data = series("iid", IID_BETAS)[0.25]
    means, ses = [], []
    for depth in DEPTHS:
        x = 2.0 * data[depth].logs["fwd"]
        means.append(math.log(x.mean()))
        ses.append(x.std(ddof=1) / math.sqrt(len(x)) / x.mean())
    fit = fit_slope(DEPTHS, means, ses)
    a = C_RELU * (1 - 2 / WIDTH)
    b = (C_RELU**2 + 5 / (4 * WIDTH)) * (0.5 + 4 / WIDTH)
    bias = b / (2 * (a * 8 - b))
    assert abs(fit.slope - 0.5) <= Z * fit.slope_se + bias, (fit.slope, fit.slope_se, bias)
    assert fit.slope - Z * fit.slope_se > 0, (fit.slope, fit.slope_se)


def _threshold(data: dict, quantity: str = "diff", z: float = Z):
    betas = sorted(data)
    cells = [data[b] for b in betas]
    fits = [slope_for(c, quantity) for c in cells]
    return find_threshold(betas, fits, cells, quantity, z=z)


def test_threshold_is_one_over_sqrt_depth() -> None:
    """The observed beta_c from a beta grid 0.35..0.65 at depths 64..4096: its interval contains
    1/2 and is narrower than 0.1.

    Power: the same procedure on `res3` relu fgn H = 0.8 (finite-depth threshold 0.76) must
    reject 1/2 (next test); a shift of the true threshold by more than half the interval width
    (~0.03) is detected."""
    data = series("iid", IID_BETAS)
    found = _threshold({b: data[b] for b in THRESHOLD_BETAS})
    assert found.lo is not None and found.lo <= 0.5 <= found.hi, found
    assert found.hi - found.lo < 0.1, found


def test_threshold_procedure_rejects_half_for_a_shifted_threshold() -> None:
    """fgn H = 0.8 moves the threshold to ~0.76 at these depths: the interval excludes 1/2 and
    contains theory's finite-depth threshold (0.762)."""
    betas = (0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
    data = series("fgn", betas, hurst=0.8, depths=(64, 256, 1024, 4096), samples=96)
    found = _threshold(data)
    assert found.lo is not None and not found.lo <= 0.5 <= found.hi, found
    predicted = theory.finite_depth_threshold(Cell(init="fgn", hurst=0.8, depth=4096, width=WIDTH),
                                              [64, 256, 1024, 4096])
    assert found.lo <= predicted <= found.hi, (found, predicted)


def test_backward_pass_follows_the_same_trichotomy() -> None:
    """bwd_diff slopes: explode (interval above 0) at beta = 1/4, flat at 1/2, 1/2 - beta at 1;
    and bwd: median log ||p_0||/||p_L|| grows with depth at 1/4 and shrinks towards 0 at 1."""
    data = series("iid", IID_BETAS)
    explode = slope_for(data[0.25], "bwd_diff")
    assert explode.slope - Z * explode.slope_se > 0.05, explode
    flat = slope_for(data[0.5], "bwd_diff")
    assert abs(flat.slope) <= Z * flat.slope_se + median_slope_bias(0.5), flat
    identity = slope_for(data[1.0], "bwd_diff")
    assert abs(identity.slope + 0.5) <= Z * identity.slope_se + median_slope_bias(1.0), identity
    med = {beta: [median_stat(data[beta][d].logs["bwd"]).median for d in DEPTHS] for beta in (0.25, 1.0)}
    assert med[0.25][-1] > med[0.25][0] + 1.0
    assert abs(med[1.0][-1]) < abs(med[1.0][0])
    rho = stats.spearmanr(DEPTHS, med[0.25]).statistic
    assert rho > 0.9 and np.isfinite(med[1.0]).all()
