"""The statistics behind the exact-law verdicts, on samples with known laws (fixed seeds)."""

from __future__ import annotations

import math

import numpy as np

from reports.laws import MAX_MEAN_SKEWNESS, lognormal_check, mean_skewness, moment_check, z_critical


def test_moment_check_accepts_the_true_mean() -> None:
    """log R ~ N(m, s^2): E R = exp(m + s^2/2); with 4000 draws the z-score is O(1).

    Fixed seed; |z| < z_critical(1e-4) fails with probability 1e-4 for a fresh seed.
    """
    rng = np.random.default_rng(1)
    m, s = 0.2, 0.4
    logs = 0.5 * rng.normal(m, s, 4000)  # stored logs are of the norm ratio: R = exp(2 log)
    check = moment_check(logs, math.exp(m + s**2 / 2))
    assert check.well_estimated and check.passes(1e-4)


def test_moment_check_rejects_a_wrong_closed_form() -> None:
    rng = np.random.default_rng(2)
    logs = 0.5 * rng.normal(0.0, 0.3, 4000)
    check = moment_check(logs, 1.2 * math.exp(0.3**2 / 2))
    assert check.well_estimated and not check.passes(0.01)


def test_heavy_tails_are_not_tested() -> None:
    """Log-variance 1 is fine with 4000 draws but not with 16 (the mean's skewness decides)."""
    rng = np.random.default_rng(3)
    logs = 0.5 * rng.normal(0.0, 1.0, 4000)
    assert moment_check(logs, math.exp(0.5)).well_estimated
    check = moment_check(logs[:16], math.exp(0.5))
    assert not check.well_estimated and math.isnan(check.mean)
    assert mean_skewness(1.0, 16) > MAX_MEAN_SKEWNESS >= mean_skewness(0.05, 16)


def test_lognormal_check_on_a_normal_sample() -> None:
    """Samples drawn from the predicted law pass the mean, variance and KS tests (fixed seed)."""
    rng = np.random.default_rng(4)
    x = rng.normal(0.47, 0.25, 3000)
    check = lognormal_check(x, 0.47, 0.0625, c=0.5, depth=256)
    z = z_critical(1e-4, 2)
    assert check.mean_ok(z) and check.var_ok(z) and check.ks_ok(1e-4)
    shifted = lognormal_check(x + 0.2, 0.47, 0.0625, c=0.5, depth=256)
    assert not shifted.mean_ok(z) and not shifted.ks_ok(1e-4)
