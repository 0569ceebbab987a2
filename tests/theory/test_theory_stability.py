"""ResNets as ODE discretizations: stability polynomials, the antisym block's laws, and scope.

Statistical tests use their own numpy simulation of the antisym network (independent of `sim`
and of `theory`), fixed seeds, and a stated per-assertion level. Each Monte Carlo family is
Bonferroni-corrected to a family-wise level of 1e-4, so the false-failure rate of this file is
below 5e-4 per run. Standard errors come from independent network draws.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy
from scipy import stats

import theory
from sim.cell import Cell
from theory import NotCovered, antisym
from theory.__main__ import main
from theory.claims import _section4_claims
from theory.expansion import log_norm_series, moment_rates, moment_series
from theory.stability import (
    STEPPER_NAMES,
    circulant_eigenvalues,
    circulant_matrix,
    declared_order,
    imaginary_explosion_beta,
    imaginary_gain,
    imaginary_leading_term,
    imaginary_log_growth,
    imaginary_log_growth_leading,
    imaginary_stability_limit,
    lam,
    landscape_growth,
    landscape_growth_expr,
    linear_order,
    mu,
    real_log_growth,
    real_log_growth_leading,
    stability_polynomial,
    stable_near_imaginary_axis,
    step,
    theta1,
    theta2,
    y,
)
from theory.symbols import L, beta, d
from theory.wick import quadratic_pair_moment, trace_moment

z = sympy.Symbol("z")
FAMILY_LEVEL = 1e-4


def _zcrit(assertions: int) -> float:
    """Two-sided normal critical value at FAMILY_LEVEL / assertions (Bonferroni)."""
    return float(stats.norm.isf(FAMILY_LEVEL / assertions / 2))


# ------------------------------------------------------------------ stability polynomials
def test_stability_polynomials_from_the_tableaux():
    assert sympy.expand(stability_polynomial("euler") - (1 + z)) == 0
    assert sympy.expand(stability_polynomial("heun") - (1 + z + z**2 / 2)) == 0
    taylor = sum(z**n / sympy.factorial(n) for n in range(5))
    assert sympy.expand(stability_polynomial("rk4") - taylor) == 0
    for stepper in STEPPER_NAMES:
        assert linear_order(stepper) == declared_order(stepper)
    assert [declared_order(s) for s in STEPPER_NAMES] == [1, 2, 4]


def test_tableaux_agree_with_the_engine():
    steppers = pytest.importorskip("sim.steppers")
    for name in STEPPER_NAMES:
        ours, theirs = theory.stability.tableau(name), steppers.tableau(name)
        assert [float(x) for x in ours.c] == pytest.approx(theirs.c)
        assert [float(x) for x in ours.b] == pytest.approx(theirs.b)
        assert [[float(x) for x in row] for row in ours.a] == [list(row) for row in theirs.a]
        assert ours.order == theirs.order


def test_imaginary_axis_gain_and_its_leading_terms():
    assert sympy.expand(imaginary_gain("euler") - (1 + y**2)) == 0
    assert sympy.expand(imaginary_gain("heun") - (1 + y**4 / 4)) == 0
    assert sympy.expand(imaginary_gain("rk4") - (1 - y**6 / 72 + y**8 / 576)) == 0
    assert imaginary_leading_term("euler") == (1, 2)
    assert imaginary_leading_term("heun") == (sympy.Rational(1, 4), 4)
    assert imaginary_leading_term("rk4") == (sympy.Rational(-1, 72), 6)
    assert [stable_near_imaginary_axis(s) for s in STEPPER_NAMES] == [False, False, True]
    assert [imaginary_explosion_beta(s) for s in STEPPER_NAMES] == [sympy.Rational(1, 2), sympy.Rational(1, 4), None]


def test_rk4_imaginary_stability_interval_is_two_sqrt_two():
    limit = imaginary_stability_limit("rk4")
    assert sympy.simplify(limit - 2 * sympy.sqrt(2)) == 0
    gain = sympy.lambdify(y, imaginary_gain("rk4"), "numpy")
    inside = np.linspace(1e-3, float(limit), 2001)
    assert np.all(gain(inside) <= 1.0 + 1e-12)
    assert gain(float(limit) * 1.001) > 1.0
    assert imaginary_stability_limit("euler") == 0 and imaginary_stability_limit("heun") == 0


@pytest.mark.parametrize("stepper", STEPPER_NAMES)
def test_log_growth_leading_terms_are_the_large_depth_limits(stepper):
    """(L/2) log|R(i alpha mu)|^2 / leading -> 1 and L log|R(alpha lambda)| / (lambda L^(1-beta)) -> 1."""
    b = sympy.Rational(1, 3)
    values = {beta: b, mu: sympy.Rational(3, 2), lam: -2}
    ratio = (imaginary_log_growth(stepper) / imaginary_log_growth_leading(stepper)).subs(values)
    real = (real_log_growth(stepper) / real_log_growth_leading(stepper)).subs(values)
    for expr in (ratio, real):
        f = sympy.lambdify(L, expr, "mpmath")
        with mpmath.workdps(60):  # |R(iy)|^2 - 1 ~ y^6 / 72 is below double precision here
            assert abs(float(f(mpmath.mpf(10) ** 12)) - 1.0) < 1e-3
    assert sympy.limit(real, L, sympy.oo) == 1


def test_circulant_eigenvalues_and_landscape():
    found = circulant_matrix().eigenvals()
    expected = circulant_eigenvalues()
    assert len(found) == 3
    for value in expected:
        assert any(sympy.simplify(value - other) == 0 for other in found)
    t1, t2 = np.meshgrid(np.linspace(-1.0, 2.0, 7), np.linspace(-0.5, 1.5, 5))
    for stepper in STEPPER_NAMES:
        values = landscape_growth(stepper, 0.4, t1, t2)
        assert values.shape == t1.shape
        r = sympy.lambdify(z, stability_polynomial(stepper), "numpy")
        for i, j in np.ndindex(t1.shape):
            matrix = np.array(circulant_matrix().subs({theta1: t1[i, j], theta2: t2[i, j]}), dtype=float)
            direct = np.max(np.abs(r(0.4 * np.linalg.eigvals(matrix))))
            assert values[i, j] == pytest.approx(direct, rel=1e-9, abs=1e-9)
        expr = sympy.lambdify((step, theta1, theta2), landscape_growth_expr(stepper, include_zero=False), "numpy")
        pair = landscape_growth(stepper, 0.4, t1, t2, include_zero=False)
        assert np.allclose(expr(0.4, t1, t2), pair, rtol=1e-10)
    with pytest.raises(ValueError, match="stepper"):
        landscape_growth("rk5", 0.4, 0.0, 0.0)


# ----------------------------------------------------------------- Wick calculus and expansion
def test_wick_moments_match_monte_carlo():
    """E tr of words in independent antisymmetric Gaussian matrices (d = 5, 100000 draws; the
    tolerance is 5 SE, a two-sided level of 6e-7 per assertion)."""
    rng = np.random.default_rng(11)
    width, n = 5, 100_000
    k1 = rng.standard_normal((n, width, width)) / math.sqrt(width)
    k2 = rng.standard_normal((n, width, width)) / math.sqrt(width)
    s, t = k1 - k1.transpose(0, 2, 1), k2 - k2.transpose(0, 2, 1)
    trace = np.trace
    cases = {((0, 0, 0, 0),): trace(s @ s @ s @ s, axis1=1, axis2=2),
             ((0, 1, 0, 1),): trace(s @ t @ s @ t, axis1=1, axis2=2),
             ((0, 0, 0, 1, 1, 0),): trace(s @ s @ s @ t @ t @ s, axis1=1, axis2=2),
             ((0, 1), (0, 1)): trace(s @ t, axis1=1, axis2=2) ** 2}
    for words, samples in cases.items():
        exact = float(trace_moment(words, width))
        assert abs(samples.mean() - exact) < 5 * samples.std() / math.sqrt(n), words
    assert sympy.expand(trace_moment(((0, 0),), d) - (2 - 2 * d)) == 0
    assert quadratic_pair_moment((), (), d) == 1


def test_rates_are_stationary_from_depth_three():
    """log E is exactly linear in L: the depth-5 to depth-6 increment equals the rate."""
    from theory.expansion import log_series

    for stepper in ("heun", "rk4"):
        rates = moment_rates(stepper)
        five, six = moment_series(stepper, 5), moment_series(stepper, 6)
        for index, name in enumerate(("norm", "overlap")):
            increment = [sympy.simplify(b - a) for a, b in
                         zip(log_series(five[index]), log_series(six[index]), strict=True)]
            assert all(sympy.simplify(x - r) == 0 for x, r in zip(increment, rates[name], strict=True))


def test_derived_coefficients():
    s2 = 2 * (d - 1) / d
    assert [sympy.simplify(antisym.second_order_coefficient(s) - c) for s, c in
            zip(STEPPER_NAMES, (s2, s2 / 2, 0), strict=True)] == [0, 0, 0]
    assert [sympy.simplify(antisym.mean_drift(s) - c) for s, c in
            zip(STEPPER_NAMES, (0, s2 / 4, s2 / 2), strict=True)] == [0, 0, 0]
    power, rate = antisym.log_norm_rate("rk4")
    assert power == 4 and sympy.simplify(rate + (d**2 - 1) / (36 * d**2)) == 0
    assert sympy.simplify(moment_rates("rk4")["norm"][4] - rate) == 0  # no alpha^2 term: log E = E log
    assert antisym.log_norm_rate("heun") == (2, sympy.factor(s2 / 2))


def test_rk4_norm_has_no_alpha2_or_alpha3_term_for_any_draw():
    """As non-commutative polynomials in the layer matrices, the alpha^2 and alpha^3 terms of
    ||h_L||^2 cancel word by word for rk4 (not for heun)."""
    from theory.expansion import _norm_forms, network_expansion

    for stepper, vanishes in (("rk4", True), ("heun", False)):
        forms = _norm_forms(network_expansion(stepper, 4), 4)
        for order in (2, 3):
            nonzero = [w for w, c in forms.get(order, {}).items() if sympy.expand(c) != 0]
            assert (not nonzero) == vanishes, (stepper, order)


# Butcher tableaux written out again, so that the simulation below shares no code with theory.
_TAB = {"euler": ((0.0,), ((),), (1.0,)), "heun": ((0.0, 1.0), ((), (1.0,)), (0.5, 0.5)),
        "rk4": ((0.0, 0.5, 0.5, 1.0), ((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)), (1 / 6, 1 / 3, 1 / 3, 1 / 6))}


def _antisym_draws(rng: np.random.Generator, samples: int, layers: int, width: int, dist: str) -> np.ndarray:
    """(samples, layers, d, d) matrices K - K^T, entries of K iid with variance 1/d."""
    if dist == "uniform":
        bound = math.sqrt(3.0 / width)
        k = rng.uniform(-bound, bound, (samples, layers, width, width))
    else:
        k = rng.standard_normal((samples, layers, width, width)) / math.sqrt(width)
    return k - np.swapaxes(k, -1, -2)


def _run(stepper: str, s: np.ndarray, u: np.ndarray, alpha, damping: float = 0.0) -> np.ndarray:
    """h_L for h_0 = u (samples, d), layer matrices s (samples, L or L + 1, d, d); alpha a number or
    a (points,) array of complex step sizes (then h has shape (samples, points, d))."""
    c, a, b = _TAB[stepper]
    alpha = np.asarray(alpha)
    h = u.astype(complex if np.iscomplexobj(alpha) else float)
    if alpha.ndim:
        h = np.broadcast_to(h[:, None, :], (u.shape[0], alpha.size, u.shape[1])).copy()
        al = alpha[None, :, None]
    else:
        al = alpha
    layers = s.shape[1] if stepper == "euler" else s.shape[1] - 1
    eye = np.eye(u.shape[1])
    for k in range(layers):
        slopes = []
        for i in range(len(b)):
            state = h + al * sum(aij * sl for aij, sl in zip(a[i], slopes, strict=False) if aij) if i else h
            weight = c[i]
            matrix = (1 - weight) * s[:, k] + (weight * s[:, k + 1] if weight else 0) - damping * eye
            slopes.append(np.einsum("sij,s...j->s...i", matrix, state))
        h = h + al * sum(bi * sl for bi, sl in zip(b, slopes, strict=True))
    return h


def _unit(rng: np.random.Generator, samples: int, width: int) -> np.ndarray:
    u = rng.standard_normal((samples, width))
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def test_exact_antisym_euler_moments_against_monte_carlo():
    """E||h_L||^2 and E||h_L - h_0||^2 (antisym, iid, identity, Euler) equal the exact laws.

    d = 6, L = 16, alpha = 1/4 (beta = 1/2), damping 0 and 0.4, Gaussian and uniform entries:
    8 assertions, each a z-test at 1.25e-5 two-sided (|z| < 4.37) with the sample standard error of
    40000 independent networks, family-wise 1e-4. The exact values are 4.88 and 0.238 (moment), 3.88
    and 0.867 (deviation); the per-draw skewness is about 1, so the mean of 40000 is normal to within
    a skewness of 0.005. Relative standard errors are 0.1 to 0.2 percent: a relative error of about
    1 percent is detected (s2 = 2 in place of 2(d - 1)/d = 5/3 would move the moment by 33 percent).
    """
    rng = np.random.default_rng(2024)
    width, depth, samples = 6, 16, 40_000
    zcrit = _zcrit(8)
    for dist in ("gaussian", "uniform"):
        for damping in (0.0, 0.4):
            cell = Cell(block="antisym", activation="identity", init="iid", dist=dist, beta=0.5, depth=depth,
                        width=width, damping=damping)
            u = _unit(rng, samples, width)
            h = _run("euler", _antisym_draws(rng, samples, depth, width, dist), u, cell.alpha, damping)
            for values, exact in (((h**2).sum(1), theory.second_moment(cell)),
                                  (((h - u) ** 2).sum(1), theory.deviation_second_moment(cell))):
                exact = float(exact)
                z_stat = (values.mean() - exact) / (values.std(ddof=1) / math.sqrt(samples))
                assert abs(z_stat) < zcrit, (dist, damping, values.mean(), exact, z_stat)


def _coefficients(stepper, depth, width, samples, rng, radius, log=False, points=32):
    """Per-draw Taylor coefficients in alpha of ||h_L||^2 (or its log) and <h_L, h_0>, by the
    discrete Fourier transform of their analytic continuation on |alpha| = radius (h^T h without
    conjugation). 32 points exceed the polynomial degree 2 * stages * L, so the coefficients are exact
    up to rounding; the log series is cut by radius^32."""
    s = _antisym_draws(rng, samples, depth + 1, width, "gaussian")
    u = _unit(rng, samples, width)
    alphas = radius * np.exp(2j * np.pi * np.arange(points) / points)
    h = _run(stepper, s, u, alphas)
    norm, overlap = (h * h).sum(-1), (h * u[:, None, :]).sum(-1)
    if log:
        norm = np.log(norm)
    scale = radius ** np.arange(points)
    return (np.fft.fft(norm, axis=1) / points / scale).real, (np.fft.fft(overlap, axis=1) / points / scale).real


def test_heun_and_rk4_coefficients_against_monte_carlo():
    """Order-alpha^2 and alpha^4 coefficients of E||h_L||^2, E<h_L, h_0> and E log||h_L||^2.

    Per network draw (d = 4, L = 3, Gaussian), the exact Taylor coefficients in alpha are read off a
    discrete Fourier transform; their means over 6000 independent draws are compared with the Wick
    expansion: 10 assertions, each a z-test at 1e-5 two-sided (|z| < 4.42), family-wise 1e-4. Standard
    errors are 1 to 3 percent of the coefficients, so a wrong term of relative size about 10 percent is
    detected. Also checked exactly per draw: RK4's alpha^2 and alpha^3 terms of ||h_L||^2 vanish.
    """
    rng = np.random.default_rng(7)
    width, depth, samples = 4, 3, 6000
    zcrit = _zcrit(10)

    def check(values, expected, label):
        expected = float(sympy.sympify(expected).subs(d, width))
        z_stat = (values.mean() - expected) / (values.std(ddof=1) / math.sqrt(values.size))
        assert abs(z_stat) < zcrit, (label, values.mean(), expected, z_stat)

    for stepper in ("heun", "rk4"):
        norm, overlap = _coefficients(stepper, depth, width, samples, rng, radius=1.0)
        theory_norm, theory_overlap = moment_series(stepper, depth)
        if stepper == "rk4":
            assert np.max(np.abs(norm[:, 2])) < 1e-9 and np.max(np.abs(norm[:, 3])) < 1e-9
        else:
            check(norm[:, 2], theory_norm[2], "heun norm alpha^2")
        check(norm[:, 4], theory_norm[4], f"{stepper} norm alpha^4")
        check(overlap[:, 2], theory_overlap[2], f"{stepper} overlap alpha^2")
        check(overlap[:, 4], theory_overlap[4], f"{stepper} overlap alpha^4")
        logs, _ = _coefficients(stepper, depth, width, samples, rng, radius=0.3, log=True)
        check(logs[:, 4], log_norm_series(stepper, depth)[4], f"{stepper} log alpha^4")


def test_finite_depth_deviation_of_iid_heun_and_rk4_against_monte_carlo():
    """The resummed E||h_L - h_0||^2/||h_0||^2 (iid, Gaussian) at d = 8, L = 64 across regimes.

    Cells: heun at beta = 0.3 (explode side), heun at 0.5, rk4 at 0.25 (non-trivial band) and rk4 at
    0.75 (identity). 4 assertions at 2.5e-5 two-sided (|z| < 4.21) with 1500 independent networks;
    the dropped terms are O(L alpha^6) in the log-moments (at most 64 * 0.35^6 * 0.1 = 1.2e-2 for
    rk4 at beta = 0.25, from the alpha^6 rate about -0.06 the expansion gives), so the allowance is
    that times the predicted value (heun at beta = 0.3: alpha = 0.29, L alpha^6 = 0.04 times the
    order-6 rate, below 0.05 relative). A 6 percent error in the prediction is detected.
    """
    rng = np.random.default_rng(99)
    width, depth, samples = 8, 64, 1500
    zcrit = _zcrit(4)
    for stepper, b, allowance in (("heun", 0.3, 0.05), ("heun", 0.5, 0.01), ("rk4", 0.25, 0.012),
                                  ("rk4", 0.75, 0.001)):
        cell = Cell(block="antisym", activation="identity", init="iid", stepper=stepper, beta=b, depth=depth,
                    width=width)
        u = _unit(rng, samples, width)
        h = _run(stepper, _antisym_draws(rng, samples, depth + 1, width, "gaussian"), u, cell.alpha)
        values = ((h - u) ** 2).sum(1)
        predicted = theory.finite_depth_deviation(cell)
        se = values.std(ddof=1) / math.sqrt(samples)
        assert abs(values.mean() - predicted) < zcrit * se + allowance * predicted, (stepper, b, values.mean(),
                                                                                      predicted)


def test_shared_spectral_deviation_at_large_width():
    """The semicircle integral against the exact conditional mean (1/d) sum_j |R(alpha lambda_j)^L - 1|^2
    of 40 shared-weight networks at d = 128 (the mean over a random unit h_0 given the matrix).

    3 assertions at 3.3e-5 two-sided (|z| < 4.15); bias allowance 1/d of the prediction for the
    finite-width correction of the semicircle law (measured: 2.5 percent at d = 16, below 1 percent at
    d = 64, in these non-exploding cells).
    """
    rng = np.random.default_rng(5)
    width, depth, samples = 128, 256, 40
    zcrit = _zcrit(3)
    for stepper, b, damping in (("heun", 0.7, 0.0), ("euler", 1.1, 0.0), ("rk4", 0.5, 0.2)):
        cell = Cell(block="antisym", activation="identity", init="shared", stepper=stepper, beta=b, depth=depth,
                    width=width, damping=damping)
        s = _antisym_draws(rng, samples, 1, width, "gaussian")[:, 0]
        eig = np.linalg.eigvals(s) - damping
        r = sympy.lambdify(z, stability_polynomial(stepper), "numpy")(cell.alpha * eig)
        values = (np.abs(r**depth - 1) ** 2).mean(axis=1)
        predicted = theory.finite_depth_deviation(cell)
        se = values.std(ddof=1) / math.sqrt(samples)
        assert abs(values.mean() - predicted) < zcrit * se + predicted / width, (stepper, values.mean(), predicted)


# ------------------------------------------------------------------------------ thresholds
def _antisym(init: str = "iid", **fields) -> Cell:
    extra = {"lengthscale": 0.5} if init == "smooth" else {}
    return Cell(block="antisym", activation="identity", init=init, **extra, **fields)


@pytest.mark.parametrize("init, stepper, expected", [
    ("iid", "euler", {0.0: "explode", 0.3: "explode", 0.5: "non-trivial", 0.7: "identity"}),
    ("iid", "heun", {0.3: "explode", 0.5: "non-trivial", 0.7: "identity"}),
    ("iid", "rk4", {0.1: "non-trivial", 0.3: "non-trivial", 0.5: "non-trivial", 0.7: "identity"}),
    ("shared", "euler", {0.0: "explode", 0.4: "explode", 0.5: "non-trivial", 1.0: "non-trivial", 1.2: "identity"}),
    ("shared", "heun", {0.0: "explode", 0.2: "explode", 0.25: "non-trivial", 0.9: "non-trivial", 1.2: "identity"}),
    ("shared", "rk4", {0.05: "non-trivial", 1.0: "non-trivial", 1.1: "identity"}),
    ("smooth", "heun", {0.2: "explode", 0.5: "non-trivial", 1.5: "identity"}),
])
def test_antisym_regimes(init, stepper, expected):
    for b, name in expected.items():
        cell = _antisym(init, stepper=stepper, beta=b)
        assert theory.regime(cell) == name, (init, stepper, b)
        exponent = theory.depth_exponent(cell)
        if name == "identity":
            assert exponent == theory.critical_beta(cell) - sympy.Rational(str(b))
        else:
            assert exponent == (sympy.oo if name == "explode" else 0)
    assert theory.critical_beta(_antisym(init, stepper=stepper)) == (sympy.Rational(1, 2) if init == "iid" else 1)


def test_damped_antisym_has_beta_c_one_and_no_explosion():
    for init in ("iid", "shared", "smooth"):
        for stepper in STEPPER_NAMES:
            cell = _antisym(init, stepper=stepper, damping=0.3, beta=0.2)
            assert theory.critical_beta(cell) == 1 and theory.regime(cell) == "non-trivial"
            assert theory.regime(cell.replace(beta=1.5)) == "identity"
            with pytest.raises(NotCovered):
                theory.regime(cell.replace(beta=0.0))
    assert theory.critical_beta_expr("antisym", "identity", "iid", damping=0.3) == 1
    assert theory.critical_beta_expr("antisym", "identity", "iid") == sympy.Rational(1, 2)


def test_finite_depth_thresholds_of_antisym():
    depths = [64, 256, 1024]
    assert theory.finite_depth_threshold(_antisym("shared"), depths) == pytest.approx(1.0, abs=1e-12)
    assert theory.finite_depth_threshold(_antisym("iid"), depths) == pytest.approx(0.5, abs=1e-12)
    trapezoid = theory.finite_depth_threshold(_antisym("iid", stepper="rk4"), depths)
    assert 0.5 < trapezoid < 0.502  # S(L) = s2 (L - 1/2): slope L / (2 L - 1), 0.504 at L = 64
    damped = theory.finite_depth_threshold(_antisym("iid", damping=0.1), depths)
    assert 0.5 < damped < 1.0  # the two-term model s2 L + gamma^2 L^2 crosses between the two
    smooth = theory.finite_depth_threshold(_antisym("smooth"), depths)
    assert smooth == pytest.approx(1.0, abs=0.02)
    # the exact iid Euler deviation and the leading order agree where alpha^2 L is small
    cell = _antisym("iid", beta=1.5, depth=256)
    leading = float(cell.alpha**2 * theory.finite_depth_sum(cell))
    assert theory.finite_depth_deviation(cell) == pytest.approx(leading, rel=1e-3)


# ------------------------------------------------------------------------------ scope
_UNCOVERED = [
    Cell(block="antisym", activation="relu"),
    Cell(block="antisym", activation="tanh", init="shared"),
    Cell(block="antisym", activation="identity", init="fgn", hurst=0.7),
    Cell(block="antisym", activation="identity", init="fbm", hurst=0.3),
    Cell(block="antisym", activation="identity", width=1),
    Cell(block="res3", stepper="heun"),
    Cell(block="res3", stepper="rk4", init="fgn", hurst=0.8),
    Cell(block="res1", stepper="heun", activation="identity"),
    Cell(block="linear", stepper="rk4", init="shared"),
]
_CELL_FUNCTIONS = ["critical_beta", "regime", "depth_exponent", "second_moment", "deviation_second_moment",
                   "lognormal_law", "limit_object", "width_limit_moment", "first_layer_moment",
                   "finite_depth_sum", "finite_depth_deviation", "finite_depth_expr", "predictions"]


@pytest.mark.parametrize("cell", _UNCOVERED, ids=lambda c: c.label())
def test_uncovered_cells_raise_not_covered(cell):
    for name in _CELL_FUNCTIONS:
        with pytest.raises(NotCovered):
            getattr(theory, name)(cell)
    for name in ("finite_depth_slope", "finite_depth_threshold"):
        with pytest.raises(NotCovered):
            getattr(theory, name)(cell, [64, 256])
    with pytest.raises(NotCovered):
        theory.exact_deviation_slope(cell, [64, 256])
    if cell.width > 1:  # critical_beta_expr does not know the width
        with pytest.raises(NotCovered):
            theory.critical_beta_expr(cell.block, cell.activation, cell.init, stepper=cell.stepper)
    assert theory.claims_for(cell) == []


def test_covered_antisym_cells_answer_or_raise_not_covered_only():
    """Over a grid of covered antisym cells, every function returns or raises NotCovered."""
    functions = [*_CELL_FUNCTIONS, "claims_for"]
    for init in ("iid", "shared", "smooth"):
        for stepper in STEPPER_NAMES:
            for damping in (0.0, 0.25):
                for b in (0.0, 0.25, 0.5, 1.3):
                    cell = _antisym(init, stepper=stepper, damping=damping, beta=b, depth=128, width=8)
                    for name in functions:
                        try:
                            getattr(theory, name)(cell)
                        except NotCovered:
                            pass
                    for name in ("finite_depth_slope", "finite_depth_threshold"):
                        try:
                            value = getattr(theory, name)(cell, [64, 256])
                        except NotCovered:
                            continue
                        assert math.isfinite(value), (cell.label(), name)


def _names(cell: Cell) -> set[str]:
    return {c.name for c in theory.claims_for(cell)}


def test_claims_for_new_cells_list_only_their_claims():
    common = {"finite-depth-threshold", "antisym-leading-deviation"}
    assert _names(_antisym("iid", beta=0.5)) == common | {
        "antisym-exact-moment", "antisym-exact-deviation", "antisym-order-two", "antisym-iid-euler",
        "antisym-iid-sde", "antisym-backward"}
    assert _names(_antisym("iid", stepper="rk4", beta=0.7)) == common | {
        "antisym-order-two", "antisym-rk4-quartic", "antisym-iid-rk4", "antisym-iid-deviation"}
    assert _names(_antisym("iid", stepper="rk4", beta=0.1, dist="uniform")) == common | {
        "antisym-order-two", "antisym-iid-deviation"}  # the alpha^4 sign is derived for Gaussians only
    assert _names(_antisym("iid", stepper="heun", beta=0.7, damping=0.2)) == common | {
        "antisym-damped", "antisym-iid-deviation"}
    assert _names(_antisym("shared", stepper="heun", beta=1.0)) == common | {
        "rk-stability-polynomials", "rk-imaginary-axis", "rk-linear-growth", "antisym-shared-heun",
        "antisym-shared-deviation", "antisym-neural-ode", "antisym-backward"}
    assert _names(_antisym("shared", stepper="rk4", beta=0.0)) == common | {
        "rk-stability-polynomials", "rk-imaginary-axis", "rk-linear-growth", "antisym-shared-deviation"}
    assert _names(_antisym("smooth", stepper="euler", beta=0.7, damping=0.1)) == common | {
        "antisym-damped-smooth"}
    # the docs/theory.md §4 claims keep covering exactly what they covered
    assert "iid-trichotomy" in _names(Cell()) and "antisym-iid-euler" not in _names(Cell())


def test_every_registered_antisym_claim_covers_some_cell():
    cells = [_antisym(init, stepper=s, beta=b, damping=g, dist=dist)
             for init in ("iid", "shared", "smooth") for s in STEPPER_NAMES for b in (0.5, 1.0)
             for g in (0.0, 0.2) for dist in (("gaussian", "uniform") if init == "iid" else ("gaussian",))]
    covered = set().union(*(_names(c) for c in cells))
    new = {c.name for c in theory.claims()} - {c.name for c in _section4_claims()}
    assert new <= covered, new - covered


# ------------------------------------------------------------------------------ printing
def test_cli_prints_antisym_cells_and_latex(capsys):
    assert main(["--block", "antisym", "--activation", "identity", "--init", "shared", "--stepper", "heun",
                 "--beta", "0.7", "--depths", "64,256,1024"]) == 0
    out = capsys.readouterr().out
    assert "beta_c: 1  [asymptotic; antisym-shared-heun]" in out
    assert "regime: non-trivial" in out and "beta_e (explosion below): 1/4" in out
    assert "finite-depth threshold: 1" in out
    assert main(["--block", "antisym", "--activation", "identity", "--beta", "0.5", "--width", "8"]) == 0
    out = capsys.readouterr().out
    assert "[exact; antisym-exact-moment]" in out and "neural SDE" in out
    assert main(["--latex"]) == 0
    out = capsys.readouterr().out
    for item in theory.claims():
        assert f"$ {item.latex()} $" in out
    assert main(["--block", "antisym", "--activation", "relu"]) == 0
    assert "not covered" in capsys.readouterr().out
