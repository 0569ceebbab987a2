"""Evidence for the exact and asymptotic laws, gathered from stored per-sample values.

For every stored cell where theory gives a closed form, the checks of `reports.laws` are run once
here; the verdict table, the section 4 figures and the section 4 tables all read these results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from reports import predictions
from reports.laws import LawCheck, MomentCheck, lognormal_check, moment_check
from reports.rundata import Family, RunData, family_label, family_of, rkey

CURVE_POINTS = 40


@dataclass
class MomentEvidence:
    """One cell's second-moment checks against the exact law (docs/theory.md §4.2).

    checks: 'fwd' (E||h_L||^2/||h_0||^2), 'diff' (E||h_L - h_0||^2/||h_0||^2), and 'bwd', 'bwd_diff' (the
    gradient's ratios, which have the same closed forms exactly, docs/theory.md §4.6).
    """

    family: Family
    cell: Any
    checks: dict[str, MomentCheck]

    @property
    def fwd(self) -> MomentCheck:
        """The forward second-moment check."""
        return self.checks["fwd"]


@dataclass
class LeadingEvidence:
    """One cell's mean squared deviation against the leading-order finite-depth formula (docs/theory.md §4.8).

    relative_bias: alpha_L^2 L, the relative size of the terms the formula drops (theory's own
    statement of its order), used as the bias allowance of the test.
    """

    family: Family
    cell: Any
    check: MomentCheck
    relative_bias: float


@dataclass
class LawEvidence:
    """One cell's critical-law check at beta = 1/2, with its samples X = 2 fwd for the histogram."""

    family: Family
    cell: Any
    samples: np.ndarray
    check: LawCheck


def cell_family(cell: Any) -> Family:
    """The (block, activation, init, dist, width, stepper, damping) family of a `sim.Cell`."""
    return family_of({"block": cell.block, "activation": cell.activation, "init": cell.init,
                      "dist": cell.dist, "width": cell.width, "stepper": cell.stepper,
                      "damping": cell.damping})


def cell_where(cell: Any) -> str:
    """The family label of a cell, with its regularity value when it has one ('res3 relu fgn, d = 16, H = 0.5')."""
    label = family_label(cell_family(cell))
    symbol = {"fgn": "H", "fbm": "H", "smooth": "ℓ"}.get(cell.init)
    return label if symbol is None else f"{label}, {symbol} = {cell.regularity:g}"


def moment_evidence(data: RunData, theory: ModuleType | None) -> list[MomentEvidence]:
    """Second-moment checks for every stored cell where theory.second_moment applies."""
    out = []
    for sc in data.stored or []:
        predicted = predictions.second_moment(theory, sc.cell)
        if predicted is None:
            continue
        deviation = predictions.deviation_moment(theory, sc.cell)
        checks = {"fwd": moment_check(sc.logs["fwd"], predicted),
                  "bwd": moment_check(sc.logs["bwd"], predicted)}
        if deviation is not None:
            checks["diff"] = moment_check(sc.logs["diff"], deviation)
            checks["bwd_diff"] = moment_check(sc.logs["bwd_diff"], deviation)
        out.append(MomentEvidence(cell_family(sc.cell), sc.cell, checks))
    out.sort(key=lambda e: (e.family, e.cell.beta, e.cell.depth, e.cell.width))
    return out


def moment_curve(theory: ModuleType | None, cell: Any, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Theory's second moment at integer depths spread log-evenly over [lo, hi] (for drawing)."""
    depths = np.unique(np.round(np.geomspace(lo, hi, CURVE_POINTS)).astype(int))
    values = []
    for L in depths:
        v = predictions.second_moment(theory, cell.replace(depth=int(L)))
        values.append(math.nan if v is None else v)
    return depths.astype(float), np.array(values)


def leading_evidence(data: RunData, theory: ModuleType | None, max_relative_bias: float,
                     quantity: str = "diff") -> list[LeadingEvidence]:
    """Leading-order deviation checks where the formula claims validity (alpha_L^2 L <= the bound): the
    forward law of docs/theory.md §4.8 for 'diff', the backward law of §4.10 for 'bwd_diff'."""
    leading = predictions.leading_backward_deviation if quantity == "bwd_diff" else predictions.leading_deviation
    out = []
    for sc in data.stored or []:
        cell = sc.cell
        relative = cell.alpha**2 * cell.depth
        if relative > max_relative_bias:
            continue
        predicted = leading(theory, cell)
        if predicted is None or not predicted > 0:
            continue
        out.append(LeadingEvidence(cell_family(cell), cell, moment_check(sc.logs[quantity], predicted), relative))
    out.sort(key=lambda e: (e.family, e.cell.regularity or 0.0, e.cell.beta, e.cell.depth))
    return out


def law_evidence(data: RunData, theory: ModuleType | None) -> list[LawEvidence]:
    """Critical-law checks for every stored cell at beta = 1/2 where theory.lognormal_law applies."""
    out = []
    for sc in data.stored or []:
        if rkey(sc.cell.beta) != 0.5:
            continue
        law = predictions.lognormal_law(theory, sc.cell)
        c = predictions.c_sigma(theory, sc.cell)
        if law is None or c is None:
            continue
        x = 2.0 * np.asarray(sc.logs["fwd"], dtype=np.float64)
        out.append(LawEvidence(cell_family(sc.cell), sc.cell, x,
                               lognormal_check(x, law[0], law[1], c, sc.cell.depth)))
    out.sort(key=lambda e: (e.family, e.cell.depth, e.cell.width))
    return out
