"""Limit objects per regime and the two-input cosine ODE (docs/theory.md §4.1, §4.4, §4.7)."""

from __future__ import annotations

import math

import pytest
import sympy

from sim.cell import Cell
from theory import correlation_ode, correlation_rhs, limit_object, rho, solve_correlation


def test_relu_cosine_ode_is_the_spec_form():
    f = (sympy.sqrt(1 - rho**2) + (sympy.pi - sympy.acos(rho)) * rho) / sympy.pi
    assert sympy.simplify(correlation_rhs("relu") - (f - rho) / 2) == 0
    assert correlation_rhs("identity") == 0
    eq = correlation_ode("relu")
    assert isinstance(eq, sympy.Eq) and isinstance(eq.lhs, sympy.Derivative)
    assert "acos" in sympy.latex(eq) or "arccos" in sympy.latex(eq)


def test_cosine_flows_to_one_and_freezes_at_tau_zero():
    assert solve_correlation(0.2, 0.0) == pytest.approx(0.2, abs=1e-12)
    values = solve_correlation(0.2, [0.0, 1.0, 10.0, 100.0])
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    # the approach is algebraic: f(rho) - rho ~ (1 - rho)^(3/2) near 1, so 1 - rho ~ tau^-2
    assert 0.0 < 1.0 - values[-1] < 0.02
    # near tau = 0 the slope is the ODE's right-hand side at rho0
    slope = float(correlation_rhs("relu").subs(rho, 0.2))
    assert (solve_correlation(0.2, 1e-4) - 0.2) / 1e-4 == pytest.approx(slope, rel=1e-3)
    with pytest.raises(ValueError, match="rho0"):
        solve_correlation(1.5, 1.0)


@pytest.mark.parametrize("cell, kind", [
    (Cell(beta=0.5), "neural SDE"),
    (Cell(beta=0.8), "identity"),
    (Cell(beta=0.1), "explosion"),
    (Cell(init="smooth", lengthscale=0.2, beta=1.0), "neural ODE"),
    (Cell(init="shared", block="res1", beta=1.0), "neural ODE"),
    (Cell(init="fbm", hurst=0.3, block="linear", beta=1.0), "neural ODE"),
    (Cell(init="fgn", hurst=0.8, beta=0.9), "identity"),
])
def test_limit_objects_render(cell, kind):
    obj = limit_object(cell)
    assert obj.kind == kind
    tex = obj.latex()
    assert tex and tex == sympy.latex(obj.equation)


def test_sde_diffusion_of_relu_res3():
    obj = limit_object(Cell(beta=0.5))
    assert obj.drift == 0 and obj.horizon == 1
    norm_h = next(iter(obj.diffusion.atoms(sympy.Function)))
    d = sympy.Symbol("d", positive=True)
    assert sympy.simplify(obj.diffusion / norm_h - sympy.sqrt(sympy.Rational(1, 2) / d)) == 0
    # res3's coefficient comes from the diffusion approximation derived here, not from a cited theorem
    assert obj.status == "asymptotic" and obj.source.startswith("derived here")
    assert math.isclose(float(obj.diffusion.subs({norm_h: 1, d: 2})), 0.5)
