"""Moments of words in independent antisymmetric Gaussian matrices, by Wick's theorem.

S = K - K^T with K of iid N(0, 1/d) entries has covariance E[S_ij S_kl] = (2/d)(d_ik d_jl - d_il d_jk)
(d_ij the Kronecker delta). A word (m_1, ..., m_n) stands for the product S_{m_1} ... S_{m_n} of
matrices of the independent families m (layers). Wick's theorem pairs equal letters; contracting the
first letter of a trace with another occurrence uses the two identities (Y, Z, W any matrices)

    E tr(S Y S Z)       = (2/d) (tr(Y^T Z) - tr(Y) tr(Z)),
    E tr(S Y) tr(S W)   = (2/d) (tr(Y W^T) - tr(Y W)),

with Y^T = (-1)^|Y| reversed(Y) because S^T = -S. Applied recursively this gives E of any product of
traces as a Laurent polynomial in d (tr of the empty word is d). Two checks: E tr(S^2) = -2(d - 1),
E tr(S_1 S_2 S_1 S_2) = 4(d - 1)/d; tests compare further words with Monte Carlo.

The law of S is invariant under S -> Q S Q^T (Q orthogonal), so for a fixed unit vector u,
E<u, W u> = E tr(W)/d and, with E[u_i u_j u_k u_l] over the sphere,
E<u, W1 u><u, W2 u> = (E tr W1 tr W2 + E tr(W1 W2^T) + E tr(W1 W2)) / (d (d + 2)).
Words of length two use only the covariance, so their moments hold for any zero-mean entry law of
variance 1/d; longer words are Gaussian (the uniform law adds fourth-cumulant terms, not encoded).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from functools import cache

import sympy

Word = tuple[Hashable, ...]


def transpose(word: Word) -> tuple[int, Word]:
    """(sign, reversed word) with W^T = sign * reversed(W), since every letter is antisymmetric."""
    return (-1) ** len(word), tuple(reversed(word))


def canonical(traces: Sequence[Word]) -> tuple[tuple[int, ...], ...]:
    """The traces with letters renamed 0, 1, ... in order of first appearance (moments depend only
    on which letters are equal)."""
    names: dict[Hashable, int] = {}
    out = []
    for word in traces:
        out.append(tuple(names.setdefault(x, len(names)) for x in word))
    return tuple(out)


def trace_moment(traces: Sequence[Word], d: sympy.Expr | int) -> sympy.Expr:
    """E prod_i tr(W_i) for words W_i (tuples of layer labels), exact in the width d."""
    return _moment(canonical(traces), sympy.sympify(d))


@cache
def _moment(traces: tuple[tuple[int, ...], ...], d: sympy.Expr) -> sympy.Expr:
    factor = sympy.Integer(1)
    words = []
    for word in traces:
        if word:
            words.append(word)
        else:
            factor *= d
    if not words:
        return factor
    if any(n % 2 for n in Counter(x for w in words for x in w).values()):
        return sympy.Integer(0)  # an unpaired letter: odd moments of a centred Gaussian vanish
    first, rest = words[0], words[1:]
    x, y0 = first[0], first[1:]
    total = sympy.Integer(0)
    for p, letter in enumerate(y0):
        if letter == x:  # tr(S Y S Z)
            y, z = y0[:p], y0[p + 1:]
            sign, y_t = transpose(y)
            total += sign * _moment(canonical((y_t + z, *rest)), d) - _moment(canonical((y, z, *rest)), d)
    for i, word in enumerate(rest):
        others = rest[:i] + rest[i + 1:]
        for p, letter in enumerate(word):
            if letter == x:  # tr(S Y) tr(S W), W the other trace rotated to start after S
                w = word[p + 1:] + word[:p]
                sign, w_t = transpose(w)
                total += sign * _moment(canonical((y0 + w_t, *others)), d) - _moment(canonical((y0 + w, *others)), d)
    return sympy.expand(factor * 2 / d * total)


def quadratic_moment(word: Word, d: sympy.Expr | int) -> sympy.Expr:
    """E<u, W u> for a fixed unit vector u: E tr(W) / d (orthogonal invariance)."""
    d = sympy.sympify(d)
    return sympy.expand(trace_moment((word,), d) / d)


def quadratic_pair_moment(first: Word, second: Word, d: sympy.Expr | int) -> sympy.Expr:
    """E<u, W1 u><u, W2 u> for a fixed unit vector u (fourth moments of u uniform on the sphere)."""
    d = sympy.sympify(d)
    sign, second_t = transpose(second)
    total = (trace_moment((first, second), d) + sign * trace_moment((first + second_t,), d)
             + trace_moment((first + second,), d))
    return sympy.expand(total / (d * (d + 2)))
