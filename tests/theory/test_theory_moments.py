"""Exact second moments, their depth limits, c_sigma and the log-normal law (docs/theory.md §4.2, §4.3)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy
from numpy.polynomial.hermite_e import hermegauss
from scipy import integrate

from sim.cell import Cell
from theory import (
    L,
    NotCovered,
    beta,
    c_sigma,
    d,
    deviation_second_moment,
    exact_deviation_expr,
    exact_deviation_slope,
    exact_moment_expr,
    first_layer_moment,
    lognormal_law,
    lognormal_law_expr,
    moment_limit,
    second_moment,
    tau,
    width_limit_moment,
)
from theory.symbols import a

HOMOGENEOUS = [("relu", 0.01), ("leaky_relu", 0.2), ("identity", 0.01)]


@pytest.mark.parametrize("activation, slope", HOMOGENEOUS)
def test_moment_limits_are_infinite_exp_c_and_one(activation, slope):
    c = c_sigma(activation, slope)
    assert moment_limit("res3", activation, 0.25, slope) == sympy.oo
    assert moment_limit("res3", activation, 0.5, slope) == sympy.exp(c)
    assert moment_limit("res3", activation, 0.75, slope) == 1


def test_moment_limit_linear_block_and_not_covered():
    assert moment_limit("linear", "relu", "0.5") == sympy.E  # the V h block has c = 1
    with pytest.raises(NotCovered):
        moment_limit("res1", "relu", 0.5)


def test_c_sigma_symbolic_values():
    assert c_sigma("relu") == sympy.Rational(1, 2)
    assert c_sigma("identity") == 1
    assert sympy.simplify(c_sigma("leaky_relu", a) - (1 + a**2) / 2) == 0
    assert c_sigma("leaky_relu", 0.1) == sympy.Rational(101, 200)


def _quad_mean_square(f) -> float:
    value, _ = integrate.quad(lambda x: f(x) ** 2 * math.exp(-x * x / 2) / math.sqrt(2 * math.pi),
                              -np.inf, np.inf, epsabs=1e-13, epsrel=1e-13)
    return value


def test_c_sigma_symbolic_agrees_with_quadrature():
    assert float(c_sigma("relu")) == pytest.approx(_quad_mean_square(lambda x: max(x, 0.0)), abs=1e-10)
    assert float(c_sigma("leaky_relu", 0.3)) == pytest.approx(
        _quad_mean_square(lambda x: x if x > 0 else 0.3 * x), abs=1e-10)
    assert float(c_sigma("identity")) == pytest.approx(_quad_mean_square(lambda x: x), abs=1e-10)


def test_tanh_c_sigma_agrees_with_independent_quadrature():
    # Independent references: mpmath at 30 digits, and a 200-node Gauss-Hermite rule.
    mpmath.mp.dps = 30
    reference = mpmath.quad(lambda x: mpmath.tanh(x) ** 2 * mpmath.npdf(x), [-mpmath.inf, 0, mpmath.inf])
    x, w = hermegauss(200)
    gauss_hermite = float(w @ np.tanh(x) ** 2) / math.sqrt(2 * math.pi)
    value = c_sigma("tanh")
    assert isinstance(value, sympy.Float)
    assert abs(float(value) - float(reference)) < 1e-8
    assert abs(float(value) - gauss_hermite) < 1e-8


def test_exact_second_moment_of_a_cell():
    cell = Cell(depth=64, beta=0.5)
    assert second_moment(cell).doit() == sympy.Rational(129, 128) ** 64
    assert sympy.simplify(deviation_second_moment(cell).doit() - second_moment(cell).doit() + 1) == 0
    # symbolic law in L and beta, substituted
    assert exact_moment_expr("relu").subs({L: 64, beta: sympy.Rational(1, 2)}) == sympy.Rational(129, 128) ** 64
    assert exact_deviation_expr("identity").subs({L: 4, beta: 1}) == sympy.Rational(17, 16) ** 4 - 1


@pytest.mark.parametrize("cell", [
    Cell(activation="tanh"),
    Cell(init="fgn", hurst=0.8),
    Cell(block="res1"),
])
def test_exact_moment_not_covered_outside_its_scope(cell):
    with pytest.raises(NotCovered):
        second_moment(cell)


def test_fgn_with_half_hurst_is_iid():
    assert second_moment(Cell(init="fgn", hurst=0.5)) == second_moment(Cell())


def test_res1_first_layer_is_exact_and_width_limit_is_the_iterate():
    cell = Cell(block="res1", depth=64, beta=0.5)
    assert first_layer_moment(cell) == 1 + sympy.Rational(1, 128)
    assert width_limit_moment(cell).doit() == sympy.Rational(129, 128) ** 64
    with pytest.raises(NotCovered):
        first_layer_moment(Cell())
    # tanh: the large-width recursion falls below the linear (1 + alpha^2)^L as tanh saturates
    tanh = float(width_limit_moment(Cell(activation="tanh", depth=64, beta=0.5)))
    assert 1.0 < tanh < (1 + 1 / 64) ** 64


def test_lognormal_law_matches_spec_numbers():
    mean, var = lognormal_law(Cell(width=32, depth=256, beta=0.5))
    assert (mean, var) == (sympy.Rational(15, 32), sympy.Rational(1, 16))


@pytest.mark.parametrize("activation, slope", HOMOGENEOUS)
def test_lognormal_law_agrees_with_exact_moment_to_leading_order(activation, slope):
    mean, var = lognormal_law_expr(activation, slope)
    c = c_sigma(activation, slope)
    # E exp(X) for X ~ Normal(mean, var) is exp(mean + var/2): the width cancels exactly ...
    lognormal_moment = sympy.exp(mean + var / 2)
    assert sympy.simplify(lognormal_moment - sympy.exp(c * tau)) == 0
    # ... and equals the L -> oo limit of the exact moment at fixed tau = L alpha^2,
    exact_at_tau = (1 + c * tau / L) ** L
    assert sympy.simplify(sympy.limit(exact_at_tau, L, sympy.oo) - lognormal_moment) == 0
    # with a relative correction of order 1/L: L (log exact - log lognormal) -> -c^2 tau^2 / 2.
    gap = L * (L * sympy.log(1 + c * tau / L) - (mean + var / 2))
    assert sympy.simplify(sympy.limit(gap, L, sympy.oo) + c**2 * tau**2 / 2) == 0
    assert d in mean.free_symbols


def test_lognormal_not_covered_for_res1_relu():
    with pytest.raises(NotCovered):
        lognormal_law(Cell(block="res1"))


@pytest.mark.parametrize("beta_value", [sympy.Rational(3, 4), sympy.Integer(1)])
def test_exact_deviation_slope_limit_is_half_minus_beta(beta_value):
    dev = exact_deviation_expr("relu").subs(beta, beta_value)
    slope = sympy.limit(L * sympy.diff(sympy.log(dev) / 2, L), L, sympy.oo)
    assert slope == sympy.Rational(1, 2) - beta_value
    numeric = exact_deviation_slope(Cell(beta=float(beta_value)), [2**20, 2**21])
    assert numeric == pytest.approx(float(sympy.Rational(1, 2) - beta_value), abs=2e-3)
