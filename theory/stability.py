"""Linear stability of the steppers: R(z) from the Butcher tableau, and what it implies for depth.

A layer of the 'antisym' block with shared weights and the identity activation is one step of an
explicit Runge-Kutta method on h' = A h, so h_{k+1} = R(alpha A) h_k exactly, with the stability
polynomial R(z) = 1 + z b^T (I - z a)^{-1} 1 of the tableau (c, a, b) (Ascher 2008, ch. 4; Haber &
Ruthotto 2017 for ResNets). On an eigenvector with eigenvalue lambda a network of depth L multiplies
the state by R(alpha lambda)^L, alpha = L^-beta. Hence:

- imaginary lambda = i mu (antisymmetric A, the exact flow is a rotation): |R(iy)|^2 = 1 + c y^(2m)
  + O(y^(2m+2)), so log|R(i alpha mu)|^L ~ (c/2) mu^(2m) L^(1 - 2 m beta). Euler (c = 1, m = 1) and
  Heun (c = 1/4, m = 2) grow; RK4 (c = -1/72, m = 3) decays for |y| < 2 sqrt(2), its
  imaginary-axis stability limit;
- real lambda: log|R(alpha lambda)|^L ~ lambda L^(1 - beta) for every consistent method (R(z) =
  1 + z + O(z^2)): decay for lambda < 0, growth for lambda > 0.

Everything is a sympy expression derived from the tableau; `landscape_growth` is the numpy boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy

from theory.symbols import L, beta

_zc = sympy.Symbol("z")  # complex step variable of R(z)
y = sympy.Symbol("y", real=True)  # R(i y): y = alpha mu on the imaginary axis
mu = sympy.Symbol("mu", real=True)  # imaginary part of an eigenvalue
lam = sympy.Symbol("lambda", real=True)  # a real eigenvalue
step = sympy.Symbol("h", positive=True)  # step size of the landscape example
theta1, theta2 = sympy.symbols("theta_1 theta_2", real=True)

_HALF = sympy.Rational(1, 2)


@dataclass(frozen=True)
class Tableau:
    """An explicit Runge-Kutta method with exact (sympy) coefficients and its declared order."""

    name: str
    c: tuple[sympy.Expr, ...]
    a: tuple[tuple[sympy.Expr, ...], ...]  # row i: the i coefficients a_ij, j < i
    b: tuple[sympy.Expr, ...]
    order: int

    @property
    def stages(self) -> int:
        """Number of stages s."""
        return len(self.b)

    def matrix(self) -> sympy.Matrix:
        """The strictly lower-triangular (s, s) matrix a."""
        s = self.stages
        return sympy.Matrix(s, s, lambda i, j: self.a[i][j] if j < i else 0)


# The same methods as sim.steppers (a test checks that the two agree), kept exact here.
TABLEAUX = {
    "euler": Tableau("euler", (sympy.Integer(0),), ((),), (sympy.Integer(1),), 1),
    "heun": Tableau("heun", (sympy.Integer(0), sympy.Integer(1)), ((), (sympy.Integer(1),)),
                    (_HALF, _HALF), 2),
    "rk4": Tableau("rk4", (sympy.Integer(0), _HALF, _HALF, sympy.Integer(1)),
                   ((), (_HALF,), (sympy.Integer(0), _HALF), (sympy.Integer(0), sympy.Integer(0), sympy.Integer(1))),
                   (sympy.Rational(1, 6), sympy.Rational(1, 3), sympy.Rational(1, 3), sympy.Rational(1, 6)), 4),
}
STEPPER_NAMES = tuple(TABLEAUX)


def tableau(stepper: str) -> Tableau:
    """The exact tableau of `stepper`; ValueError naming the allowed ones."""
    if stepper not in TABLEAUX:
        raise ValueError(f"stepper={stepper!r} is not allowed: one of {', '.join(TABLEAUX)}")
    return TABLEAUX[stepper]


@cache
def stability_polynomial(stepper: str) -> sympy.Expr:
    """R(z) = 1 + z b^T (I - z a)^{-1} 1, computed from the tableau (a polynomial: a is nilpotent)."""
    tab = tableau(stepper)
    s = tab.stages
    resolvent = (sympy.eye(s) - _zc * tab.matrix()).inv()
    b = sympy.Matrix([tab.b])
    value = 1 + _zc * (b * resolvent * sympy.ones(s, 1))[0, 0]
    return sympy.expand(sympy.simplify(value))


def declared_order(stepper: str) -> int:
    """The order of convergence the tableau is declared to have (1, 2, 4)."""
    return tableau(stepper).order


def linear_order(stepper: str) -> int:
    """p such that R(z) - exp(z) = O(z^(p+1)): the order on the linear test problem, from R itself."""
    poly = sympy.Poly(stability_polynomial(stepper), _zc)
    degree = poly.degree()
    for n in range(degree + 2):
        if poly.coeff_monomial(_zc**n) != sympy.Integer(1) / sympy.factorial(n):
            return n - 1
    return degree + 1


@cache
def imaginary_gain(stepper: str) -> sympy.Expr:
    """|R(iy)|^2 as a polynomial in real y (R has real coefficients: R(iy) R(-iy))."""
    r = stability_polynomial(stepper)
    return sympy.expand(r.subs(_zc, sympy.I * y) * r.subs(_zc, -sympy.I * y))


@cache
def imaginary_leading_term(stepper: str) -> tuple[sympy.Expr, int]:
    """(c, 2m): the first non-zero term c y^(2m) of |R(iy)|^2 - 1 (euler (1, 2), heun (1/4, 4),
    rk4 (-1/72, 6))."""
    poly = sympy.Poly(imaginary_gain(stepper) - 1, y)
    for power in range(1, poly.degree() + 1):
        coeff = poly.coeff_monomial(y**power)
        if coeff != 0:
            return coeff, power
    raise ValueError(f"stepper={stepper!r}: |R(iy)| = 1 identically, no leading term")


def stable_near_imaginary_axis(stepper: str) -> bool:
    """True when |R(iy)| < 1 for all small y != 0 (only rk4 among the three)."""
    return bool(imaginary_leading_term(stepper)[0] < 0)


@cache
def imaginary_stability_limit(stepper: str) -> sympy.Expr:
    """sup{Y >= 0 : |R(iy)| <= 1 for all |y| <= Y}: 0 for euler and heun, 2 sqrt(2) for rk4."""
    if not stable_near_imaginary_axis(stepper):
        return sympy.Integer(0)
    _, power = imaginary_leading_term(stepper)
    rest = sympy.Poly(sympy.cancel((imaginary_gain(stepper) - 1) / y**power), y)
    roots = [r for r in sympy.real_roots(rest) if r > 0]
    return sympy.nsimplify(min(roots)) if roots else sympy.oo


def step_growth(stepper: str, eigenvalue: sympy.Expr, step_size: sympy.Expr) -> sympy.Expr:
    """|R(step_size * eigenvalue)|: the per-layer growth of the linear test problem h' = lambda h."""
    return sympy.Abs(stability_polynomial(stepper).subs(_zc, step_size * eigenvalue))


def imaginary_log_growth(stepper: str) -> sympy.Expr:
    """log ||h_L|| / ||h_0|| on an eigenvector of eigenvalue i mu: (L/2) log|R(i L^-beta mu)|^2."""
    alpha = L ** (-beta)
    return L / 2 * sympy.log(imaginary_gain(stepper).subs(y, alpha * mu))


def imaginary_log_growth_leading(stepper: str) -> sympy.Expr:
    """Leading large-L term of `imaginary_log_growth`: (c/2) mu^(2m) L^(1 - 2 m beta).

    euler mu^2/2 L^(1-2beta), heun mu^4/8 L^(1-4beta), rk4 -mu^6/144 L^(1-6beta).
    """
    coeff, power = imaginary_leading_term(stepper)
    return coeff / 2 * mu**power * L ** (1 - power * beta)


def real_log_growth(stepper: str) -> sympy.Expr:
    """log ||h_L|| / ||h_0|| on a real eigenvalue lambda: L log|R(L^-beta lambda)|."""
    return L * sympy.log(sympy.Abs(stability_polynomial(stepper).subs(_zc, L ** (-beta) * lam)))


def real_log_growth_leading(stepper: str) -> sympy.Expr:
    """Leading large-L term of `real_log_growth`: lambda L^(1 - beta), from R(z) = 1 + z + O(z^2)."""
    poly = sympy.Poly(stability_polynomial(stepper), _zc)
    return poly.coeff_monomial(_zc) * lam * L ** (1 - beta)


def imaginary_explosion_beta(stepper: str) -> sympy.Expr | None:
    """The beta below which L log|R(i alpha mu)| diverges to +oo: 1/(2m) when c > 0, None when
    the leading term decays (rk4: no explosion for any beta > 0)."""
    coeff, power = imaginary_leading_term(stepper)
    if coeff < 0:
        return None
    return sympy.Integer(1) / power


# ------------------------------------------------------------------- the lecture's 3x3 example
def circulant_matrix() -> sympy.Matrix:
    """K(theta): the circulant with rows (-t1-t2, t1, t2), (t2, -t1-t2, t1), (t1, t2, -t1-t2)."""
    diag = -theta1 - theta2
    return sympy.Matrix([[diag, theta1, theta2], [theta2, diag, theta1], [theta1, theta2, diag]])


def circulant_eigenvalues() -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
    """0 and -(3/2)(t1 + t2) +- i (sqrt(3)/2)(t1 - t2): the circulant's eigenvalues on the
    Fourier vectors (1, w^j, w^2j), w = exp(2 pi i / 3); a test checks them against sympy."""
    centre = -sympy.Rational(3, 2) * (theta1 + theta2)
    spread = sympy.sqrt(3) / 2 * (theta1 - theta2)
    return sympy.Integer(0), centre + sympy.I * spread, centre - sympy.I * spread


def landscape_growth_expr(stepper: str, include_zero: bool = True) -> sympy.Expr:
    """max_j |R(h lambda_j(theta))| in the symbols h, theta_1, theta_2.

    The complex pair has equal moduli, |R(h lambda)|^2 = R(h lambda) R(h conj(lambda)), a real
    polynomial; the zero eigenvalue contributes |R(0)| = 1.
    """
    r = stability_polynomial(stepper)
    _, pair, conjugate = circulant_eigenvalues()
    modulus = sympy.sqrt(sympy.expand(r.subs(_zc, step * pair) * r.subs(_zc, step * conjugate)))
    return sympy.Max(1, modulus) if include_zero else modulus


@cache
def _numeric_polynomial(stepper: str):
    return sympy.lambdify(_zc, stability_polynomial(stepper), "numpy")


def landscape_growth(stepper: str, step_size: float, theta1_values: np.ndarray | float,
                     theta2_values: np.ndarray | float, *, include_zero: bool = True) -> np.ndarray:
    """max_j |R(step_size lambda_j(theta1, theta2))| for the 3x3 circulant, elementwise.

    theta1_values and theta2_values broadcast against each other (e.g. a meshgrid); the result has
    their broadcast shape. Values above 1 mean the stepper amplifies some mode at this step size.
    The zero eigenvalue (the constant vector) contributes |R(0)| = 1, so the maximum is >= 1;
    `include_zero=False` gives |R| on the complex pair alone, to show where the other modes decay.
    """
    tableau(stepper)
    if not np.isfinite(step_size) or step_size < 0:
        raise ValueError(f"step={step_size!r} is not allowed: expected a finite step size >= 0")
    t1, t2 = np.broadcast_arrays(np.asarray(theta1_values, dtype=float),
                                 np.asarray(theta2_values, dtype=float))
    r = _numeric_polynomial(stepper)
    centre = -1.5 * (t1 + t2)
    spread = np.sqrt(3.0) / 2.0 * (t1 - t2)
    z = step_size * (centre + 1j * spread)
    # conjugate eigenvalues have equal |R| (real coefficients), so one of the pair suffices
    growth = np.abs(np.asarray(r(z), dtype=complex)) * np.ones(t1.shape)
    return np.maximum(growth, 1.0) if include_zero else growth
