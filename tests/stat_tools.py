"""Statistical helpers shared by the tests: z-tests with stated levels, tolerances by dtype.

Every statistical assertion goes through `assert_z`, which prints the expected value, the
estimate, its standard error and the z-score when it fails.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

# Absolute tolerance on natural logs when float32 and float64 runs of one cell are compared: a
# log-norm accumulates L renormalizations, each with relative rounding ~1e-7 in float32.
LOG_TOL = {"float32": 2e-3, "float64": 1e-10}


def z_critical(level: float, tests: int = 1) -> float:
    """Two-sided critical value for a family of `tests` assertions at family-wise `level`
    (Bonferroni)."""
    return float(stats.norm.isf(level / (2 * tests)))


def mean_and_se(values: np.ndarray) -> tuple[float, float]:
    """Sample mean and its standard error (independent draws along axis 0)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def assert_z(estimate: float, se: float, expected: float, level: float, tests: int = 1,
             bias: float = 0.0, what: str = "") -> None:
    """Fail when |estimate - expected| > z * se + bias, z at family-wise `level` over `tests`.

    `bias` is a documented allowance for a known finite-size bias (never Monte Carlo noise).
    """
    z = z_critical(level, tests)
    err = abs(estimate - expected)
    assert err <= z * se + bias, (
        f"{what}: expected {expected:.6g}, got {estimate:.6g} (se {se:.3g}, "
        f"z = {(estimate - expected) / se if se > 0 else float('inf'):.2f}, allowed z {z:.2f}"
        f"{f' + bias {bias:.3g}' if bias else ''})")


def median_slope_bias(beta: float, c_sigma: float = 0.5, smallest_depth: int = 64) -> float:
    """Bound on the finite-depth bias of the median deviation's log-log slope, iid res3.

    E||h_L - h_0||^2 = (1 + c L^-2b)^L - 1 = c L^(1-2b) (1 + c L^(1-4b)/2 + ...) by the exact law,
    so the slope of its square root differs from 1/2 - b by at most |1 - 4b| c L^(1-4b) / 4 at the
    smallest depth; the median/RMS ratio of a sum of L martingale increments converges at rate 1/L,
    for which 1/L at the smallest depth is allowed.
    """
    low = float(smallest_depth)
    return abs(1 - 4 * beta) * c_sigma * low ** (1 - 4 * beta) / 4 + 1 / low


def as_stored(result):
    """A SimResult as the grid's StoredCell, so tests can use the grid's estimators directly."""
    from sim.grid.store import StoredCell

    return StoredCell(key=result.cell.key(), cell=result.cell, logs=result.logs, nonfinite=result.nonfinite,
                      seconds=result.seconds, device=result.device, dtype=result.dtype,
                      timings=result.timings)
