"""Conjecture checks (slow tier): observed thresholds of correlated initializations against the
finite-depth threshold theory predicts for the depths simulated (docs/theory.md §4.4, §4.8), with the
asymptotic beta_c printed beside it.

Each check simulates one family over a beta grid bracketing the prediction at depths 64..4096
(CRN across beta), estimates the zero crossing of the median-deviation slope with the grid's
estimator and asks whether theory's finite-depth threshold lies in its Fieller interval at
family-wise level 1e-4 over the 6 checks (z = 4.15 each). Where the data contradict a prediction
the check is an expected failure carrying the measured value; it is never loosened.

Run with: python -m pytest -m slow tests/stats/test_conjectures.py
"""

from __future__ import annotations

import numpy as np
import pytest
from stat_tools import as_stored, z_critical

import theory
from sim import Cell, simulate_betas
from sim.grid.regimes import find_threshold, slope_for

pytestmark = pytest.mark.slow

DEPTHS = (64, 256, 1024, 4096)
Z = z_critical(1e-4, 6)


def observed_threshold(base: Cell, betas: np.ndarray):
    data: dict[float, dict] = {float(b): {} for b in betas}
    for depth in DEPTHS:
        for res in simulate_betas(base.replace(depth=depth), [float(b) for b in betas]):
            data[res.cell.beta][depth] = as_stored(res)
    keys = sorted(data)
    fits = [slope_for(data[b], "diff") for b in keys]
    return find_threshold(keys, fits, [data[b] for b in keys], "diff", z=Z)


CASES = {
    "res3 relu fgn H=0.2": Cell(block="res3", activation="relu", init="fgn", hurst=0.2, width=16, samples=96),
    "res3 relu fgn H=0.8": Cell(block="res3", activation="relu", init="fgn", hurst=0.8, width=16, samples=96),
    "res3 relu fgn H=0.9": Cell(block="res3", activation="relu", init="fgn", hurst=0.9, width=16, samples=96),
    "res3 tanh fgn H=0.9": Cell(block="res3", activation="tanh", init="fgn", hurst=0.9, width=16, samples=96),
    "res1 relu fgn H=0.8": Cell(block="res1", activation="relu", init="fgn", hurst=0.8, width=16, samples=96),
    "res3 relu smooth l=0.1": Cell(block="res3", activation="relu", init="smooth", lengthscale=0.1, width=16,
                                   samples=96),
}

# Filled from measured runs where the data contradict the prediction (see the README).
EXPECTED_FAILURES: dict[str, str] = {}


@pytest.mark.parametrize("name", list(CASES))
def test_observed_threshold_matches_finite_depth_prediction(name: str, request: pytest.FixtureRequest) -> None:
    if name in EXPECTED_FAILURES:
        request.applymarker(pytest.mark.xfail(reason=EXPECTED_FAILURES[name], strict=True))
    base = CASES[name]
    probe = base.replace(depth=max(DEPTHS))
    predicted = theory.finite_depth_threshold(probe, list(DEPTHS))
    asymptotic = float(theory.critical_beta(probe))
    betas = np.round(np.linspace(predicted - 0.2, predicted + 0.2, 9), 4)
    betas = betas[betas >= 0]
    found = observed_threshold(base, betas)
    print(f"{name}: observed {found.beta_c} [{found.lo}, {found.hi}], finite-depth {predicted:.4f}, "
          f"asymptotic {asymptotic:.4f}")
    assert found.lo is not None, f"{name}: no zero crossing found ({found})"
    assert found.lo <= predicted <= found.hi, (
        f"{name}: finite-depth threshold {predicted:.4f} outside [{found.lo:.4f}, {found.hi:.4f}] "
        f"(observed {found.beta_c:.4f}; asymptotic beta_c {asymptotic:.4f})")
