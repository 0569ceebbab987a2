"""One encoded prediction (`Claim`) and the statuses it may carry; `theory.claims` holds the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy

from sim.cell import Cell

STATUSES = ("theorem", "exact", "asymptotic", "conjecture")


@dataclass(frozen=True)
class Claim:
    """One encoded prediction: what it says, how sure we are, and which cells it covers."""

    name: str
    title: str
    status: str
    source: str
    formula: sympy.Basic
    statement: str
    scope: str
    covers: Callable[[Cell], bool] = field(repr=False, compare=False)
    # The cells on which a run's medians test the claim, where narrower than `covers` (the i.i.d.
    # trichotomy covers every width, but the median follows it only outside the small-width rule).
    judged: Callable[[Cell], bool] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status={self.status!r} is not allowed: one of {', '.join(STATUSES)}")

    def applies(self, cell: Cell) -> bool:
        """True when the claim covers this cell."""
        return bool(self.covers(cell))

    def judged_on(self, cell: Cell) -> bool:
        """True when a run's median verdicts on this cell test the claim."""
        return self.applies(cell) and (self.judged is None or bool(self.judged(cell)))

    def latex(self) -> str:
        """The formula in LaTeX."""
        return sympy.latex(self.formula)
