"""Small-step expansion of the 'antisym' network with i.i.d. weights (identity activation).

One layer is one Runge-Kutta step of size alpha of h' = A(t) h, stage i at layer time k + c_i with
A(k + c) = (1 - c) A_k + c A_{k+1} (the engine's linear interpolation), A_k = S_k - gamma I and
S_k = K_k - K_k^T independent across k. So h_{k+1} = M_k h_k with M_k a polynomial in alpha whose
coefficients are non-commutative polynomials in S_k, S_{k+1} (`step_expansion`), and h_L = M_{L-1} ...
M_0 h_0. Heun and RK4 share S_{k+1} between layers k and k + 1, so h_k is not independent of the
next layer's weights: the moments below are computed from the whole product, not layer by layer.

E ||h_L||^2 / ||h_0||^2 and E <h_L, h_0> / ||h_0||^2 are power series in alpha whose coefficients are
sums of E<u, W u> over words W (`theory.wick`); `moment_series` computes them exactly, in d and
gamma. Their logarithms are, for L >= 3, exactly linear in L order by order (a finite-range
dependence along k): log E = L r(alpha) + b(alpha), with the per-layer rate r and the boundary b
returned by `moment_rates`. With gamma = 0, E log ||h_L||^2 / ||h_0||^2 has the same structure
(`log_norm_rates`). The orders and the law they hold for: alpha^2 coefficients use only covariances
(any zero-mean entry law of variance 1/d); alpha^3 and alpha^4 coefficients use Gaussian fourth
moments (status for the uniform law: not derived).
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache

import sympy

from theory.stability import tableau
from theory.symbols import d
from theory.wick import Word, canonical, quadratic_moment, quadratic_pair_moment, transpose

# An operator series: power of alpha -> {word: coefficient}; words act right to left like matrices.
Series = dict[int, dict[Word, sympy.Expr]]
# Depths used to read off rate and boundary: the dependence along k has range 2 (S_{k+1} is shared
# by two consecutive layers), so log-moments are linear in L from L = 3 on (a test checks 5 -> 6).
_RATE_DEPTHS = (4, 5)

_ONE: Series = {0: {(): sympy.Integer(1)}}
_ZERO = sympy.Integer(0)
_WIDTH = d  # the width as a symbol: formulas in d by default


def _add(p: Series, q: Series, scale: sympy.Expr = 1) -> Series:
    out: Series = {n: dict(words) for n, words in p.items()}
    for n, words in q.items():
        slot = out.setdefault(n, {})
        for w, c in words.items():
            slot[w] = slot.get(w, 0) + scale * c
    return out


def _mul(p: Series, q: Series, order: int) -> Series:
    """The operator product p q (q applied first), truncated above alpha^order."""
    out: dict[int, dict[Word, sympy.Expr]] = defaultdict(lambda: defaultdict(int))
    for n, left in p.items():
        for m, right in q.items():
            if n + m > order:
                continue
            for w, a in left.items():
                for v, b in right.items():
                    out[n + m][w + v] += a * b
    return {n: {w: c for w, c in ((w, sympy.expand(c)) for w, c in words.items()) if c != 0}
            for n, words in out.items()}


def _times_alpha(p: Series, order: int) -> Series:
    return {n + 1: words for n, words in p.items() if n + 1 <= order}


def _field(k: int, c: sympy.Expr, damping: sympy.Expr) -> Series:
    """A at layer time k + c: (1 - c) S_k + c S_{k+1} - gamma I."""
    words: dict[Word, sympy.Expr] = {}
    if c != 1:
        words[(k,)] = 1 - c
    if c != 0:
        words[(k + 1,)] = c
    if damping != 0:
        words[()] = -damping
    return {0: words}


def step_expansion(stepper: str, k: int, damping: sympy.Expr = 0, order: int = 4) -> Series:
    """M_k: layer k's step as a series in alpha (letters k and k + 1 for S_k and S_{k+1})."""
    tab = tableau(stepper)
    slopes: list[Series] = []
    for i in range(tab.stages):
        state = _ONE
        for j, a_ij in enumerate(tab.a[i]):
            if a_ij != 0:
                state = _add(state, _times_alpha(slopes[j], order), a_ij)
        slopes.append(_mul(_field(k, tab.c[i], damping), state, order))
    out = _ONE
    for i, b_i in enumerate(tab.b):
        out = _add(out, _times_alpha(slopes[i], order), b_i)
    return out


def network_expansion(stepper: str, depth: int, damping: sympy.Expr = 0, order: int = 4) -> Series:
    """M_{L-1} ... M_0 as a series in alpha, truncated above alpha^order."""
    out = _ONE
    for k in range(depth):
        out = _mul(step_expansion(stepper, k, damping, order), out, order)
    return out


def _norm_forms(product: Series, order: int) -> dict[int, dict[Word, sympy.Expr]]:
    """||h_L||^2 / ||h_0||^2 = sum_n alpha^n sum_W c_W <u, W u>, grouped by word."""
    out: dict[int, dict[Word, sympy.Expr]] = defaultdict(lambda: defaultdict(int))
    for n, left in product.items():
        for m, right in product.items():
            if n + m > order:
                continue
            for w, a in left.items():
                sign, w_t = transpose(w)
                for v, b in right.items():
                    out[n + m][w_t + v] += sign * a * b
    return out


def _expect(forms: dict[Word, sympy.Expr], d: sympy.Expr) -> sympy.Expr:
    """sum_W c_W E<u, W u>, with words of equal pattern evaluated once."""
    grouped: dict[tuple, sympy.Expr] = defaultdict(int)
    for w, c in forms.items():
        grouped[canonical((w,))[0]] += c
    return sympy.factor(sympy.expand(sum(sympy.expand(c) * quadratic_moment(w, d) for w, c in grouped.items())))


@cache
def moment_series(stepper: str, depth: int, damping: sympy.Expr = _ZERO,
                  width: sympy.Expr = _WIDTH,
                  order: int = 4) -> tuple[tuple[sympy.Expr, ...], tuple[sympy.Expr, ...]]:
    """Coefficients (c_0..c_order) in alpha of E||h_L||^2/||h_0||^2 and of E<h_L, h_0>/||h_0||^2.

    Exact in d and gamma for the Gaussian law (see the module docstring for other laws).
    """
    damping, width = sympy.sympify(damping), sympy.sympify(width)
    product = network_expansion(stepper, depth, damping, order)
    forms = _norm_forms(product, order)
    norm = tuple(_expect(forms.get(n, {}), width) for n in range(order + 1))
    overlap = tuple(_expect(product.get(n, {}), width) for n in range(order + 1))
    return norm, overlap


def log_series(coefficients: tuple[sympy.Expr, ...]) -> tuple[sympy.Expr, ...]:
    """Coefficients of log(sum_n c_n a^n) for c_0 = 1, to the same order."""
    if sympy.simplify(coefficients[0] - 1) != 0:
        raise ValueError(f"coefficients[0]={coefficients[0]!r} is not allowed: expected 1")
    order = len(coefficients) - 1
    rest = [sympy.Integer(0), *coefficients[1:]]
    out = [sympy.Integer(0)] * (order + 1)
    power = [sympy.Integer(1)] + [sympy.Integer(0)] * order
    for k in range(1, order + 1):
        power = [sympy.expand(sum(power[i] * rest[n - i] for i in range(n + 1))) for n in range(order + 1)]
        for n in range(order + 1):
            out[n] += sympy.Rational((-1) ** (k + 1), k) * power[n]
    return tuple(sympy.factor(sympy.expand(x)) for x in out)


@cache
def moment_rates(stepper: str, damping: sympy.Expr = _ZERO,
                 width: sympy.Expr = _WIDTH, order: int = 4) -> dict[str, tuple]:
    """Per-layer rates and boundary terms of log E||h_L||^2/||h_0||^2 and log E<h_L, h_0>/||h_0||^2.

    Returns {'norm': rate, 'norm_boundary': b, 'overlap': rate, 'overlap_boundary': b}, each a tuple
    of alpha-coefficients (orders 0..order), with log E = L rate(alpha) + b(alpha) for L >= 3.
    """
    first, second = _RATE_DEPTHS
    out = {}
    series = {depth: moment_series(stepper, depth, damping, width, order) for depth in _RATE_DEPTHS}
    for index, name in enumerate(("norm", "overlap")):
        low, high = log_series(series[first][index]), log_series(series[second][index])
        rate = tuple(sympy.factor(sympy.expand(b - a)) for a, b in zip(low, high, strict=True))
        out[name] = rate
        out[f"{name}_boundary"] = tuple(sympy.factor(sympy.expand(a - first * r))
                                        for a, r in zip(low, rate, strict=True))
    return out


@cache
def log_norm_series(stepper: str, depth: int, width: sympy.Expr = _WIDTH) -> tuple:
    """Coefficients (orders 0..4) of E log(||h_L||^2/||h_0||^2) in alpha, damping 0, Gaussian law.

    With X = ||h_L||^2/||h_0||^2 - 1 = sum_n alpha^n X_n: X_1 = 2 sum <u, A u> = 0 for every draw and
    E X_3 = 0 (odd words), so E log(1 + X) = alpha^2 E X_2 + alpha^4 (E X_4 - E X_2^2 / 2) + O(alpha^6).
    """
    width = sympy.sympify(width)
    product = network_expansion(stepper, depth, sympy.Integer(0), 4)
    forms = _norm_forms(product, 4)
    mean2, mean4 = _expect(forms.get(2, {}), width), _expect(forms.get(4, {}), width)
    grouped = [(w, sympy.expand(c)) for w, c in forms.get(2, {}).items() if sympy.expand(c) != 0]
    square = sum(c1 * c2 * quadratic_pair_moment(w1, w2, width) for w1, c1 in grouped for w2, c2 in grouped)
    zero = sympy.Integer(0)
    return zero, zero, mean2, zero, sympy.factor(sympy.expand(mean4 - square / 2))


@cache
def log_norm_rates(stepper: str, width: sympy.Expr = _WIDTH) -> tuple:
    """Per-layer rate of E log(||h_L||^2/||h_0||^2) in alpha (orders 0..4), damping 0, Gaussian.

    euler (0, 0, s2, 0, -s2 (d + 1)/d), heun (0, 0, s2/2, 0, (d - 1)(3d - 8)/(4 d^2)),
    rk4 (0, 0, 0, 0, -(d^2 - 1)/(36 d^2)), s2 = 2(d - 1)/d.
    """
    first, second = _RATE_DEPTHS
    low, high = log_norm_series(stepper, first, width), log_norm_series(stepper, second, width)
    return tuple(sympy.factor(sympy.expand(b - a)) for a, b in zip(low, high, strict=True))
