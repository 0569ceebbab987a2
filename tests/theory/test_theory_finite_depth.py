"""The leading-order finite-depth deviation and threshold (docs/theory.md §4.8)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from numpy.polynomial.hermite_e import hermegauss
from scipy import integrate, optimize, special

from sim.cell import Cell
from theory import (
    L,
    c_sigma,
    critical_beta,
    exact_deviation_expr,
    finite_depth_deviation,
    finite_depth_slope,
    finite_depth_sum,
    finite_depth_threshold,
    kappa,
    kappa_expr,
    rho,
)
from theory.activations import cross_kappa
from theory.covariance import fbm_covariance, fgn_autocovariance
from theory.symbols import alpha

SIMULATED = [64, 128, 256, 512, 1024, 2048, 4096]
LARGE = [2**14, 2**15, 2**16]
SMALL = [2**6, 2**7, 2**8]


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "identity"])
def test_iid_reduces_to_first_order_term_of_exact_moment(activation):
    x = sympy.Symbol("x", positive=True)  # x stands for alpha_L^2
    law = exact_deviation_expr(activation).subs(alpha**2, x)
    first_order = sympy.diff(law, x)
    for depth, b in [(64, 0.5), (1000, 0.7), (7, 0.3)]:
        cell = Cell(activation=activation, depth=depth, beta=b)
        expected = float(first_order.subs({x: 0, L: depth})) * depth ** (-2 * b)
        assert finite_depth_deviation(cell) == pytest.approx(expected, rel=1e-12)
        assert expected == pytest.approx(depth * float(c_sigma(activation)) * depth ** (-2 * b), rel=1e-12)


def test_iid_tanh_uses_c_sigma_at_the_input_variance():
    cell = Cell(activation="tanh", depth=100, width=16, beta=0.6)
    expected = 100 * float(c_sigma("tanh", q=1 / 16)) * 100 ** (-1.2)
    assert finite_depth_deviation(cell) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("activation, hursts", [
    # H chosen so that the next power of L is at least L^0.4 below the leading one: at
    # L ~ 2^15 its weight is below 2^-6, which bounds the fitted bias by about 0.015.
    ("relu", [0.3, 0.7, 0.8]),
    ("tanh", [0.3, 0.6, 0.9]),
    ("identity", [0.3, 0.6, 0.9]),
])
def test_large_depth_growth_reproduces_critical_beta(activation, hursts):
    for hurst in hursts:
        cell = Cell(init="fgn", hurst=hurst, activation=activation)
        target = float(critical_beta(cell))
        far = finite_depth_threshold(cell, LARGE)
        near = finite_depth_threshold(cell, SMALL)
        assert abs(far - target) < 0.015, (activation, hurst, far, target)
        assert abs(far - target) <= abs(near - target) + 1e-9, (activation, hurst, near, far)


def test_relu_h08_threshold_is_between_half_and_h():
    cell = Cell(init="fgn", hurst=0.8)
    threshold = finite_depth_threshold(cell, SIMULATED)
    assert 0.5 < threshold < 0.8
    assert threshold == pytest.approx(0.76, abs=0.01)  # docs/theory.md §4.8's quick check


def test_threshold_closed_form_equals_root_of_slope():
    cell = Cell(init="fgn", hurst=0.8)
    root = optimize.brentq(lambda b: finite_depth_slope(cell.replace(beta=b), SIMULATED), 0.0, 2.0,
                           xtol=1e-12)
    assert root == pytest.approx(finite_depth_threshold(cell, SIMULATED), abs=1e-9)
    # and the slope is exactly (threshold - beta)
    for b in (0.1, 0.9, 1.7):
        assert finite_depth_slope(cell.replace(beta=b), SIMULATED) == pytest.approx(
            finite_depth_threshold(cell, SIMULATED) - b, abs=1e-12)


def test_continuous_weights_give_threshold_near_one():
    assert finite_depth_threshold(Cell(init="shared"), [64, 4096]) == pytest.approx(1.0, abs=1e-12)
    assert finite_depth_threshold(Cell(init="smooth", lengthscale=0.1), SIMULATED) == pytest.approx(1.0, abs=1e-3)
    fbm = finite_depth_threshold(Cell(init="fbm", hurst=0.7), [128, 256, 512])
    assert fbm == pytest.approx(1.0, abs=0.02)


def test_res1_fgn_sum_is_l_to_the_2h_times_input_factor():
    cell = Cell(block="res1", init="fgn", hurst=0.8, depth=300)
    assert finite_depth_sum(cell) == pytest.approx(300**1.6 * 0.5, rel=1e-10)
    linear = Cell(block="linear", init="fgn", hurst=0.3, depth=300)
    assert finite_depth_sum(linear) == pytest.approx(300**0.6, rel=1e-10)


def test_fbm_sums_match_brute_force_double_sums():
    depth, hurst = 40, 0.35
    cov = fbm_covariance(hurst, depth, slice(0, depth))
    res1 = Cell(block="linear", init="fbm", hurst=hurst, depth=depth)
    assert finite_depth_sum(res1) == pytest.approx(cov.sum(), rel=1e-12)
    ident = Cell(activation="identity", init="fbm", hurst=hurst, depth=depth)
    assert finite_depth_sum(ident) == pytest.approx((cov**2).sum(), rel=1e-12)


def test_fgn_autocovariance_is_accurate_at_long_lags():
    lags = np.array([0, 1, 2, 10, 1000, 2**20])
    direct = np.array([0.5 * (abs(n + 1) ** 1.6 - 2 * abs(n) ** 1.6 + abs(n - 1) ** 1.6)
                       for n in lags[:-1]])
    assert np.allclose(fgn_autocovariance(0.8, lags[:-1]), direct, rtol=1e-9)
    tail = 0.8 * 0.6 * float(2**20) ** (-0.4)  # H (2H - 1) n^(2H - 2) to relative O(1/n^2)
    assert fgn_autocovariance(0.8, lags)[-1] == pytest.approx(tail, rel=1e-9)


def test_relu_kernel_matches_one_dimensional_quadrature():
    # E[relu(X) relu(Y)] = E_X[relu(X) (m Phi(m/s) + s phi(m/s))] with m = rho X, s = sqrt(1 - rho^2)
    for r in (-0.7, 0.0, 0.4, 0.95):
        s = math.sqrt(1 - r * r)

        def inner(x: float, r: float = r, s: float = s) -> float:
            m = r * x
            return x * (m * special.ndtr(m / s) + s * math.exp(-m * m / (2 * s * s)) / math.sqrt(2 * math.pi))

        value, _ = integrate.quad(lambda x: inner(x) * math.exp(-x * x / 2) / math.sqrt(2 * math.pi),
                                  0, np.inf, epsabs=1e-13)
        assert float(kappa("relu", r)) == pytest.approx(value, abs=1e-10)
    assert sympy.simplify(kappa_expr("relu").subs(rho, 1) - c_sigma("relu")) == 0
    assert sympy.simplify(kappa_expr("leaky_relu", 0.3).subs(rho, 1) - c_sigma("leaky_relu", 0.3)) == 0
    assert kappa_expr("identity") == rho


def _two_dim(f, r: float, sa: float, sb: float, q: float) -> float:
    x, w = hermegauss(120)
    w = w / math.sqrt(2 * math.pi)
    xx, zz = np.meshgrid(x, x, indexing="ij")
    y = r * xx + math.sqrt(1 - r * r) * zz
    return float(np.einsum("i,j,ij->", w, w, f(sa * xx) * f(sb * y))) / q


@pytest.mark.parametrize("activation, f", [("tanh", np.tanh), ("gelu", lambda x: x * special.ndtr(x))])
def test_hermite_series_kernels_match_two_dimensional_quadrature(activation, f):
    for q in (1.0, 1 / 32):
        for r in (-0.5, 0.3, 0.9):
            expected = _two_dim(f, r, math.sqrt(q), math.sqrt(q), q)
            assert float(kappa(activation, r, q=q)) == pytest.approx(expected, abs=1e-9)
    va, vb, q, r = 0.3, 0.9, 1.0, 0.6
    expected = _two_dim(f, r, math.sqrt(q * va), math.sqrt(q * vb), q)
    got = cross_kappa(activation, np.array([[r]]), np.array([[va]]), np.array([vb]), q=q)
    assert float(got[0, 0]) == pytest.approx(expected, abs=1e-9)


def test_bad_depths_are_rejected():
    with pytest.raises(ValueError, match="depths"):
        finite_depth_threshold(Cell(), [64, 64])
    with pytest.raises(ValueError, match="depth"):
        finite_depth_deviation(Cell(), 0)
