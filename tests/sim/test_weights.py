"""The weight generators are exact in law: autocovariances along the layer index are checked
against the closed forms of docs/theory.md §2 by z-tests.

Independence: entries at different (i, j) positions and different samples are independent paths,
so per-path statistics give honest standard errors. Family-wise level 1e-4 per test function
(Bonferroni over its assertions): the false-failure rate of the whole file is below 1e-3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from stat_tools import assert_z

from sim.cell import Cell
from sim.weights import WeightSource, circulant_eigenvalues, embedding_size, fgn_autocovariance, substream_seed

CPU = torch.device("cpu")
HURSTS = (0.05, 0.2, 0.5, 0.8, 0.97)
LAGS = range(6)


def unit_paths(cell: Cell, samples: int, dtype: torch.dtype = torch.float64) -> np.ndarray:
    """(paths, L) weight paths of V, rescaled by sqrt(d) to unit variance per layer."""
    src = WeightSource(cell, range(samples), CPU, dtype)
    v, _ = src.layers()  # (S, L, d, d)
    paths = v.permute(0, 2, 3, 1).reshape(-1, cell.depth) * math.sqrt(cell.width)
    return paths.numpy()


def lag_products(paths: np.ndarray, lag: int) -> np.ndarray:
    """Per path, the mean over positions of x_k x_{k+lag}: unbiased for gamma(lag)."""
    depth = paths.shape[1]
    return (paths[:, : depth - lag] * paths[:, lag:]).mean(axis=1)


@pytest.mark.parametrize("hurst", HURSTS)
def test_fgn_autocovariance_matches_gamma_h(hurst: float) -> None:
    """Empirical lag-n autocovariance of fGn paths against gamma_H(n), n = 0..5.

    4096 independent paths of length 64; level 1e-4 over 6 lags. Smallest detectable error:
    about 4.4 standard errors, ~0.01 at lag 0 and ~0.005 at lags >= 1 for mid-range H (the SE is
    printed on failure). A generator that ignores H (gamma = delta) fails at every H != 0.5 by
    10 SE or more; the published generator that is wrong above H ~ 0.75 fails at 0.8 and 0.97.
    """
    cell = Cell(block="res1", init="fgn", hurst=hurst, depth=64, width=32, samples=2, seed=3)
    paths = unit_paths(cell, samples=4)
    for lag in LAGS:
        prods = lag_products(paths, lag)
        est, se = prods.mean(), prods.std(ddof=1) / math.sqrt(len(prods))
        expected = float(fgn_autocovariance(hurst, np.array([lag]))[0])
        assert_z(est, se, expected, level=1e-4, tests=len(LAGS), what=f"fGn H={hurst} lag {lag}")


def _seven_smooth(m: int) -> bool:
    for p in (2, 3, 5, 7):
        while m % p == 0:
            m //= p
    return m == 1


def test_embedding_size_is_twice_the_next_seven_smooth_length() -> None:
    """n = 2m, m the smallest integer >= L with prime factors 2, 3, 5, 7 only (a fast FFT length);
    n = 2L (the classical Davies-Harte size) whenever L is itself such a number."""
    for depth in range(1, 2100):
        n = embedding_size(depth)
        m = n // 2
        assert n % 2 == 0 and m >= depth and _seven_smooth(m), (depth, n)
        assert not any(_seven_smooth(k) for k in range(depth, m)), (depth, n)
    assert embedding_size(1000) == 2000 and embedding_size(1024) == 2048
    assert embedding_size(1009) == 2048 and embedding_size(1025) == 2058
    with pytest.raises(ValueError, match="length=0"):
        embedding_size(0)


@pytest.mark.parametrize("hurst", (0.2, 0.8))
def test_fgn_law_holds_with_a_padded_embedding(hurst: float) -> None:
    """L = 61 (prime) embeds in n = 2 * 63 > 2L: lags 0, 1, 2 and the longest ones (59, 60), where
    a wrongly wrapped embedding would show, against gamma_H; level 1e-4 over 5 lags.

    4096 paths: at lags 59 and 60 each path has only 2 and 1 products, so the SE is about
    1/sqrt(4096) ~ 0.016 and the test detects an error of about 0.07 there. Checked: a circulant of
    size 64 (too small: lag 60 wraps onto lag 4, gamma_H(4) = 0.28 against gamma_H(60) = 0.09 at
    H = 0.8) fails here by 10 SE and more at H = 0.8.
    """
    cell = Cell(block="res1", init="fgn", hurst=hurst, depth=61, width=32, samples=2, seed=11)
    assert embedding_size(cell.depth) == 126
    paths = unit_paths(cell, samples=4)
    lags = (0, 1, 2, 59, 60)
    for lag in lags:
        prods = lag_products(paths, lag)
        expected = float(fgn_autocovariance(hurst, np.array([lag]))[0])
        assert_z(prods.mean(), prods.std(ddof=1) / math.sqrt(len(prods)), expected, level=1e-4,
                 tests=len(lags), what=f"fGn H={hurst} L=61 lag {lag}")


def test_fgn_embedding_is_nonnegative_across_h() -> None:
    """Davies-Harte embedding of fGn has non-negative eigenvalues for every H (so no fallback)."""
    for hurst in (0.01, 0.05, 0.3, 0.5, 0.75, 0.9, 0.97, 0.99):
        for depth in (1, 2, 7, 61, 64, 1000, 1009, 1025):  # 61, 1009, 1025: padded embeddings
            assert circulant_eigenvalues(hurst, depth) is not None, (hurst, depth)


@pytest.mark.parametrize("hurst", (0.2, 0.5, 0.85))
def test_fbm_variance_grows_like_t_to_2h(hurst: float) -> None:
    """Var B_H(t_k) = t_k^(2H) at t = 1/4, 1/2, 1 (k = L/4 - 1, L/2 - 1, L - 1); level 1e-4 over 3.

    Per-path squares are independent across paths, so SE = sd/sqrt(paths) exactly; detects a
    wrong exponent (t^1 instead of t^2H) at t = 1/4 for |H - 1/2| >= 0.1.
    """
    cell = Cell(block="res1", init="fbm", hurst=hurst, depth=64, width=32, samples=2, seed=5)
    paths = unit_paths(cell, samples=4)
    for t in (0.25, 0.5, 1.0):
        k = int(t * cell.depth) - 1
        sq = paths[:, k] ** 2
        assert_z(sq.mean(), sq.std(ddof=1) / math.sqrt(len(sq)), t ** (2 * hurst), level=1e-4,
                 tests=3, what=f"fBm H={hurst} t={t}")


@pytest.mark.parametrize("lengthscale", (0.05, 0.3))
def test_smooth_matches_gaussian_kernel(lengthscale: float) -> None:
    """Covariance of smooth paths at lags 0, 1, 4, 16 against exp(-(n/L)^2 / (2 l^2)); 1e-4 over 4."""
    cell = Cell(block="res1", init="smooth", lengthscale=lengthscale, depth=64, width=32, samples=2, seed=7)
    paths = unit_paths(cell, samples=4)
    for lag in (0, 1, 4, 16):
        prods = lag_products(paths, lag)
        expected = math.exp(-((lag / cell.depth) ** 2) / (2 * lengthscale**2))
        assert_z(prods.mean(), prods.std(ddof=1) / math.sqrt(len(prods)), expected, level=1e-4,
                 tests=4, what=f"smooth l={lengthscale} lag {lag}")


def test_shared_is_constant_along_layers() -> None:
    cell = Cell(block="res3", init="shared", depth=10, width=4, samples=2)
    v, w = WeightSource(cell, range(2), CPU, torch.float64).layers()
    assert torch.equal(v, v[:, :1].expand_as(v)) and torch.equal(w, w[:, :1].expand_as(w))
    assert not torch.equal(v, w)


@pytest.mark.parametrize("dist", ("gaussian", "uniform"))
def test_iid_variance_and_independence(dist: str) -> None:
    """iid entries: variance 1/d, zero lag-1 covariance, uniform entries within sqrt(3/d).

    Level 1e-4 over 2 assertions; 8 samples x 2 x 16^2 entries x 64 layers of draws.
    """
    cell = Cell(block="res3", init="iid", dist=dist, depth=64, width=16, samples=2, seed=11)
    v, w = WeightSource(cell, range(8), CPU, torch.float64).layers()
    paths = torch.cat([v, w], 1).permute(0, 2, 3, 1).reshape(-1, 64).numpy() * 4.0
    for lag, expected in ((0, 1.0), (1, 0.0)):
        prods = lag_products(paths, lag)
        assert_z(prods.mean(), prods.std(ddof=1) / math.sqrt(len(prods)), expected, level=1e-4,
                 tests=2, what=f"iid {dist} lag {lag}")
    if dist == "uniform":
        assert v.abs().max() <= math.sqrt(3 / 16)


def test_draws_are_per_sample_and_ignore_beta_dtype_samples() -> None:
    """Sample i's weights depend on (seed, draw identity, i) only."""
    a = Cell(init="fgn", hurst=0.7, depth=16, width=4, samples=3, beta=0.2)
    b = a.replace(beta=0.9, samples=5, dtype="float64")
    va, _ = WeightSource(a, range(3), CPU, torch.float64).layers()
    vb, _ = WeightSource(b, range(1, 5), CPU, torch.float64).layers()
    assert torch.equal(va[1:], vb[:2])
    vc, _ = WeightSource(a.replace(seed=1), range(3), CPU, torch.float64).layers()
    assert not torch.equal(va, vc)


def test_substream_seed_is_stable() -> None:
    # Reference values computed once with this implementation (blake2b, 8 bytes, >> 1); a change
    # would silently change every stored result, so it must bump ENGINE_VERSION.
    assert substream_seed(0, 0, "io") == 503289403892785572
    assert substream_seed(123, "x") == 1253240618188979913
    assert substream_seed(0, 0, "io") != substream_seed(0, 1, "io")
