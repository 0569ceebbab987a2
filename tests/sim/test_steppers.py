"""Layers as Runge-Kutta steps: orders of convergence, gradients against autograd for every block
and stepper, the shared-weight step as the stability polynomial, the exact second moment of the
antisymmetric Euler network, and Euler against RK4 growth with iid weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from stat_tools import assert_z, mean_and_se

from sim import Cell, simulate, simulate_betas
from sim.engine import FixedWeights, _beta_blocks
from sim.steppers import TABLEAUX, integrate, run_chunk
from sim.steppers import reference_forward_backward as reference_any
from sim.weights import WeightSource, input_and_direction

CPU = torch.device("cpu")
QUANTITIES = ("fwd", "diff", "bwd", "bwd_diff")


@pytest.mark.parametrize("stepper", sorted(TABLEAUX))
def test_order_of_convergence(stepper: str) -> None:
    """y' = cos(t) y on [0, 2], y(0) = 1, solution exp(sin t): the fitted log-log slope of the
    error against the number of steps is -order within 0.2 (deterministic, float64). Steps from
    16 to 256 keep RK4's error (~1e-12 at 256) above rounding."""
    steps = np.array([16, 32, 64, 128, 256])
    exact = math.exp(math.sin(2.0))
    errors = [abs(float(integrate(lambda t, y: math.cos(t) * y, torch.ones((), dtype=torch.float64),
                                  0.0, 2.0, int(n), stepper)) - exact) for n in steps]
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope + TABLEAUX[stepper].order) <= 0.2, (stepper, slope, errors)


def test_integrate_rejects_bad_steps() -> None:
    with pytest.raises(ValueError, match="steps=0"):
        integrate(lambda t, y: y, torch.ones(()), 0.0, 1.0, 0, "rk4")
    with pytest.raises(ValueError, match="stepper='rk5'"):
        integrate(lambda t, y: y, torch.ones(()), 0.0, 1.0, 4, "rk5")


CASES = [(block, act, stepper) for block in ("res3", "res1", "linear", "antisym")
         for act in ("relu", "tanh") for stepper in ("euler", "heun", "rk4")
         if not (block == "linear" and act == "tanh")]


@pytest.mark.parametrize(("block", "activation", "stepper"), CASES)
def test_engine_matches_autograd(block: str, activation: str, stepper: str) -> None:
    """The engine's renormalized forward pass and manual adjoint equal a plain autograd network
    with the same weights, for every block and stepper (float64, relative to rounding)."""
    cell = Cell(block=block, activation=activation, stepper=stepper, init="fgn", hurst=0.7, depth=12,
                width=6, samples=3, beta=0.4, dtype="float64", device="cpu", seed=3,
                damping=0.3 if block == "antisym" else 0.0)
    ids = range(cell.samples)
    v, w = WeightSource(cell, ids, CPU, torch.float64).layers()
    assert v.shape[1] == cell.weight_layers
    h0, u = input_and_direction(cell, ids, CPU, torch.float64)
    expected = reference_any(cell, v, w, h0, u)
    got = simulate(cell)
    for q in QUANTITIES:
        np.testing.assert_allclose(got.logs[q], expected[q].numpy(), rtol=0, atol=1e-10, err_msg=q)


@pytest.mark.parametrize("block", ["res3", "res1", "linear"])
def test_stepper_loop_reproduces_euler_engine(block: str) -> None:
    """The generic stage loop with Euler's tableau gives the engine's Euler numbers (float64)."""
    cell = Cell(block=block, init="iid", depth=20, width=5, samples=3, dtype="float64", device="cpu")
    ids = range(cell.samples)
    v, w = WeightSource(cell, ids, CPU, torch.float64).layers()
    h0, u = input_and_direction(cell, ids, CPU, torch.float64)
    alpha = _beta_blocks(torch.tensor([cell.alpha], dtype=torch.float64), 8)
    base = torch.linalg.vector_norm(h0, dim=1).log().view(1, -1, 1)
    logs, _, _ = run_chunk(cell, FixedWeights(v, w), h0, u, alpha, base, False)
    engine = simulate(cell)
    for i, q in enumerate(QUANTITIES):
        np.testing.assert_allclose(logs[i][0, :, 0].numpy(), engine.logs[q], atol=1e-12, err_msg=q)


@pytest.mark.parametrize("stepper", ["euler", "heun", "rk4"])
def test_shared_linear_antisym_step_is_the_stability_polynomial(stepper: str) -> None:
    """With shared weights and the identity activation every stage sees A = K - K^T - gamma I, so
    h_L = R(alpha A)^L h_0 with R = 1 + z, 1 + z + z^2/2, sum_{m<=4} z^m/m! (float64, exact)."""
    cell = Cell(block="antisym", activation="identity", init="shared", stepper=stepper, damping=0.2,
                depth=40, width=7, samples=4, beta=0.3, dtype="float64", device="cpu")
    ids = range(cell.samples)
    k, _ = WeightSource(cell, ids, CPU, torch.float64).layer(0)
    z = cell.alpha * (k - k.transpose(-1, -2) - 0.2 * torch.eye(7, dtype=torch.float64))
    order = {"euler": 1, "heun": 2, "rk4": 4}[stepper]
    r = sum(torch.linalg.matrix_power(z, m) / math.factorial(m) for m in range(order + 1))
    h0, _ = input_and_direction(cell, ids, CPU, torch.float64)
    h = (torch.linalg.matrix_power(r, cell.depth) @ h0.unsqueeze(-1)).squeeze(-1)
    expected = (torch.linalg.vector_norm(h, dim=1) / torch.linalg.vector_norm(h0, dim=1)).log()
    np.testing.assert_allclose(simulate(cell).logs["fwd"], expected.numpy(), atol=1e-10)


def test_betas_batched_equal_single_and_exploding_cells_stay_finite() -> None:
    """Common random numbers across beta for multi-stage steppers (bitwise), and an Euler
    antisym network whose norm grows like exp(L alpha^2) stays finite in float32."""
    cell = Cell(block="antisym", activation="tanh", init="smooth", lengthscale=0.2, stepper="heun",
                depth=30, width=8, samples=4, device="cpu")
    several = simulate_betas(cell, [0.0, 0.5, 1.0])
    single = simulate(cell.replace(beta=0.5))
    for q in QUANTITIES:
        np.testing.assert_array_equal(several[1].logs[q], single.logs[q])
    boom = simulate(Cell(block="antisym", activation="identity", init="shared", depth=3000, width=16,
                         samples=4, beta=0.0, device="cpu", dtype="float32"))
    assert all(n == 0 for n in boom.nonfinite.values())
    assert boom.logs["fwd"].min() > 80  # e^80 overflows float32: renormalization keeps it finite


def test_exact_second_moment_antisym_euler_iid() -> None:
    """Antisymmetric S = K - K^T gives <h, S h> = 0, so with the identity activation
    E[||h_{k+1}||^2 | h_k] = ((1 - alpha gamma)^2 + alpha^2 2(d-1)/d) ||h_k||^2 exactly, whatever
    the zero-mean entry law of variance 1/d. z-test of the mean of exp(2 fwd) over 4000 networks,
    level 1e-4 per assertion, 4 assertions (z = 4.0; false-failure rate 1e-4 for the family).
    Smallest detectable relative error about 4 SE, here about 1% of the moment; an engine that
    dropped the transpose (S = K) would give (1 + alpha^2)^L instead and fail by many SE."""
    base = Cell(block="antisym", activation="identity", init="iid", depth=32, width=8, samples=4000,
                dtype="float64", device="cpu", seed=5)
    for dist, gamma in (("gaussian", 0.0), ("uniform", 0.0), ("gaussian", 0.5)):
        cell = base.replace(dist=dist, damping=gamma)
        for res in simulate_betas(cell, [0.5] if gamma else [0.5, 1.0]):
            a, d = res.cell.alpha, cell.width
            expected = ((1 - a * gamma) ** 2 + 2 * a * a * (d - 1) / d) ** cell.depth
            est, se = mean_and_se(np.exp(2 * res.logs["fwd"]))
            assert_z(est, se, expected, level=1e-4, tests=5, what=res.cell.label())


def test_euler_grows_where_rk4_does_not_iid_antisym() -> None:
    """beta = 0.3, iid antisym, identity activation, d = 16. Euler: log ||h_L||^2 = sum_k
    log(1 + alpha^2 ||S u_k||^2), mean L (alpha^2 s_2 - alpha^4 E||Su||^4 / 2 + ...), s_2 = 2(d-1)/d,
    so it grows like L^{1 - 2 beta} = L^0.4 (30 at L = 1024). RK4 (stages at k, k+1/2, k+1 with
    interpolated weights): the alpha^2 term of the growth cancels, so the norm stays of order
    L alpha^4 = L^{-0.2}. Checks: Euler's mean log ||h_L||^2 over 64 networks is within 5% of the
    two-term expansion at L = 256 and 1024 (the neglected alpha^6 term is below 0.5%; Monte Carlo
    SE below 0.5%), and RK4's stays below 1 in absolute value at every depth."""
    for depth in (256, 1024):
        cell = Cell(block="antisym", activation="identity", init="iid", depth=depth, width=16, samples=64,
                    beta=0.3, dtype="float64", device="cpu", seed=7)
        a2, d = cell.alpha**2, cell.width
        s2 = 2 * (d - 1) / d
        # E||S u||^4 for unit u: Var + mean^2; for Gaussian entries ||S u||^2 ~ (2/d) chi^2_{d-1}
        fourth = (2 / d) ** 2 * ((d - 1) ** 2 + 2 * (d - 1))
        euler = 2 * simulate(cell).logs["fwd"]
        expected = depth * (a2 * s2 - a2 * a2 * fourth / 2)
        assert abs(euler.mean() / expected - 1) < 0.05, (depth, euler.mean(), expected)
        rk4 = 2 * simulate(cell.replace(stepper="rk4")).logs["fwd"]
        assert np.abs(rk4).max() < 1.0, (depth, rk4)
