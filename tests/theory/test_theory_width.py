"""The typical norm at small width (docs/theory.md §4.9) and the claim statuses that say what is
proved: the registry, the width rule, the exact planar drift and the finite-depth median law.

Deterministic except the two Monte Carlo checks, which use fixed seeds and a per-assertion level of
1e-4 (z = 3.89): their false-failure rate is at most 2e-4 together.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sympy
from stat_tools import assert_z

import theory
from sim import Cell
from theory import claim
from theory.width import _log_median_deviation, log_norm_drift, median_regime, norm_regime, width_rule_applies

LEVEL = 1e-4


def test_statuses_say_what_is_proved() -> None:
    assert claim("hermite-growth").status == "asymptotic"
    assert claim("hermite-threshold").status == "conjecture"
    exact_slope = claim("iid-deviation-slope")
    assert exact_slope.status == "exact" and "median" not in exact_slope.statement
    assert claim("iid-median-slope").status == "asymptotic"
    sde = claim("iid-neural-sde")
    assert sde.status == "theorem" and "Hayou" in sde.source
    assert sde.applies(Cell(block="res1", beta=0.5)) and not sde.applies(Cell(block="res3", beta=0.5))
    assert claim("res3-neural-sde").status == "asymptotic"
    assert claim("res3-neural-sde").source.startswith("derived here")
    ode = claim("smooth-neural-ode")
    fbm = Cell(init="fbm", hurst=0.7, beta=1.0)
    assert ode.status == "theorem" and not ode.applies(fbm) and ode.applies(Cell(init="shared", beta=1.0))
    assert claim("fbm-neural-ode").applies(fbm) and claim("fbm-neural-ode").status == "asymptotic"


def test_the_trichotomy_is_judged_by_medians_only_where_they_follow_it() -> None:
    tri = claim("iid-trichotomy")
    small, wide = Cell(width=2, beta=0.3), Cell(width=16, beta=0.3)
    assert tri.applies(small) and tri.applies(wide)
    assert not tri.judged_on(small) and tri.judged_on(wide)
    assert claim("iid-median-width").judged_on(small)


def test_the_cli_cites_the_median_slope_as_asymptotic() -> None:
    done = subprocess.run([sys.executable, "-m", "theory", "--block", "res3", "--activation", "relu", "--init", "iid",
                           "--width", "16", "--beta", "0.7"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    line = next(s for s in done.stdout.splitlines() if s.startswith("depth exponent"))
    assert "[asymptotic; iid-median-slope]" in line


@pytest.mark.parametrize(("width", "beta", "fwd", "diff"), [
    (1, 0.3, "collapse", "flat"), (2, 0.3, "flat", "flat"), (3, 0.3, "explode", "explode"),
    (16, 0.3, "explode", "explode"), (2, 0.0, "explode", "explode"), (1, 0.5, "flat", "non-trivial"),
    (2, 0.7, "flat", "identity"), (16, 0.7, "flat", "identity")])
def test_median_regimes_by_width(width: int, beta: float, fwd: str, diff: str) -> None:
    cell = Cell(width=width, beta=beta)
    assert (norm_regime(cell), median_regime(cell, "diff")) == (fwd, diff)
    assert theory.regime(cell) == ("explode" if beta < 0.5 else "non-trivial" if beta == 0.5 else "identity")


def test_what_the_width_rule_does_not_cover() -> None:
    assert not width_rule_applies(Cell(width=2, beta=0.3, init="fgn", hurst=0.7))
    assert not width_rule_applies(Cell(width=2, beta=0.3, activation="tanh"))
    for cell in (Cell(width=1, beta=0.0), Cell(width=2, beta=0.2, dist="uniform")):
        with pytest.raises(theory.NotCovered):
            norm_regime(cell)
    with pytest.raises(theory.NotCovered):
        median_regime(Cell(width=2, beta=0.3), "bwd_diff")
    assert median_regime(Cell(width=16, beta=0.3), "bwd_diff") == "explode"


def _one_layer_drift(width: int, alpha: float, activation: str, n: int, seed: int) -> tuple[float, float]:
    """Monte Carlo of E log(||u + alpha V sigma(W u)||^2) for a unit u, Gaussian W, V of variance
    1/d: (mean, standard error) over n independent layers."""
    rng = np.random.default_rng(seed)
    u = np.zeros(width)
    u[0] = 1.0
    w = rng.standard_normal((n, width, width)) / np.sqrt(width)
    v = rng.standard_normal((n, width, width)) / np.sqrt(width)
    pre = w @ u
    s = np.maximum(pre, 0.0) if activation == "relu" else pre
    xi = np.log(((u + alpha * np.einsum("nij,nj->ni", v, s)) ** 2).sum(axis=1))
    return float(xi.mean()), float(xi.std(ddof=1) / np.sqrt(n))


@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_planar_drift_is_exact(activation: str) -> None:
    """m(alpha, 2) = E[E1(1/(alpha^2 r))] (Jensen's formula) against a direct simulation of one layer,
    at alpha = 1/2 (L = 4, beta = 1/2) and alpha = 1 (beta = 0); smallest detectable error about 4 SE
    (~1e-3 at alpha = 1/2)."""
    for depth, beta, seed in ((4, 0.5, 1), (4, 0.0, 2)):
        cell = Cell(width=2, depth=depth, beta=beta, activation=activation)
        mean, se = _one_layer_drift(2, depth ** -beta, activation, 400_000, seed)
        assert_z(mean, se, log_norm_drift(cell), LEVEL, tests=4, what=f"m(alpha, 2), {activation}, beta={beta}")


def test_leading_order_drift_at_wider_widths() -> None:
    """c_sigma (1 - 2/d) alpha^2 against one simulated layer at alpha = 1/8 (L = 64, beta = 1/2), d = 3
    and 8; the O(alpha^4) remainder (about alpha^4 = 2.4e-4) is the documented bias allowance."""
    for width, seed in ((3, 3), (8, 4)):
        cell = Cell(width=width, depth=64, beta=0.5)
        mean, se = _one_layer_drift(width, 0.125, "relu", 400_000, seed)
        assert_z(mean, se, log_norm_drift(cell), LEVEL, tests=2, bias=0.125**4, what=f"m(1/8, {width})")
        assert sympy.nsimplify(log_norm_drift(cell)) == sympy.Rational(1, 2) * (1 - sympy.Rational(2, width)) / 64


@pytest.mark.parametrize(("width", "centre", "variance"), [(1, -0.5, 1.0), (2, 0.0, 7.0), (2, 0.3, 0.5)])
def test_median_deviation_law(width: int, centre: float, variance: float) -> None:
    """log median |e^Z - 1| by quadrature against 10^6 draws of Z (fixed seed): the sample median's
    log has sd about 1.25 s / sqrt(n) with s the log-deviation's spread; allowed 1e-2 (> 5 of those)."""
    rng = np.random.default_rng(5)
    n = 1_000_000
    z = rng.normal(centre, np.sqrt(variance), n) + (1j * rng.normal(0, np.sqrt(variance), n) if width == 2 else 0)
    observed = float(np.log(np.median(np.abs(np.exp(z) - 1))))
    assert abs(_log_median_deviation(centre, variance, width) - observed) < 1e-2
