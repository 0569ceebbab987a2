"""A direct numpy Monte Carlo of small networks against the finite-depth formula (docs/theory.md §4.8).

Independent of `sim`: weights are drawn by a Cholesky factor of the layer covariance, which is
exact in law. At beta = 2 the neglected terms are of relative order alpha_L^2 L = L^-3 (4e-4 at
L = 16), so the tolerance is Monte Carlo error only: |mean - theory| < 4.5 SE, a two-sided level
of about 7e-6 per assertion (Gaussian approximation of the mean of 400 draws), plus 1e-3 of the
prediction for the quadrature of the formula. The smallest detectable relative error is about
4.5 SE / mean, 8 to 16 percent here, enough to catch a wrong kernel, variance or factor of d.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.cell import Cell
from theory import finite_depth_deviation
from theory.covariance import fbm_covariance, fgn_autocovariance

_ACT = {"relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh, "identity": lambda x: x}


def _layer_factor(cell: Cell) -> np.ndarray:
    lags = np.arange(cell.depth)
    if cell.init == "fgn":
        cov = fgn_autocovariance(cell.hurst, lags[:, None] - lags[None, :])
    else:
        cov = fbm_covariance(cell.hurst, cell.depth, slice(0, cell.depth))
    return np.linalg.cholesky(cov + 1e-12 * np.eye(cell.depth))


def _simulate(cell: Cell, samples: int, seed: int) -> np.ndarray:
    """(samples,) values of ||h_L - h_0||^2 / ||h_0||^2 for a unit random h_0."""
    rng = np.random.default_rng(seed)
    depth, width = cell.depth, cell.width
    factor = _layer_factor(cell)
    sigma = _ACT["identity" if cell.block == "linear" else cell.activation]
    alpha = depth ** (-cell.beta)
    out = np.empty(samples)
    for s in range(samples):
        v = np.einsum("kl,lij->kij", factor, rng.standard_normal((depth, width, width))) / np.sqrt(width)
        w = None
        if cell.block == "res3":
            w = np.einsum("kl,lij->kij", factor, rng.standard_normal((depth, width, width))) / np.sqrt(width)
        x = rng.standard_normal(width)
        h0 = x / np.linalg.norm(x)
        h = h0.copy()
        for k in range(depth):
            pre = w[k] @ h if w is not None else h
            h = h + alpha * v[k] @ sigma(pre)
        out[s] = np.sum((h - h0) ** 2)
    return out


@pytest.mark.parametrize("cell", [
    Cell(init="fgn", hurst=0.8, depth=16, width=16, beta=2.0),
    Cell(init="fbm", hurst=0.7, depth=16, width=8, beta=2.0, activation="tanh"),
    Cell(block="res1", init="fgn", hurst=0.8, depth=16, width=16, beta=2.0, activation="tanh"),
], ids=lambda c: c.label())
def test_finite_depth_formula_matches_monte_carlo(cell):
    draws = _simulate(cell, 400, seed=12345)
    mean, se = draws.mean(), draws.std(ddof=1) / np.sqrt(draws.size)
    theory = finite_depth_deviation(cell)
    assert abs(mean - theory) < 4.5 * se + 1e-3 * theory, (cell.label(), mean, se, theory)
