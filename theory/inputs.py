"""What the theory needs to know about the input h_0 (drawn as in `sim.weights`).

The engine draws x uniformly on the unit sphere of R^{n_in}; h_0 = x when the cell has no
`input_dim` (so ||h_0|| = 1 exactly), else h_0 = A x with A of N(0, 1/n_in) entries (so h_0 is
N(0, I_d / n_in) given x). Two numbers are derived from that:

- q = ||h_0||^2 / d, the variance of each coordinate of W h_0 in res3 (matters for tanh, gelu);
- F = E ||sigma(h_0)||^2 / ||h_0||^2, the factor of the res1 laws.
"""

from __future__ import annotations

import sympy
from scipy import integrate, special

from sim.cell import Cell
from theory.activations import _numeric, c_sigma
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
    f = _numeric(act)
    dim = cell.width
    if dim == 1:
        return sympy.Float((f(1.0) ** 2 + f(-1.0) ** 2) / 2, 15)
    power = (dim - 3) / 2
    norm = 1.0 / special.beta(0.5, (dim - 1) / 2)  # density of u_1: (1 - u^2)^power / B(1/2, (d-1)/2)
    value, _ = integrate.quad(lambda u: float(f(u)) ** 2, -1.0, 1.0, weight="alg",
                              wvar=(power, power), epsabs=1e-15, epsrel=1e-12)
    return sympy.Float(dim * norm * value, 15)

