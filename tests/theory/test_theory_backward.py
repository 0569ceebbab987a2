"""The backward pass at finite depth (docs/theory.md §4.10) and the exact gradient moments (§4.6).

Deterministic checks of the closed forms (kernel identities, special cases, the threshold's closed
form, the validity rule), then Monte Carlo checks of the derivation itself:

- `test_leading_order_sum_matches_monte_carlo`: the leading-order sum sum_k J_k^T u computed directly
  (weights drawn by a Cholesky factor of the layer covariance, exact in law, independent of `sim`)
  against S_b(L). Being the leading-order term itself, nothing is neglected: the tolerance is Monte
  Carlo error only, |mean - S_b| < z SE with z at family-wise level 1e-4 over the 4 cells (z = 4.17),
  so a true formula fails with probability 1e-4. With 16000 draws the smallest detectable relative
  error is about z SE / mean, 5 to 7 percent: a missing radial term (about 1/3 of S_b at d = 4) or a
  wrong factor of d is caught.
- `test_engine_backward_deviation_at_tiny_alpha`: the engine's ||p_0 - p_L||^2 at beta = 2, where the
  terms the law drops are of relative order alpha^2 S_b <= 4e-3 (allowed as bias), same level.
- `test_engine_gradient_moments_are_exact_for_iid`: the exact laws of §4.6 at beta = 1/4, L = 16, d = 4
  (alpha = 1/2, nothing small), z-tests at family-wise level 1e-4 over 2 assertions (z = 3.89); the
  smallest detectable relative error is about 3.89 SE / mean, 2 to 3 percent.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from numpy.polynomial.hermite_e import hermegauss
from scipy import optimize
from stat_tools import assert_z, mean_and_se

from sim.cell import Cell
from theory import (
    backward_critical_beta,
    backward_finite_depth_slope,
    backward_finite_depth_sum,
    backward_finite_depth_threshold,
    backward_law_valid,
    backward_threshold_valid,
    critical_beta,
    finite_depth_sum,
    finite_depth_threshold,
    rho,
)
from theory.activations import kappa, kappa_derivative, kappa_derivative_expr, kappa_expr, radial_kernel
from theory.covariance import fgn_autocovariance

SIMULATED = [64, 128, 256, 512, 1024, 2048, 4096]
QUICK = [16, 64, 256, 1024]
_ACT = {"relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh}
_DERIVATIVE = {"relu": lambda x: (x > 0).astype(float), "tanh": lambda x: 1.0 - np.tanh(x) ** 2}


# ---------------------------------------------------------------------- kernels
@pytest.mark.parametrize("activation, slope", [("relu", 0.0), ("leaky_relu", 0.2), ("identity", 1.0)])
def test_kernel_of_sigma_prime_is_the_derivative_of_kappa(activation, slope):
    exact = sympy.Rational(1, 5) if activation == "leaky_relu" else slope
    derivative = sympy.diff(kappa_expr(activation, exact), rho)
    closed = kappa_derivative_expr(activation, exact)
    for value in (-0.9, -0.3, 0.0, 0.4, 0.95):
        assert float(derivative.subs(rho, value)) == pytest.approx(float(closed.subs(rho, value)), abs=1e-12)
        assert float(kappa_derivative(activation, value, negative_slope=slope)) == pytest.approx(
            float(closed.subs(rho, value)), abs=1e-12)


def _two_dimensional(f, g, correlation: float) -> float:
    """E[f(X) g(Y)] for standard normals with the given correlation (200 x 200 Gauss-Hermite rule)."""
    x, w = hermegauss(200)
    w = w / math.sqrt(2 * math.pi)
    first = x[:, None]
    second = correlation * x[:, None] + math.sqrt(1 - correlation**2) * x[None, :]
    return float(np.sum(w[:, None] * w[None, :] * f(first) * g(second)))


@pytest.mark.parametrize("activation, q", [("tanh", 1 / 16), ("tanh", 1.0), ("gelu", 1 / 16), ("gelu", 0.5)])
@pytest.mark.parametrize("correlation", [-0.6, 0.3, 0.9])
def test_numerical_kernels_match_two_dimensional_quadrature(activation, q, correlation):
    from theory.activations import numeric_derivative

    slope = numeric_derivative(activation)
    s = math.sqrt(q)
    along = _two_dimensional(lambda x: slope(s * x), lambda y: slope(s * y), correlation)
    radial = _two_dimensional(lambda x: x * slope(s * x), lambda y: y * slope(s * y), correlation)
    assert float(kappa_derivative(activation, correlation, q=q)) == pytest.approx(along, abs=1e-10)
    assert float(radial_kernel(activation, correlation, q=q)) == pytest.approx(radial, abs=1e-10)


def test_radial_kernel_of_homogeneous_sigma_is_kappa():
    r = np.linspace(-1, 1, 21)
    assert np.allclose(radial_kernel("relu", r, negative_slope=0.0), kappa("relu", r, negative_slope=0.0))
    assert np.allclose(radial_kernel("leaky_relu", r, negative_slope=0.3), kappa("leaky_relu", r, negative_slope=0.3))


# ---------------------------------------------------------------------- special cases
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "identity"])
def test_iid_backward_sum_is_the_forward_one(activation):
    """gamma = delta: S_b = L [(1 - 1/d) kappa'(1) + kappa(1)/d] = L c_sigma, the forward S(L)."""
    for width in (1, 3, 16):
        cell = Cell(activation=activation, width=width)
        for depth in (7, 100):
            assert backward_finite_depth_sum(cell, depth) == pytest.approx(finite_depth_sum(cell, depth), rel=1e-12)


@pytest.mark.parametrize("cell", [
    Cell(block="linear", init="fgn", hurst=0.8),
    Cell(block="res1", activation="relu", init="fgn", hurst=0.3),
    Cell(block="res3", activation="identity", init="fgn", hurst=0.9, width=8),
    Cell(block="res3", activation="relu", init="shared", width=8),
], ids=lambda c: c.label())
def test_backward_sum_equals_forward_where_the_laws_coincide(cell):
    """linear and res1 with homogeneous sigma (G = F = c_sigma), res3 identity (summand gamma^2 both ways),
    shared weights (L^2 c_sigma both ways: kappa'(1)(1 - 1/d) + kappa(1)/d = c_sigma)."""
    for depth in (16, 300):
        assert backward_finite_depth_sum(cell, depth) == pytest.approx(finite_depth_sum(cell, depth), rel=1e-12)


def test_threshold_closed_form_equals_root_of_slope():
    cell = Cell(activation="relu", init="fgn", hurst=0.8, width=16)
    root = optimize.brentq(lambda b: backward_finite_depth_slope(cell.replace(beta=b), SIMULATED), 0.0, 2.0,
                           xtol=1e-12)
    assert backward_finite_depth_threshold(cell, SIMULATED) == pytest.approx(root, abs=1e-9)


def test_relu_backward_threshold_sits_below_the_forward_one():
    """The numbers quoted in docs/theory.md §4.10 (d = 16)."""
    cell = Cell(activation="relu", init="fgn", hurst=0.8, width=16)
    assert backward_finite_depth_threshold(cell, QUICK) == pytest.approx(0.6232, abs=5e-4)
    assert finite_depth_threshold(cell, QUICK) == pytest.approx(0.7451, abs=5e-4)
    assert backward_finite_depth_threshold(cell, SIMULATED) == pytest.approx(0.6362, abs=5e-4)
    iid = Cell(activation="relu", init="iid", width=16)
    assert backward_finite_depth_threshold(iid, SIMULATED) == pytest.approx(0.5, abs=1e-12)


def test_large_l_reading_at_finite_and_infinite_width():
    """At finite width the radial term (weight 1/d, sum gamma ~ L^2H) eventually wins: the local exponent of
    S_b tends to 2H; without it (d -> infinity) to max(1, 4H - 2)."""
    for hurst in (0.8, 0.9):
        cell = Cell(activation="relu", init="fgn", hurst=hurst, width=16)
        assert float(backward_critical_beta(cell)) == pytest.approx(float(critical_beta(cell)))
        assert float(backward_critical_beta(cell, infinite_width=True)) == pytest.approx(max(0.5, 2 * hurst - 1))
        wide = cell.replace(width=10**9)
        depths = [2**16, 2**17]
        assert backward_finite_depth_threshold(wide, depths) == pytest.approx(2 * hurst - 1, abs=0.01)
    tanh = Cell(activation="tanh", init="fgn", hurst=0.9, width=16)
    assert float(backward_critical_beta(tanh)) == pytest.approx(0.8)


# ---------------------------------------------------------------------- validity
def test_validity_rule():
    relu = Cell(activation="relu", init="fgn", hurst=0.8, width=16)
    assert not backward_threshold_valid(relu, QUICK)  # forward mean square ~2 at L = 1024 there
    assert backward_law_valid(relu.replace(beta=0.8), QUICK)
    assert not backward_law_valid(relu.replace(beta=0.6), QUICK)
    assert backward_threshold_valid(Cell(activation="tanh", init="fgn", hurst=0.9, width=16), SIMULATED)
    assert backward_law_valid(Cell(activation="relu", init="iid", beta=0.1, width=16), QUICK)  # iid: always
    assert backward_law_valid(Cell(block="linear", init="fgn", hurst=0.9, beta=0.1), QUICK)  # state-free J


def test_not_covered_and_bad_depths():
    from theory import NotCovered

    with pytest.raises(NotCovered):
        backward_finite_depth_sum(Cell(init="fbm", hurst=0.7))
    with pytest.raises(NotCovered):
        backward_finite_depth_sum(Cell(activation="relu", stepper="heun"))
    with pytest.raises(ValueError, match="depths"):
        backward_finite_depth_threshold(Cell(), [64, 64])


# ---------------------------------------------------------------------- Monte Carlo of the derivation

def _leading_sum(cell: Cell, samples: int, seed: int) -> np.ndarray:
    """(samples,) values of ||sum_k J_k^T u||^2 with J_k at h_0, for unit random h_0 and u."""
    rng = np.random.default_rng(seed)
    depth, width = cell.depth, cell.width
    lags = np.arange(depth)
    factor = np.linalg.cholesky(fgn_autocovariance(cell.hurst, lags[:, None] - lags[None, :])
                                + 1e-12 * np.eye(depth))
    slope = _DERIVATIVE[cell.activation]
    out = []
    for _ in range(samples // 2000):
        v = np.einsum("kl,mlij->mkij", factor, rng.standard_normal((2000, depth, width, width))) / math.sqrt(width)
        h = rng.standard_normal((2000, width))
        h /= np.linalg.norm(h, axis=1, keepdims=True)
        u = rng.standard_normal((2000, width))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        vu = np.einsum("mkij,mi->mkj", v, u)  # V_k^T u
        if cell.block == "res3":
            w = np.einsum("kl,mlij->mkij", factor, rng.standard_normal((2000, depth, width, width))) / math.sqrt(width)
            total = np.einsum("mkij,mki->mj", w, slope(np.einsum("mkij,mj->mki", w, h)) * vu)
        else:
            total = (slope(h)[:, None, :] * vu).sum(axis=1)
        out.append(np.sum(total**2, axis=1))
    return np.concatenate(out)


@pytest.mark.parametrize("cell", [
    Cell(activation="relu", init="fgn", hurst=0.8, depth=16, width=4),
    Cell(activation="relu", init="fgn", hurst=0.3, depth=12, width=3),
    Cell(activation="tanh", init="fgn", hurst=0.9, depth=16, width=4),
    Cell(block="res1", activation="tanh", init="fgn", hurst=0.8, depth=16, width=4),
], ids=lambda c: c.label())
def test_leading_order_sum_matches_monte_carlo(cell):
    draws = _leading_sum(cell, 16000, seed=2024)
    mean, se = mean_and_se(draws)
    assert_z(mean, se, backward_finite_depth_sum(cell), level=1e-4, tests=4, what=cell.label())


def test_engine_backward_deviation_at_tiny_alpha():
    from sim import simulate

    cell = Cell(activation="relu", init="fgn", hurst=0.8, depth=16, width=8, beta=2.0, samples=6000,
                dtype="float64", device="cpu", seed=11)
    draws = np.exp(2.0 * np.asarray(simulate(cell).logs["bwd_diff"])) / cell.alpha**2
    mean, se = mean_and_se(draws)
    predicted = backward_finite_depth_sum(cell)
    # dropped terms: relative order alpha^2 S_b (docs/theory.md §4.10), a bias, not noise
    bias = cell.alpha**2 * predicted * predicted
    assert_z(mean, se, predicted, level=1e-4, bias=bias, what="engine bwd_diff at beta = 2")


def test_engine_gradient_moments_are_exact_for_iid():
    from sim import simulate

    cell = Cell(activation="relu", init="iid", depth=16, width=4, beta=0.25, samples=40000, dtype="float64",
                device="cpu", seed=7)
    logs = simulate(cell).logs
    law = (1 + 0.5 * cell.alpha**2) ** cell.depth
    for quantity, expected in (("bwd", law), ("bwd_diff", law - 1)):
        mean, se = mean_and_se(np.exp(2.0 * np.asarray(logs[quantity])))
        assert_z(mean, se, expected, level=1e-4, tests=2, what=quantity)
