"""At the critical scaling beta = 1/2, log(||h_L||^2 / ||h_0||^2) is close to a normal law with
mean c_sigma tau (1 - 2/d) and variance 4 c_sigma tau / d, tau = L^(1 - 2 beta) (docs/theory.md §4.3).

Reference values: `theory.lognormal_law(cell)`. Bias allowance, derived here: for Gaussian iid
`res3` the per-layer increments Delta_k = log(||h_{k+1}||^2 / ||h_k||^2) are i.i.d. (the law of
W h / ||h|| does not depend on h), and expanding log(1 + 2 alpha a + alpha^2 b) to fourth order in
alpha (a ~ N(0, r/d), b = r, r = ||sigma(W u)||^2 for a unit u) shows that the mean and variance
of the sum differ from the normal law's by O(L alpha^4) = O(1/L) at beta = 1/2, with constants
below c^2 for the mean and c^2 + Var(r) < 2 c^2 for the variance when d >= 8. The tests allow
exactly those: c^2 / L and 2 c^2 / L.

Level: each z-test at family-wise 1e-4 over the 4 mean/variance assertions of this file (z = 4.0
each); the KS goodness-of-fit test at 1e-6. False-failure rate of the file: below 2e-4.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest
from scipy import stats
from stat_tools import assert_z

import theory
from sim import Cell, simulate

TESTS = 4


@lru_cache(maxsize=2)
def critical_sample(depth: int, samples: int) -> tuple[Cell, np.ndarray]:
    """X = 2 fwd = log(||h_L||^2/||h_0||^2) for relu res3 iid at beta = 1/2, d = 32."""
    cell = Cell(block="res3", activation="relu", init="iid", beta=0.5, depth=depth, width=32,
                samples=samples, seed=21)
    return cell, 2.0 * simulate(cell).logs["fwd"]


@pytest.mark.parametrize(("depth", "samples"), [(256, 2000), (1024, 600)])
def test_log_norm_mean_and_variance_at_criticality(depth: int, samples: int) -> None:
    """Mean and variance of X = 2 fwd against the log-normal law, relu, d = 32.

    Smallest detectable error (4 SE): mean 0.022 / 0.041, variance 13% / 23% for L = 256 / 1024.
    float32 arithmetic: the log-norm's rounding error (~1e-5) is far below these.
    The variance's SE uses the sample fourth moment: Var(s^2) = (m4 - s^4) / n.
    """
    cell, x = critical_sample(depth, samples)
    mean, var = (float(v) for v in theory.lognormal_law(cell))
    c = float(theory.c_sigma("relu"))
    n = len(x)
    assert_z(x.mean(), x.std(ddof=1) / math.sqrt(n), mean, level=1e-4, tests=TESTS,
             bias=c**2 / depth, what=f"mean of log-norm, L={depth}")
    centred = x - x.mean()
    m4 = float((centred**4).mean())
    s2 = float(centred.var(ddof=1))
    assert_z(s2, math.sqrt(max(m4 - s2**2, 0.0) / n), var, level=1e-4, tests=TESTS,
             bias=2 * c**2 / depth, what=f"variance of log-norm, L={depth}")


def test_log_norm_shape_is_normal() -> None:
    """Kolmogorov-Smirnov test of X against the predicted normal law (not a fitted one), at 1e-6.

    n = 2000 (the same networks as the L = 256 moment test): rejects a location error of about
    0.12 standard deviations or a scale error of about 12%, far above the O(1/L) bias at L = 256.
    """
    cell, x = critical_sample(256, 2000)
    mean, var = (float(v) for v in theory.lognormal_law(cell))
    result = stats.kstest(x, "norm", args=(mean, math.sqrt(var)))
    assert result.pvalue > 1e-6, f"KS statistic {result.statistic:.4f}, p = {result.pvalue:.2e}"
