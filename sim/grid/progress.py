"""Progress of a grid run: a one-line bar on a terminal, one line per finished cell otherwise.

The ETA weighs the remaining work by a cost model (samples x depth x width^2 x beta blocks), not
by the number of cells, because a grid's cells differ in cost by orders of magnitude.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from typing import TextIO

from sim.cell import Cell
from sim.engine import beta_block
from sim.steppers import tableau

MODES = ("bar", "lines", "quiet")


def group_cost(cell: Cell, n_beta: int) -> float:
    """Relative cost of one engine call: samples x depth x width^2 x matrices x beta blocks."""
    matrices = 2 if cell.block == "res3" else 1
    stages = tableau(cell.stepper).stages
    return float(cell.samples * cell.depth * cell.width**2 * matrices * stages
                 * math.ceil(n_beta / beta_block(cell)))


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Reports cells done out of `total` (cells to simulate) and the time left.

    mode: 'bar' (redrawn in place, for terminals), 'lines' (one line per finished cell) or 'quiet'.
    """

    def __init__(self, total: int, total_cost: float, mode: str, stream: TextIO | None = None):
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not allowed: one of {', '.join(MODES)}")
        self.total, self.total_cost, self.mode = total, max(total_cost, 1e-300), mode
        self.stream = stream if stream is not None else sys.stderr
        self.done, self.done_cost = 0, 0.0
        self.start = time.perf_counter()
        self._current = ""

    def _eta(self) -> str:
        if self.done_cost <= 0:
            return "--:--"
        elapsed = time.perf_counter() - self.start
        return _clock(elapsed * (self.total_cost - self.done_cost) / self.done_cost)

    def _draw(self) -> None:
        width = shutil.get_terminal_size((100, 20)).columns
        frac = self.done / self.total if self.total else 1.0
        bar_len = 24
        filled = int(round(bar_len * frac))
        text = (f"[{'#' * filled}{'-' * (bar_len - filled)}] {self.done}/{self.total} cells "
                f"{100 * frac:3.0f}%  elapsed {_clock(time.perf_counter() - self.start)}  "
                f"ETA {self._eta()}  {self._current}")
        self.stream.write("\r" + text[: width - 1].ljust(width - 1))
        self.stream.flush()

    def begin(self, label: str) -> None:
        """A new engine call starts (shown on the bar)."""
        self._current = label
        if self.mode == "bar":
            self._draw()

    def advance(self, finished: list[tuple[Cell, float]], cost: float) -> None:
        """Cells finished by one engine call: (cell, seconds) each, and the call's cost."""
        self.done_cost += cost
        for cell, seconds in finished:
            self.done += 1
            if self.mode == "lines":
                width = len(str(self.total))
                self.stream.write(f"[{self.done:>{width}}/{self.total}] {cell.label()}  {seconds:.2f} s\n")
        if self.mode == "lines":
            self.stream.flush()
        elif self.mode == "bar":
            self._draw()

    def finish(self) -> None:
        """End the bar's line."""
        if self.mode == "bar":
            self._current = ""
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
