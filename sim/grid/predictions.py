"""What `theory` predicts for the cells of a grid, with uncovered cells made explicit.

Every theory call goes through `Predictor`, which turns `theory.NotCovered` into an empty
prediction ('not covered'), caches results (sympy is slow), and turns any other failure of the
theory package (not importable yet, a missing function, an error inside it) into an empty
prediction plus one warning, so that exports never crash after a long simulation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sim.cell import Cell


@dataclass(frozen=True)
class CellPrediction:
    """Theory's reading of one cell. All fields None when theory does not cover it.

    regime: the large-depth regime of the median: 'explode' | 'identity' | 'non-trivial' | 'flat' for
        the deviations, 'explode' | 'flat' | 'collapse' for the norm (fwd).
    beta_c: the asymptotic critical exponent.
    slope: the asymptotic log-log slope of the median against depth (math.inf when it explodes,
        -math.inf when the norm collapses).
    finite_depth_slope: the slope theory predicts over the simulated depths.
    law, outside_validity: which finite-depth law gave the slope of bwd_diff, and whether it is
        outside its validity (see the fields).
    """

    regime: str | None
    beta_c: float | None
    slope: float | None
    finite_depth_slope: float | None
    # For bwd_diff: 'backward' when the slope comes from the backward law (docs/theory.md §4.10),
    # 'forward' when it is borrowed from the forward law; None for the forward quantities.
    law: str | None = None
    # True where the backward law is outside its validity at this beta: finite_depth_slope is its value,
    # recorded, but no verdict rests on it.
    outside_validity: bool = False

    @property
    def covered(self) -> bool:
        """True when theory gives a regime for the cell."""
        return self.regime is not None


@dataclass(frozen=True)
class ThresholdPrediction:
    """Theory's threshold for a family: the finite-depth crossing and the asymptotic beta_c; and
    the explosion edge beta_e where theory separates it from beta_c (a non-trivial band between
    them, as for antisym blocks with shared weights): NaN when theory says nothing explodes at
    beta > 0, None when it has no such prediction. For bwd_diff the finite-depth crossing is the backward
    law's where it is derived (law 'backward'), else the forward law's (law 'forward')."""

    finite_depth: float | None
    asymptotic: float | None
    explosion: float | None = None
    law: str | None = None  # for bwd_diff: 'backward' or 'forward' (borrowed), as in CellPrediction
    outside_validity: bool = False  # the backward law is outside its validity at its own crossing


def _number(value: Any) -> float | None:
    """A sympy expression or number as a float (sympy.oo -> math.inf, NaN -> None)."""
    import sympy

    if value == sympy.oo:
        return math.inf
    number = float(sympy.N(value))
    return None if math.isnan(number) else number


class Predictor:
    """Cached, failure-proof access to the theory package's predictions."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._theory: Any = None
        self._import_error: str | None = None
        try:
            import theory
        except Exception as exc:  # the theory package is optional at run time
            self._import_error = f"{type(exc).__name__}: {exc}"
        else:
            self._theory = theory

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def _call(self, name: str, cell: Cell, *args: Any, convert: Callable[[Any], Any] = _number) -> Any:
        """theory.<name>(cell, *args) converted, or None when not covered or unavailable."""
        key = (name, cell.key(), repr(args))
        if key in self._cache:
            return self._cache[key]
        value = None
        if self._theory is None:
            self._warn(f"theory is not importable ({self._import_error}): predictions left empty")
        elif not hasattr(self._theory, name):
            self._warn(f"theory.{name} does not exist: its predictions are left empty")
        else:
            not_covered = getattr(self._theory, "NotCovered", None)
            try:
                value = convert(getattr(self._theory, name)(cell, *args))
            except Exception as exc:
                if not_covered is None or not isinstance(exc, not_covered):
                    self._warn(f"theory.{name} failed for {cell.label()} "
                               f"({type(exc).__name__}: {exc}): prediction left empty")
                value = None
        self._cache[key] = value
        return value

    def cell(self, cell: Cell, depths: Sequence[int], quantity: str = "diff") -> CellPrediction:
        """The prediction for the median of `quantity` (fwd, diff or bwd_diff) of `cell` (its beta)
        over the simulated `depths`: theory's median regime, which at small width may differ from
        the trichotomy's (docs/theory.md §4.9), and its slopes."""
        depths = tuple(int(d) for d in depths)
        probe = cell.replace(depth=max(depths))
        regime = self._call("median_regime", probe, quantity, convert=str)
        if regime is None:
            return CellPrediction(None, None, None, None)
        if quantity == "bwd_diff":
            return self._backward_cell(probe, depths, regime)
        finite = None
        if len(depths) >= 2:
            if quantity == "fwd" or self._call("width_rule_applies", probe, convert=bool):
                finite = self._call("median_finite_depth_slope", probe, list(depths), quantity)
            if finite is None:
                finite = self._call("finite_depth_slope", probe, list(depths))
                if quantity == "fwd" and finite is not None:
                    # Where the norm's own law is not derived, its finite-depth regime is read off the
                    # deviation's: 1 - diff <= ||h_L||/||h_0|| <= 1 + diff, so the norm explodes at these
                    # depths where the deviation does and stays level where the deviation does not grow.
                    finite = max(finite, 0.0)
        return CellPrediction(regime=regime, beta_c=self._call("critical_beta", probe),
                              slope=self._call("median_depth_exponent", probe, quantity), finite_depth_slope=finite)

    def _backward_cell(self, probe: Cell, depths: tuple[int, ...], regime: str) -> CellPrediction:
        """bwd_diff: the backward law's finite-depth slope (docs/theory.md §4.10) where it is derived, flagged
        where it is outside its validity; the forward law's, borrowed, where it is not derived."""
        finite, law, outside = None, None, False
        if len(depths) >= 2 and not self._call("width_rule_applies", probe, convert=bool):
            finite = self._call("backward_finite_depth_slope", probe, list(depths))
            law = "backward"
            if finite is not None:
                outside = self._call("backward_law_valid", probe, list(depths), convert=bool) is False
            else:
                finite = self._call("finite_depth_slope", probe, list(depths))
                law = "forward" if finite is not None else None
        return CellPrediction(regime=regime, beta_c=self._call("critical_beta", probe),
                              slope=self._call("median_depth_exponent", probe, "bwd_diff"), finite_depth_slope=finite,
                              law=law, outside_validity=outside)

    def threshold(self, cell: Cell, depths: Sequence[int], quantity: str = "diff") -> ThresholdPrediction:
        """Finite-depth and asymptotic thresholds for the family of `cell` over `depths`, for the deviation
        `quantity` ('diff', or 'bwd_diff': the backward law's crossing where it is derived)."""
        depths = tuple(int(d) for d in depths)
        probe = cell.replace(depth=max(depths))
        law, outside = None, False
        finite = None
        if len(depths) >= 2 and quantity == "bwd_diff":
            finite = self._call("backward_finite_depth_threshold", probe, list(depths))
            law = "backward"
            if finite is not None:
                outside = self._call("backward_threshold_valid", probe, list(depths), convert=bool) is False
            else:
                law = "forward"
        if len(depths) >= 2 and finite is None:
            finite = self._call("finite_depth_threshold", probe, list(depths))
        explosion = None
        if probe.block == "antisym":  # theory separates the explosion edge from beta_c only there
            explosion = self._call("explosion_beta", probe, convert=lambda v: math.nan if v is None else _number(v))
        return ThresholdPrediction(finite_depth=finite, asymptotic=self._call("critical_beta", probe),
                                   explosion=explosion, law=law if quantity == "bwd_diff" else None,
                                   outside_validity=outside)
