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

    regime: 'explode' | 'identity' | 'non-trivial' (large-depth).
    beta_c: the asymptotic critical exponent.
    slope: the asymptotic log-log slope of the deviation against depth (math.inf when explode).
    finite_depth_slope: the slope theory predicts over the simulated depths.
    """

    regime: str | None
    beta_c: float | None
    slope: float | None
    finite_depth_slope: float | None

    @property
    def covered(self) -> bool:
        """True when theory gives a regime for the cell."""
        return self.regime is not None


@dataclass(frozen=True)
class ThresholdPrediction:
    """Theory's threshold for a family: the finite-depth crossing and the asymptotic beta_c; and
    the explosion edge beta_e where theory separates it from beta_c (a non-trivial band between
    them, as for antisym blocks with shared weights): NaN when theory says nothing explodes at
    beta > 0, None when it has no such prediction."""

    finite_depth: float | None
    asymptotic: float | None
    explosion: float | None = None


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

    def cell(self, cell: Cell, depths: Sequence[int]) -> CellPrediction:
        """The prediction for `cell` (its beta) over the simulated `depths`."""
        depths = tuple(int(d) for d in depths)
        probe = cell.replace(depth=max(depths))
        regime = self._call("regime", probe, convert=str)
        if regime is None:
            return CellPrediction(None, None, None, None)
        finite = self._call("finite_depth_slope", probe, list(depths)) if len(depths) >= 2 else None
        return CellPrediction(regime=regime, beta_c=self._call("critical_beta", probe),
                              slope=self._call("depth_exponent", probe), finite_depth_slope=finite)

    def threshold(self, cell: Cell, depths: Sequence[int]) -> ThresholdPrediction:
        """Finite-depth and asymptotic thresholds for the family of `cell` over `depths`."""
        depths = tuple(int(d) for d in depths)
        probe = cell.replace(depth=max(depths))
        finite = self._call("finite_depth_threshold", probe, list(depths)) if len(depths) >= 2 else None
        explosion = None
        if probe.block == "antisym":  # theory separates the explosion edge from beta_c only there
            explosion = self._call("explosion_beta", probe, convert=lambda v: math.nan if v is None else _number(v))
        return ThresholdPrediction(finite_depth=finite, asymptotic=self._call("critical_beta", probe),
                                   explosion=explosion)
