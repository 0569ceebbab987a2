"""Statistics of the exact-law checks, computed from stored per-sample logs (never by simulating).

Two checks, each a pure function of one cell's samples and theory's closed form:

- `moment_check`: the Monte Carlo mean of R = ||h_L||^2/||h_0||^2 = exp(2 fwd) (or of the deviation
  exp(2 diff)) against an exact second moment, by a t-test. Means of exploding quantities are
  heavy-tailed, so the test is only run where the mean is *well estimated*: where the sample mean
  of n draws is close enough to normal for a t-test. For a log-normal R with log-variance v
  (docs/theory.md §4.3 says log R is close to normal) the skewness of R is (e^v + 2) sqrt(e^v - 1) and that of
  the mean of n draws is this over sqrt(n); it must be at most `MAX_MEAN_SKEWNESS`, with v the
  sample variance of 2 fwd. (At n = 16 that allows v up to about 0.3, at n = 200 about 1.1; beyond
  it a handful of draws dominate the mean, whose sample value and standard error then both fall
  short of the truth and a t-test would report false disagreements.)
- `lognormal_check`: mean and variance of X = 2 fwd against the normal law of docs/theory.md §4.3 by z-tests,
  with the finite-depth bias allowances derived in tests/stats/test_critical_law.py (c^2/L for the
  mean and 2 c^2/L for the variance, c = c_sigma), and a Kolmogorov-Smirnov test of the shape against
  the predicted (not fitted) normal law.

Levels: each verdict uses a family-wise level `LEVEL` split by Bonferroni over the assertions that
make it. Moment checks use Student-t critical values with n - 1 degrees of freedom (their standard
error comes from the same draws; at n = 16 this matters); the critical-law checks use normal ones
(`z_critical`), their standard errors being floored by the predicted law's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.01
MAX_MEAN_SKEWNESS = 0.5
# The leading-order deviation formula of docs/theory.md §4.8 drops terms of relative size alpha_L^2 L; it is
# tested only where that is at most a quarter, with the dropped size itself as the bias allowance.
MAX_RELATIVE_BIAS = 0.25


def z_critical(level: float, tests: int = 1) -> float:
    """Two-sided critical value at family-wise `level` over `tests` assertions (Bonferroni)."""
    return float(stats.norm.isf(level / (2 * max(tests, 1))))


def mean_skewness(log_variance: float, n: int) -> float:
    """Skewness of the mean of n log-normal draws with log-variance `log_variance`."""
    if not math.isfinite(log_variance) or log_variance > 700:
        return math.inf
    grow = math.expm1(log_variance)
    return (grow + 3.0) * math.sqrt(grow) / math.sqrt(n)


@dataclass(frozen=True)
class MomentCheck:
    """Monte Carlo mean of exp(2 log-ratio) against a closed form."""

    n: int
    mean: float
    se: float
    predicted: float
    well_estimated: bool
    log_variance: float

    @property
    def z(self) -> float:
        """(mean - predicted) / se; inf when se is zero and they differ."""
        if self.se > 0:
            return (self.mean - self.predicted) / self.se
        return 0.0 if self.mean == self.predicted else math.inf

    def critical(self, level: float, tests: int = 1) -> float:
        """Two-sided critical value of |z| at family-wise `level` over `tests`: Student's t with n - 1
        degrees of freedom, since the standard error is estimated from the same n draws."""
        return float(stats.t.isf(level / (2 * max(tests, 1)), max(self.n - 1, 1)))

    def passes(self, level: float, tests: int = 1) -> bool:
        """True when |z| is within `critical(level, tests)`."""
        return abs(self.z) <= self.critical(level, tests)

    def within(self, level: float, tests: int, allowance: float) -> bool:
        """True when |mean - predicted| <= critical * se + allowance (a documented bias allowance)."""
        return abs(self.mean - self.predicted) <= self.critical(level, tests) * self.se + allowance


def moment_check(logs: np.ndarray, predicted: float) -> MomentCheck:
    """Check E exp(2 logs) = predicted from per-sample natural logs `logs` (shape (samples,))."""
    logs = np.asarray(logs, dtype=np.float64)
    logs = logs[np.isfinite(logs)]
    n = len(logs)
    two = 2.0 * logs
    log_var = float(two.var(ddof=1)) if n > 1 else math.inf
    well = n > 1 and mean_skewness(log_var, n) <= MAX_MEAN_SKEWNESS and float(two.max()) < 700.0
    if not well:
        return MomentCheck(n, math.nan, math.nan, predicted, False, log_var)
    values = np.exp(two)
    return MomentCheck(n, float(values.mean()), float(values.std(ddof=1) / math.sqrt(n)), predicted,
                       True, log_var)


@dataclass(frozen=True)
class LawCheck:
    """Mean, variance and shape of X = 2 fwd against Normal(mean, var)."""

    n: int
    mean: float
    mean_se: float
    var: float
    var_se: float
    predicted_mean: float
    predicted_var: float
    mean_bias: float
    var_bias: float
    ks_statistic: float
    ks_pvalue: float

    def mean_ok(self, zcrit: float) -> bool:
        """|mean - predicted| <= zcrit * se + bias allowance."""
        return abs(self.mean - self.predicted_mean) <= zcrit * self.mean_se + self.mean_bias

    def var_ok(self, zcrit: float) -> bool:
        """|variance - predicted| <= zcrit * se + bias allowance."""
        return abs(self.var - self.predicted_var) <= zcrit * self.var_se + self.var_bias

    def ks_ok(self, level: float) -> bool:
        """The KS test does not reject at `level`."""
        return self.ks_pvalue > level


def lognormal_check(x: np.ndarray, mean: float, var: float, c: float, depth: int) -> LawCheck:
    """Compare samples `x` of 2 fwd (shape (samples,)) with Normal(mean, var) at depth `depth`.

    Standard errors are the larger of the one under the predicted law (sqrt(var/n) for the mean,
    var sqrt(2/(n-1)) for the variance) and the sample one (sd/sqrt(n); sqrt((m4 - s^4)/n) from the
    sample fourth moment). The null one keeps the test calibrated at small n, where a sample that
    happens to be narrow would otherwise shrink its own standard error; the sample one keeps it
    honest when the law has heavier tails than predicted.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = len(x)
    centred = x - x.mean()
    s2 = float(centred.var(ddof=1))
    m4 = float((centred**4).mean())
    ks = stats.kstest(x, "norm", args=(mean, math.sqrt(var)))
    mean_se = max(math.sqrt(s2 / n), math.sqrt(var / n))
    var_se = max(math.sqrt(max(m4 - s2**2, 0.0) / n), var * math.sqrt(2.0 / (n - 1)))
    return LawCheck(
        n=n, mean=float(x.mean()), mean_se=mean_se, var=s2, var_se=var_se,
        predicted_mean=mean, predicted_var=var,
        mean_bias=c**2 / depth, var_bias=2 * c**2 / depth,
        ks_statistic=float(ks.statistic), ks_pvalue=float(ks.pvalue),
    )
