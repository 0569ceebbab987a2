"""What the theory needs to know about the input h_0 (drawn as in `sim.weights`).

The engine draws x uniformly on the unit sphere of R^{n_in}; h_0 = x when the cell has no
`input_dim` (so ||h_0|| = 1 exactly), else h_0 = A x with A of N(0, 1/n_in) entries (so h_0 is
N(0, I_d / n_in) given x). Two numbers are derived from that:

- q = ||h_0||^2 / d, the variance of each coordinate of W h_0 in res3 (matters for tanh, gelu);
- F = E ||sigma(h_0)||^2 / ||h_0||^2, the factor of the res1 laws;
- G = E ||sigma'(h_0)||^2 / d, the factor of the res1 backward law (docs/theory.md §4.10).
"""

from __future__ import annotations

import math

import sympy
from scipy import integrate, special

from sim.cell import Cell
from theory.activations import _numeric, c_sigma, numeric_derivative
from theory.scope import activation_of, is_homogeneous, slope_of


def input_variance(cell: Cell) -> float:
    """q = ||h_0||^2 / d: exactly 1/d when h_0 = x is a unit vector.

    With an input matrix A, ||h_0||^2 / d = chi^2_d / (d n_in): its mean 1/n_in is returned,
    which leaves a relative error O(1/sqrt(d)) per sample and O(1/d) in averages.
    """
    if cell.input_dim is None:
        return 1.0 / cell.width
    return 1.0 / cell.input_dim


def input_factor_is_exact(cell: Cell) -> bool:
    """True when `input_factor` is exact (homogeneous sigma, or h_0 uniform on the sphere)."""
    return is_homogeneous(cell) or cell.input_dim is None


def _sphere_mean(f, dim: int) -> float:
    """E[f(u_1)^2] for u_1 the first coordinate of a uniform unit vector of R^dim: density
    proportional to (1 - u^2)^((dim - 3)/2) on [-1, 1] (one-dimensional quadrature)."""
    if dim == 1:
        return float((f(1.0) ** 2 + f(-1.0) ** 2) / 2)
    power = (dim - 3) / 2
    norm = 1.0 / special.beta(0.5, (dim - 1) / 2)  # density of u_1: (1 - u^2)^power / B(1/2, (d-1)/2)
    value, _ = integrate.quad(lambda u: float(f(u)) ** 2, -1.0, 1.0, weight="alg",
                              wvar=(power, power), epsabs=1e-15, epsrel=1e-12)
    return norm * value


def input_factor(cell: Cell) -> sympy.Expr:
    """F = E ||sigma(h_0)||^2 / ||h_0||^2 for the cell's random input.

    - homogeneous sigma: c_sigma exactly, for any width, because each coordinate of h_0 is
      symmetric in law and sigma(u)^2 = u^2 (1{u > 0} + a^2 1{u < 0});
    - tanh, gelu with h_0 uniform on the unit sphere: d E[sigma(u_1)^2], u_1 with density
      proportional to (1 - u^2)^((d - 3)/2) on [-1, 1]: exact up to quadrature (a sympy Float);
    - tanh, gelu with h_0 = A x: c_sigma(q = 1/n_in), the large-width value (error O(1/d)).
    """
    act = activation_of(cell)
    if is_homogeneous(cell):
        return c_sigma(act, slope_of(cell))
    if cell.input_dim is not None:
        return c_sigma(act, q=input_variance(cell))
    dim = cell.width
    if dim == 1:
        return sympy.Float(_sphere_mean(_numeric(act), 1), 15)
    return sympy.Float(dim * _sphere_mean(_numeric(act), dim), 15)


def input_derivative_factor(cell: Cell) -> sympy.Expr:
    """G = E ||sigma'(h_0)||^2 / d for the cell's random input (the linear block: 1).

    - homogeneous sigma: c_sigma = (1 + a^2)/2 exactly, since each coordinate of h_0 is symmetric
      in law and sigma'(u)^2 = 1{u > 0} + a^2 1{u < 0};
    - tanh, gelu with h_0 uniform on the unit sphere: E[sigma'(u_1)^2], u_1 as in `input_factor`;
    - tanh, gelu with h_0 = A x: E[sigma'(sqrt(q) Z)^2] at q = 1/n_in, the large-width value.
    """
    act = activation_of(cell)
    if is_homogeneous(cell):
        return c_sigma(act, slope_of(cell))
    slope = numeric_derivative(act)
    if cell.input_dim is not None:
        scale = math.sqrt(input_variance(cell))
        value, _ = integrate.quad(lambda x: float(slope(scale * x)) ** 2 * math.exp(-x * x / 2)
                                  / math.sqrt(2 * math.pi), -math.inf, math.inf, epsabs=1e-14)
        return sympy.Float(value, 15)
    return sympy.Float(_sphere_mean(slope, cell.width), 15)

