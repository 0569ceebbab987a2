"""The grid command, `python -m sim.grid`: a grid of cells simulated (and optionally trained), stored as
it goes in OUT/results.sqlite, classified into regimes, compared with `theory`, exported as CSV and
reported.

Modules: `command` (the command line), `spec` (axes into cells), `presets`, `store` (the SQLite
store), `regimes` (the decision rules), `predictions` (theory per cell), `exports` (the CSV tables),
`progress`, `runinfo` (the run record), `results` (the grid from Python: `run`, `load`, `Run`).
"""

from sim.grid.command import main
from sim.grid.results import Run, load, run

__all__ = ["Run", "load", "main", "run"]
