"""The backward finite-depth threshold against the observed crossing of the gradient's deviation (slow
tier; docs/theory.md §4.10).

Each check simulates one family at d = 16 over a beta grid bracketing the backward law's threshold
beta*_b (9 betas 0.05 apart, CRN across beta) at depths 64, 128, ..., 4096 with 256 networks per cell,
estimates the zero crossing of the median ||p_0 - p_L|| slope with the grid's estimator and asks:

1. whether beta*_b lies in the crossing's Fieller interval (every case);
2. for relu with H > 1/2, whether the forward law's threshold beta* (docs/theory.md §4.8, which the
   verdicts borrowed before the backward law existed) lies above the interval: the gradient's crossing
   is detectably below the forward one.

Level: family-wise 1e-4 over the 8 assertions (Bonferroni, z = 4.37 for each two-sided interval), so a
true law fails this file with probability at most 1e-4 (the interval's own coverage is asymptotic).
Smallest detectable error: the interval's half-width, about 0.04 at this z (0.02 at 95%). The relu
cases lie outside the law's validity rule (the forward mean square exceeds 1 at L = 4096 at beta*_b,
`theory.backward_threshold_valid`), which is conservative: check 1 holds there too and is asserted, so
that a change of the law or of the engine that moves it is seen. iid weights are the unchanged case
(beta*_b = 1/2).

Run with: python -m pytest -m slow tests/stats/test_backward_threshold.py   (about 3 minutes on 2 cores)
"""

from __future__ import annotations

import numpy as np
import pytest
from stat_tools import as_stored, z_critical

import theory
from sim import Cell, simulate_betas
from sim.grid.regimes import find_threshold, slope_for

pytestmark = pytest.mark.slow

DEPTHS = (64, 128, 256, 512, 1024, 2048, 4096)
Z = z_critical(1e-4, 8)

CASES = {
    "res3 relu iid": Cell(activation="relu", init="iid", width=16, samples=256),
    "res3 relu fgn H=0.65": Cell(activation="relu", init="fgn", hurst=0.65, width=16, samples=256),
    "res3 relu fgn H=0.8": Cell(activation="relu", init="fgn", hurst=0.8, width=16, samples=256),
    "res3 relu fgn H=0.9": Cell(activation="relu", init="fgn", hurst=0.9, width=16, samples=256),
    "res3 tanh fgn H=0.9": Cell(activation="tanh", init="fgn", hurst=0.9, width=16, samples=256),
}
# The cases where the forward law's threshold must lie above the observed backward interval.
FORWARD_ABOVE = ("res3 relu fgn H=0.65", "res3 relu fgn H=0.8", "res3 relu fgn H=0.9")


def observed_backward_threshold(base: Cell, betas: np.ndarray):
    data: dict[float, dict] = {float(b): {} for b in betas}
    for depth in DEPTHS:
        for res in simulate_betas(base.replace(depth=depth), [float(b) for b in betas]):
            data[res.cell.beta][depth] = as_stored(res)
    keys = sorted(data)
    fits = [slope_for(data[b], "bwd_diff") for b in keys]
    return find_threshold(keys, fits, [data[b] for b in keys], "bwd_diff", z=Z)


@pytest.mark.parametrize("name", list(CASES))
def test_observed_backward_threshold_matches_backward_law(name: str) -> None:
    base = CASES[name]
    probe = base.replace(depth=max(DEPTHS))
    predicted = theory.backward_finite_depth_threshold(probe, list(DEPTHS))
    forward = theory.finite_depth_threshold(probe, list(DEPTHS))
    valid = theory.backward_threshold_valid(probe, list(DEPTHS))
    betas = np.round(np.linspace(predicted - 0.2, predicted + 0.2, 9), 4)
    found = observed_backward_threshold(base, betas[betas >= 0])
    print(f"{name}: observed {found.beta_c} [{found.lo}, {found.hi}], backward law {predicted:.4f} "
          f"({'valid' if valid else 'outside validity'}), forward law {forward:.4f}")
    assert found.lo is not None, f"{name}: no zero crossing found ({found})"
    assert found.lo <= predicted <= found.hi, (
        f"{name}: backward finite-depth threshold {predicted:.4f} outside [{found.lo:.4f}, {found.hi:.4f}] "
        f"(observed {found.beta_c:.4f}; forward law {forward:.4f})")
    if name in FORWARD_ABOVE:
        assert found.hi < forward, (f"{name}: forward law {forward:.4f} inside [{found.lo:.4f}, {found.hi:.4f}]: "
                                    "the gradient's crossing is not detectably below the forward one")
    if name == "res3 relu iid":
        assert predicted == pytest.approx(0.5, abs=1e-12) and valid
