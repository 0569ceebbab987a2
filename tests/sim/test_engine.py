"""The engine: exact laws by z-tests, gradients against autograd, reproducibility, overflow safety,
float32 against float64, and errors at the public entry points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from stat_tools import LOG_TOL, assert_z

import theory
from sim import Cell, simulate, simulate_betas
from sim.engine import QUANTITIES, ROW_BLOCK, SMALL_PRODUCT, reference_forward_backward, samples_per_chunk, state_rows
from sim.weights import WeightSource, input_and_direction

CPU = torch.device("cpu")

# (activation, dist, width) x beta in {0.5, 1.0}, plus one explosive but estimable cell:
# 2 x 2 x 2 x 2 + 2 = 18 assertions at family-wise level 1e-4.
EXACT_CASES = [(act, dist, width) for act in ("relu", "identity") for dist in ("gaussian", "uniform")
               for width in (8, 32)]
EXACT_TESTS = 18


@pytest.mark.parametrize(("activation", "dist", "width"), EXACT_CASES)
def test_exact_second_moment_res3_iid(activation: str, dist: str, width: int) -> None:
    """E ||h_L||^2 / ||h_0||^2 = (1 + c_sigma alpha^2)^L (docs/theory.md §4.2, exact at any width).

    z-test of the Monte Carlo mean of exp(2 fwd) over 4000 independent networks (L = 32), at
    family-wise level 1e-4 over the 18 assertions of this file's exact-law tests (z = 4.3 each).
    The reference value is theory.second_moment(cell). Smallest detectable relative error: about
    4.3 SE, i.e. 0.3% at beta = 1 and 2% at beta = 1/2 for d = 8 (printed on failure); replacing
    alpha_L = L^-beta by L^-beta/2 moves the beta = 1 moment by 1.5% (relu) and fails.
    """
    cell = Cell(block="res3", activation=activation, init="iid", dist=dist, depth=32, width=width,
                samples=4000, dtype="float64", seed=1)
    for res in simulate_betas(cell, [0.5, 1.0]):
        est, se = _mean_se(np.exp(2 * res.logs["fwd"]))
        expected = float(theory.second_moment(res.cell))
        assert_z(est, se, expected, level=1e-4, tests=EXACT_TESTS, what=res.cell.label())
        # E ||h_L - h_0||^2 = moment - 1 (martingale increments)
        est, se = _mean_se(np.exp(2 * res.logs["diff"]))
        assert_z(est, se, expected - 1.0, level=1e-4, tests=EXACT_TESTS, what=f"diff {res.cell.label()}")


def test_exact_second_moment_explosive_cell() -> None:
    """beta = 0.3, L = 16, relu, d = 16: the moment (1 + 0.5 L^-0.6)^16 = 6.4 is well estimated
    (fourth moments finite and moderate at this depth): 20000 networks, same family level."""
    cell = Cell(block="res3", activation="relu", init="iid", depth=16, width=16, beta=0.3,
                samples=20000, dtype="float64", seed=2)
    res = simulate(cell)
    est, se = _mean_se(np.exp(2 * res.logs["fwd"]))
    assert_z(est, se, float(theory.second_moment(cell)), level=1e-4, tests=EXACT_TESTS, what=cell.label())


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


BLOCK_CASES = [(block, act, init) for block in ("res3", "res1", "linear")
               for act in ("relu", "tanh", "gelu", "leaky_relu", "identity")
               for init in ("iid", "fgn", "fbm", "smooth", "shared")
               if not (block == "linear" and act != "identity")]


@pytest.mark.parametrize(("block", "activation", "init"), BLOCK_CASES)
def test_engine_matches_autograd(block: str, activation: str, init: str) -> None:
    """Forward quantities and dl/dh_0 of the renormalized manual recursion equal a plain autograd
    implementation in float64 to 1e-10 (a deterministic identity, no randomness involved)."""
    extra = {"fgn": {"hurst": 0.7}, "fbm": {"hurst": 0.3}, "smooth": {"lengthscale": 0.2}}.get(init, {})
    cell = Cell(block=block, activation=activation, init=init, depth=24, width=6, samples=4,
                beta=0.25, dtype="float64", negative_slope=0.2, input_dim=5, seed=4, **extra)
    res = simulate(cell)
    v, w = WeightSource(cell, range(4), CPU, torch.float64).layers()
    h0, u = input_and_direction(cell, range(4), CPU, torch.float64)
    ref = reference_forward_backward(cell, v, w, h0, u)
    for q in QUANTITIES:
        np.testing.assert_allclose(res.logs[q], ref[q].numpy(), rtol=1e-10, atol=1e-10, err_msg=q)


def test_same_seed_same_numbers_and_chunking_invariance() -> None:
    cell = Cell(init="fgn", hurst=0.8, depth=40, width=8, samples=10, beta=0.6, seed=9)
    a = simulate(cell)
    b = simulate(cell, max_memory=samples_budget(cell, 3))  # forced into chunks of 3 samples
    # 0.6 in the second block of BETA_BLOCK columns, beside other betas
    c = simulate_betas(cell, [0.0, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.7, 0.6, 1.2])[9]
    d = simulate(cell.replace(samples=14))
    for q in QUANTITIES:
        assert np.array_equal(a.logs[q], b.logs[q])
        assert np.array_equal(a.logs[q], c.logs[q])
        assert np.array_equal(a.logs[q], d.logs[q][:10])
    e = simulate(cell.replace(seed=10))
    assert not np.array_equal(a.logs["fwd"], e.logs["fwd"])


@pytest.mark.parametrize(("width", "dtype"), [(w, "float32") for w in (1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 40)]
                         + [(w, "float64") for w in (5, 9, 15, 40, 41)])
def test_beta_batching_is_bitwise_at_every_width(width: int, dtype: str) -> None:
    """A beta's numbers do not depend on how many betas share the call nor on its place among them,
    even where torch's own small-product loop would take over from BLAS (rows * d * d < 400: at
    d = 4, 16 rows against 32 once rounded differently) or where BLAS rounds a row by its position
    (widths 5 to 11 in float32 and odd widths in float64 did, before rows were aligned)."""
    cell = Cell(block="res3", init="iid", depth=16, width=width, samples=3, beta=0.5, seed=4, dtype=dtype)
    alone = simulate(cell)
    others = [0.05 * i for i in range(1, 40)]
    for batch in ([0.5, *others], [*others[:20], 0.5, *others[20:]], [*others, 0.5]):
        res = simulate_betas(cell, batch)[batch.index(0.5)]
        for q in QUANTITIES:
            assert np.array_equal(alone.logs[q], res.logs[q]), (width, len(batch), q)


def test_state_rows_pad_to_blocks_and_past_the_small_product_loop() -> None:
    for width in (1, 2, 3, 4, 5, 7, 8, 40, 512):
        for n_beta in (1, 7, 8, 9, 70):
            rows = state_rows(n_beta, width)
            assert rows % ROW_BLOCK == 0 and rows >= n_beta
            assert rows * width**2 >= SMALL_PRODUCT
            assert rows - ROW_BLOCK < max(n_beta, SMALL_PRODUCT / width**2)
    assert state_rows(70, 40) == 72 and state_rows(1, 40) == 8 and state_rows(1, 4) == 32


def test_iid_blocks_and_chunks_do_not_change_numbers() -> None:
    """iid weights come in layer blocks (2**20 entries per sample); a wide cell spans several."""
    cell = Cell(init="iid", depth=12, width=300, samples=3, beta=0.5, seed=2)
    src = WeightSource(cell, range(3), CPU, torch.float32)
    assert src.n_blocks > 1
    a = simulate(cell)
    b = simulate(cell, max_memory=samples_budget(cell, 1))
    for q in QUANTITIES:
        assert np.array_equal(a.logs[q], b.logs[q])


def samples_budget(cell: Cell, samples: int) -> int:
    """The smallest budget under which `samples` samples fit in one chunk."""
    lo, hi = 1, 2**34
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            fits = samples_per_chunk(cell, 1, mid) >= samples
        except ValueError:
            fits = False
        lo, hi = (lo, mid) if fits else (mid + 1, hi)
    assert samples_per_chunk(cell, 1, lo) == samples
    return lo


@pytest.mark.parametrize("activation", ("relu", "tanh", "gelu"))
@pytest.mark.parametrize("block", ("res3", "res1"))
def test_beta_zero_deep_gives_finite_logs(block: str, activation: str) -> None:
    """beta = 0, L = 4096: relu and gelu states grow like e^{cL}, far beyond float range; the logs
    must stay finite (no NaN, no inf) and large."""
    cell = Cell(block=block, activation=activation, init="iid", depth=4096, width=8, samples=4, beta=0.0)
    res = simulate(cell)
    for q in QUANTITIES:
        assert res.nonfinite[q] == 0 and np.isfinite(res.logs[q]).all(), (q, res.logs[q])
    if block == "res3" and activation != "tanh":
        assert res.logs["fwd"].min() > 100.0  # far beyond exp(88), the float32 overflow
    elif block == "res3":
        assert res.logs["fwd"].min() > 1.0  # tanh blocks add bounded steps: linear growth
    # res1 relu at d = 8 can reach a state with no positive coordinate and freeze there; the
    # requirement is only that such samples, like exploding ones, give finite logs.


@pytest.mark.parametrize(("init", "beta", "activation"),
                         [("iid", 0.5, "relu"), ("fgn", 0.8, "tanh"), ("smooth", 1.0, "gelu"),
                          ("iid", 1.0, "identity")])
def test_float32_agrees_with_float64(init: str, beta: float, activation: str) -> None:
    """Same draws (the random source is float32 in both), different arithmetic: per-sample logs
    agree to LOG_TOL['float32'] on non-exploding cells."""
    extra = {"fgn": {"hurst": 0.8}, "smooth": {"lengthscale": 0.3}}.get(init, {})
    cell = Cell(init=init, beta=beta, activation=activation, depth=256, width=16, samples=16, **extra)
    r32 = simulate(cell)
    r64 = simulate(cell.replace(dtype="float64"))
    for q in QUANTITIES:
        np.testing.assert_allclose(r32.logs[q], r64.logs[q], rtol=0, atol=LOG_TOL["float32"], err_msg=q)


def test_trajectory_endpoints_match_quantities() -> None:
    cell = Cell(init="fgn", hurst=0.3, depth=30, width=8, samples=5, beta=0.5, dtype="float64")
    res = simulate(cell, trajectory=True)
    traj = res.trajectory
    assert traj["log_h"].shape == (5, 31) and traj["log_p"].shape == (5, 31)
    np.testing.assert_allclose(traj["log_h"][:, 0], 0.0)
    np.testing.assert_allclose(traj["log_h"][:, -1], res.logs["fwd"], atol=1e-12)
    np.testing.assert_allclose(traj["log_p"][:, -1], 0.0)
    np.testing.assert_allclose(traj["log_p"][:, 0], res.logs["bwd"], atol=1e-12)


def test_bad_inputs_raise_precise_errors() -> None:
    cell = Cell(depth=4096, width=512, init="fgn", hurst=0.5, samples=2)
    with pytest.raises(ValueError, match=r"max_memory=.*one sample needs"):
        simulate(cell, max_memory="1M")
    with pytest.raises(ValueError, match=r"max_memory='lots' is not allowed"):
        simulate(Cell(depth=4, width=4, samples=2), max_memory="lots")
    with pytest.raises(ValueError, match=r"betas=\[\] is not allowed"):
        simulate_betas(Cell(depth=4, width=4, samples=2), [])
    with pytest.raises(ValueError, match=r"beta=-0.5 is not allowed"):
        simulate_betas(Cell(depth=4, width=4, samples=2), [0.5, -0.5])
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device='cuda' is not allowed"):
            simulate(Cell(depth=4, width=4, samples=2, device="cuda"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_autograd_and_float64() -> None:
    """On CUDA: the engine equals autograd in float64, and float32 agrees with float64."""
    cell = Cell(init="fgn", hurst=0.8, depth=64, width=16, samples=32, beta=0.6, device="cuda",
                dtype="float64")
    res = simulate(cell)
    dev = torch.device("cuda")
    v, w = WeightSource(cell, range(32), dev, torch.float64).layers()
    h0, u = input_and_direction(cell, range(32), dev, torch.float64)
    ref = reference_forward_backward(cell, v, w, h0, u)
    r32 = simulate(cell.replace(dtype="float32"))
    for q in QUANTITIES:
        np.testing.assert_allclose(res.logs[q], ref[q].cpu().numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(r32.logs[q], res.logs[q], atol=LOG_TOL["float32"])
