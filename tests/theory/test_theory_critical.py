"""Critical exponents, regimes and depth exponents (docs/theory.md §4.1, §4.4, §4.5): exact sympy values."""

from __future__ import annotations

import pytest
import sympy

from sim.cell import ACTIVATIONS, BLOCKS, INITS, Cell
from theory import (
    H,
    NotCovered,
    critical_beta,
    critical_beta_expr,
    depth_exponent,
    hermite_order,
    limit_object,
    regime,
)

HALF = sympy.Rational(1, 2)


def _cell(init: str, **kw) -> Cell:
    extra = {"hurst": 0.3} if init in ("fgn", "fbm") else {}
    if init == "smooth":
        extra = {"lengthscale": 0.2}
    return Cell(init=init, **{**extra, **kw})


@pytest.mark.parametrize("hurst, expected", [(0.2, HALF), (0.5, HALF), (0.8, sympy.Rational(4, 5))])
def test_res3_relu_fgn_critical_beta(hurst, expected):
    assert critical_beta(Cell(init="fgn", hurst=hurst)) == expected


def test_res3_tanh_fgn_critical_beta_is_2h_minus_1():
    # 2 * 0.9 - 1 is 0.8000000000000002 in floats; the exact answer is 4/5.
    assert critical_beta(Cell(init="fgn", hurst=0.9, activation="tanh")) == sympy.Rational(4, 5)


@pytest.mark.parametrize("init", ["smooth", "shared", "fbm"])
def test_continuous_weights_have_critical_beta_one(init):
    assert critical_beta(_cell(init)) == 1


def test_critical_beta_expressions_by_activation_class():
    assert critical_beta_expr("res3", "relu", "fgn") == sympy.Max(HALF, H)
    assert critical_beta_expr("res3", "gelu", "fgn") == sympy.Max(HALF, H)
    assert critical_beta_expr("res3", "leaky_relu", "fgn", 0.2) == sympy.Max(HALF, H)
    assert critical_beta_expr("res3", "tanh", "fgn") == sympy.Max(HALF, 2 * H - 1)
    assert critical_beta_expr("res3", "identity", "fgn") == sympy.Max(HALF, 2 * H - 1)
    # leaky_relu with slope 1 is the identity: odd, so the odd rule applies
    assert critical_beta_expr("res3", "leaky_relu", "fgn", 1.0) == sympy.Max(HALF, 2 * H - 1)
    for act in ACTIVATIONS:
        assert critical_beta_expr("res1", act, "fgn") == sympy.Max(HALF, H)
        assert critical_beta_expr("linear", act, "fgn") == sympy.Max(HALF, H)
        assert critical_beta_expr("res3", act, "iid") == HALF


def test_hermite_order_separates_mean_and_odd_activations():
    assert [hermite_order(a) for a in ("relu", "leaky_relu", "gelu")] == [0, 0, 0]
    assert [hermite_order(a) for a in ("tanh", "identity")] == [1, 1]


@pytest.mark.parametrize("name, value", [("block", "res2"), ("activation", "swish"), ("init", "xavier")])
def test_critical_beta_expr_rejects_unknown_values(name, value):
    args = {"block": "res3", "activation": "relu", "init": "fgn", name: value}
    with pytest.raises(ValueError, match=name):
        critical_beta_expr(**args)


def test_regime_at_half_is_exactly_non_trivial_for_iid():
    assert regime(Cell(beta=0.5)) == "non-trivial"
    assert regime(Cell(beta="0.5")) == "non-trivial"
    assert regime(Cell(beta=0.5000000001)) == "identity"
    assert regime(Cell(beta=0.4999999999)) == "explode"


def test_regime_at_fgn_thresholds_is_exact():
    assert regime(Cell(init="fgn", hurst=0.8, beta=0.8)) == "non-trivial"
    assert regime(Cell(init="fgn", hurst=0.9, activation="tanh", beta=0.8)) == "non-trivial"
    assert regime(Cell(init="fgn", hurst=0.8, beta=0.6)) == "explode"
    assert regime(Cell(init="fgn", hurst=0.25, beta=0.5)) == "non-trivial"


def test_every_cell_kind_has_a_regime_or_is_not_covered():
    """Residual blocks with Euler steps always get a regime; antisym cells get one for the identity
    activation with iid, shared or smooth weights and NotCovered otherwise."""
    for block in BLOCKS:
        for act in ACTIVATIONS:
            for init in INITS:
                cell = _cell(init, block=block, activation=act, beta=0.7)
                if block == "antisym" and (act != "identity" or init in ("fgn", "fbm")):
                    with pytest.raises(NotCovered):
                        regime(cell)
                    continue
                assert regime(cell) in ("explode", "identity", "non-trivial")


def test_depth_exponent_per_regime():
    assert depth_exponent(Cell(beta=0.7)) == sympy.Rational(-1, 5)
    assert depth_exponent(Cell(beta=0.5)) == 0
    assert depth_exponent(Cell(beta=0.2)) == sympy.oo
    assert depth_exponent(Cell(init="fgn", hurst=0.8, beta=1.0)) == sympy.Rational(-1, 5)
    # res1 with rough fGn: the second-order drift L^(1 - 2 beta) dominates just above 1/2
    rough = Cell(block="res1", init="fgn", hurst=0.3, beta=0.6)
    assert depth_exponent(rough) == sympy.Rational(-1, 5)
    assert depth_exponent(rough.replace(beta=0.9)) == sympy.Rational(-3, 5)


def test_limit_object_not_covered_for_fgn_at_criticality():
    with pytest.raises(NotCovered):
        limit_object(Cell(init="fgn", hurst=0.8, beta=0.8))
    assert issubclass(NotCovered, ValueError)
