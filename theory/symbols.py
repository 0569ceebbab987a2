"""The sympy symbols every formula of `theory` is written in, and exact conversion of numbers.

Numbers coming from a `Cell` are floats. They are turned into exact rationals through their
shortest decimal representation (`repr`), so that beta = 0.5 is exactly 1/2 and 0.1 is 1/10:
comparisons such as beta == beta_c are then decided exactly, never by a float tolerance.
"""

from __future__ import annotations

import math
from numbers import Real

import sympy

L = sympy.Symbol("L", positive=True)  # depth, treated as a real variable for limits
beta = sympy.Symbol("beta", nonnegative=True)  # alpha_L = L**-beta
H = sympy.Symbol("H", positive=True)  # Hurst index of fgn / fbm weights
d = sympy.Symbol("d", positive=True)  # width
tau = sympy.Symbol("tau", nonnegative=True)  # diffusion time L**(1 - 2 beta)
t = sympy.Symbol("t", nonnegative=True)  # continuous layer time
rho = sympy.Symbol("rho", real=True)  # correlation / cosine in [-1, 1]
q = sympy.Symbol("q", positive=True)  # per-coordinate variance ||h_0||^2 / d
a = sympy.Symbol("a", nonnegative=True)  # negative slope of leaky_relu
z = sympy.Symbol("z", real=True)  # a standard normal integration variable
j, k = sympy.symbols("j k", integer=True, nonnegative=True)  # layer indices
alpha = L ** (-beta)


def exact(value: Real | str | sympy.Basic, name: str = "value") -> sympy.Expr:
    """`value` as an exact sympy number: floats through their decimal repr (0.1 -> 1/10).

    Sympy expressions pass through unchanged (so a symbolic slope such as `a` can be used).
    Raises ValueError naming `name` for non-finite or non-numeric input.
    """
    if isinstance(value, sympy.Basic):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is not allowed: expected a real number")
    if isinstance(value, int):
        return sympy.Integer(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{name}={value!r} is not allowed: expected a real number") from None
        if not math.isfinite(number):
            raise ValueError(f"{name}={value!r} is not allowed: expected a finite real number")
        return sympy.Rational(value.strip())
    if isinstance(value, Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{name}={value!r} is not allowed: expected a finite real number")
        return sympy.Rational(repr(number))
    raise ValueError(f"{name}={value!r} is not allowed: expected a real number")
