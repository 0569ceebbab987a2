"""Calibration of the statistical tests (slow tier): are the stated error rates honest?

The fast tests run at per-assertion levels near 1e-5, which no affordable number of reruns can
measure directly. What can be measured is whether their z-statistics and intervals are calibrated:
each test's statistic is recomputed on many independent seeds (disjoint networks), and the rate at
which it rejects at a measurable nominal level (5%) is compared with that level. A test whose
standard error is too small shows up as a rejection rate well above 5%. The measured rates are
printed (run with -s) and recorded in the README.

Acceptance: the number of rejections among N reruns must lie in the central 99.9% range of
Binomial(N, 0.05) (an upper bound only where a documented bias allowance makes the test
conservative); false-failure rate of each check below 1e-3.

Run with: python -m pytest -m slow -s tests/stats/test_calibration.py
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from stat_tools import as_stored, median_slope_bias

import theory
from sim import Cell, simulate, simulate_betas
from sim.grid.regimes import find_threshold, slope_for

pytestmark = pytest.mark.slow
NOMINAL = 0.05
Z05 = float(stats.norm.isf(NOMINAL / 2))


def binomial_range(n: int) -> tuple[int, int]:
    """Central 99.9% range of the number of rejections among n calibrated reruns."""
    return int(stats.binom.ppf(5e-4, n, NOMINAL)), int(stats.binom.isf(5e-4, n, NOMINAL))


def report(name: str, rejections: int, n: int) -> None:
    print(f"calibration {name}: {rejections}/{n} = {rejections / n:.3f} at nominal {NOMINAL}")


def test_exact_moment_z_test_is_calibrated() -> None:
    """z-test of the mean of ||h_L||^2/||h_0||^2 (tests/sim/test_engine.py), 400 reruns of 500
    networks: relu, d = 8, L = 32, beta = 1/2 (the heaviest-tailed of the fast cases)."""
    reruns, per = 400, 500
    cell = Cell(block="res3", activation="relu", init="iid", depth=32, width=8, beta=0.5,
                samples=reruns * per, dtype="float64", seed=101)
    x = np.exp(2 * simulate(cell).logs["fwd"]).reshape(reruns, per)
    expected = float(theory.second_moment(cell))
    z = (x.mean(1) - expected) / (x.std(1, ddof=1) / math.sqrt(per))
    rejections = int((np.abs(z) > Z05).sum())
    report("exact second moment z-test", rejections, reruns)
    lo, hi = binomial_range(reruns)
    assert lo <= rejections <= hi


def test_lognormal_z_tests_are_calibrated() -> None:
    """Mean and variance z-tests of log(||h_L||^2/||h_0||^2) at beta = 1/2
    (tests/stats/test_critical_law.py), 200 reruns of 300 networks, d = 16, L = 64, with the same
    bias allowances: the rates may only be below their nominal range's upper end."""
    reruns, per, depth, width = 200, 300, 64, 16
    cell = Cell(block="res3", activation="relu", init="iid", depth=depth, width=width, beta=0.5,
                samples=reruns * per, dtype="float64", seed=102)
    x = (2 * simulate(cell).logs["fwd"]).reshape(reruns, per)
    mean, var = (float(v) for v in theory.lognormal_law(cell))
    c = float(theory.c_sigma("relu"))
    z_mean = (np.abs(x.mean(1) - mean) - c**2 / depth).clip(0) / (x.std(1, ddof=1) / math.sqrt(per))
    centred = x - x.mean(1, keepdims=True)
    s2 = centred.var(1, ddof=1)
    se_var = np.sqrt(((centred**4).mean(1) - s2**2).clip(0) / per)
    z_var = (np.abs(s2 - var) - 2 * c**2 / depth).clip(0) / se_var
    _, hi = binomial_range(reruns)
    for name, z in (("log-normal mean", z_mean), ("log-normal variance", z_var)):
        rejections = int((z > Z05).sum())
        report(f"{name} z-test", rejections, reruns)
        assert rejections <= hi


def test_slope_interval_coverage() -> None:
    """Coverage of the grid's 95% slope interval (sim.grid.regimes) for the median deviation of iid
    res3 relu at beta = 1, depths 64, 256, 1024, over 100 reruns of 64 networks, against
    1/2 - beta with the finite-depth bias allowance of tests/stats/test_threshold.py."""
    reruns, per = 100, 64
    depths = (64, 256, 1024)
    data: dict[int, np.ndarray] = {}
    base = Cell(block="res3", activation="relu", init="iid", width=16, beta=1.0, samples=reruns * per, seed=103)
    for depth in depths:
        data[depth] = simulate(base.replace(depth=depth))
    misses = 0
    bias = median_slope_bias(1.0)
    for r in range(reruns):
        cells = {}
        for depth, res in data.items():
            part = as_stored(res)
            part.logs = {q: v[r * per:(r + 1) * per] for q, v in res.logs.items()}
            cells[depth] = part
        fit = slope_for(cells, "diff")
        if abs(fit.slope + 0.5) > Z05 * fit.slope_se + bias:
            misses += 1
    report("slope interval (beta = 1)", misses, reruns)
    _, hi = binomial_range(reruns)
    assert misses <= hi


def test_threshold_interval_coverage() -> None:
    """Coverage of the grid's 95% Fieller interval for the iid threshold (true value 1/2 up to a
    finite-depth bias below 0.01 at these depths), 40 reruns of 64 networks, betas 0.4..0.6,
    depths 64, 256, 1024."""
    reruns, per = 40, 64
    depths = (64, 256, 1024)
    betas = [0.4, 0.45, 0.5, 0.55, 0.6]
    base = Cell(block="res3", activation="relu", init="iid", width=16, samples=reruns * per, seed=104)
    results = {depth: simulate_betas(base.replace(depth=depth), betas) for depth in depths}
    misses = 0
    for r in range(reruns):
        data = {}
        for j, beta in enumerate(betas):
            data[beta] = {}
            for depth in depths:
                res = results[depth][j]
                part = as_stored(res)
                part.logs = {q: v[r * per:(r + 1) * per] for q, v in res.logs.items()}
                data[beta][depth] = part
        cells = [data[b] for b in betas]
        found = find_threshold(betas, [slope_for(c, "diff") for c in cells], cells, "diff", z=Z05)
        if found.lo is None or not found.lo - 0.01 <= 0.5 <= found.hi + 0.01:
            misses += 1
    report("threshold interval (iid, 1/2)", misses, reruns)
    _, hi = binomial_range(reruns)
    assert misses <= hi
