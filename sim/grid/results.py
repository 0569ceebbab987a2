"""The grid from Python (a notebook): `run(...)` runs a grid exactly as `python -m sim.grid` does and
returns a `Run`; `load(out)` reads a finished run directory.

A `Run` holds the run's tables as pandas DataFrames, read from the CSV files the command writes
(`cells`, `regimes`, `thresholds`, and `training` for runs with --train; the columns are those of
docs/outputs.md, with list columns such as `depths` as ';'-joined text), the run record (`record`,
run.json) and, on request, the per-sample logs from the store (`samples()`). The report's figures
are functions of a `Run` in `reports.figures`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.engine import QUANTITIES
from sim.grid.command import STORE_NAME, UsageError, build_parser, execute, plan
from sim.grid.store import Store
from sim.landscape.model import PRESET as LANDSCAPE

# The command's flags that take no value, as keywords of `run` (True gives the flag).
_SWITCHES = ("force", "quiet", "no_report")


@dataclass(frozen=True)
class Run:
    """A run directory written by `python -m sim.grid` or `run`: its tables, record and store."""

    out: Path

    def _table(self, name: str) -> pd.DataFrame:
        path = self.out / name
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: the run's tables were not written "
                                    "(rerun the same command or call sim.grid.run again to write them)")
        return pd.read_csv(path)

    @cached_property
    def cells(self) -> pd.DataFrame:
        """cells.csv: one row per stored cell, statistics of each quantity's per-sample log."""
        return self._table("cells.csv")

    @cached_property
    def regimes(self) -> pd.DataFrame:
        """regimes.csv: one row per (family, regularity, beta, quantity), observed against predicted."""
        return self._table("regimes.csv")

    @cached_property
    def thresholds(self) -> pd.DataFrame:
        """thresholds.csv: one row per (family, regularity, quantity), the observed beta_c."""
        return self._table("thresholds.csv")

    @cached_property
    def training(self) -> pd.DataFrame | None:
        """training.csv (runs with --train), or None when the run trained nothing."""
        return self._table("training.csv") if (self.out / "training.csv").exists() else None

    @cached_property
    def record(self) -> dict[str, Any]:
        """run.json: the command, grid, provenance, counts and stage times."""
        return json.loads((self.out / "run.json").read_text(encoding="utf-8"))

    def samples(self, quantities: Iterable[str] = QUANTITIES) -> pd.DataFrame:
        """The per-sample natural logs from OUT/results.sqlite: one row per (cell, sample) with the
        cell's `key` (as in cells.csv), its block, activation, init, regularity, beta, depth, width and
        stepper, the `sample` index, and one column per quantity (fwd, diff, bwd, bwd_diff)."""
        quantities = list(quantities)
        unknown = [q for q in quantities if q not in QUANTITIES]
        if unknown:
            raise ValueError(f"quantities={unknown!r} is not allowed: each one of {', '.join(QUANTITIES)}")
        with Store(self.out / STORE_NAME, readonly=True) as store:
            stored = store.load()
        parts = []
        for sc in stored:
            c, n = sc.cell, len(sc.logs[QUANTITIES[0]])
            part: dict[str, Any] = {
                "key": sc.key, "block": c.block, "activation": c.activation, "init": c.init,
                "regularity": c.regularity, "beta": c.beta, "depth": c.depth, "width": c.width,
                "stepper": c.stepper, "sample": np.arange(n),
            }
            part.update({q: sc.logs[q] for q in quantities})
            parts.append(pd.DataFrame(part))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def load(out: str | os.PathLike[str]) -> Run:
    """The finished run in directory `out`; ValueError when it holds no run."""
    path = Path(out)
    if not (path / STORE_NAME).is_file() or not (path / "cells.csv").is_file():
        raise ValueError(f"out={str(out)!r} is not allowed: it holds no finished run "
                         f"({STORE_NAME} and cells.csv are written by python -m sim.grid)")
    return Run(path)


def _flag_value(value: Any) -> str:
    """A keyword's value as the command line writes it: lists comma-joined, ranges as given."""
    if isinstance(value, (str, bytes)):
        return str(value)
    if isinstance(value, Iterable):
        return ",".join(str(v) for v in value)
    return str(value)


def command_line(preset: str | None = None, out: str | os.PathLike[str] | None = None,
                 report: bool = True, **options: Any) -> list[str]:
    """The `python -m sim.grid` arguments that `run` with the same keywords runs (see `run`)."""
    flags = {a.dest: a for a in build_parser()._actions if a.option_strings}
    argv: list[str] = []
    if preset is not None:
        argv += ["--preset", preset]
    if out is not None:
        argv += ["--out", os.fspath(out)]
    if not report:
        argv.append("--no-report")
    for name, value in options.items():
        action = flags.get(name)
        if action is None or name in ("preset", "out", "no_report", "help"):
            allowed = sorted(set(flags) - {"preset", "out", "no_report", "help"})
            raise ValueError(f"{name}={value!r} is not allowed: run() takes preset, out, report and the "
                             f"command's options {', '.join(allowed)}")
        if name in _SWITCHES:
            if value:
                argv.append(action.option_strings[0])
        elif value is not None:
            argv += [action.option_strings[0], _flag_value(value)]
    return argv


def run(preset: str | None = None, out: str | os.PathLike[str] | None = None, *, report: bool = True,
        **options: Any) -> Run:
    """Run a grid as `python -m sim.grid` does (same checks, store, resume, tables and report) and
    return it as a `Run`.

    `preset`, `out` and the options are the command's flags as keywords: an axis takes a list or a
    range string (`beta=[0.25, 0.5, 1]`, `beta="0:1.2:13"`, `depth=64`), `config="grid.toml"`,
    `device`, `dtype`, `max_memory`, the training options (`train=5`, `dataset="digits"`, ...),
    `force=True`, `quiet=True`; `report=False` skips the report. Bad input raises ValueError with
    the command's one-line message (nothing is written); Ctrl-C raises KeyboardInterrupt after the
    finished cells are stored, and calling `run` again resumes.
    """
    if preset == LANDSCAPE:
        raise ValueError(f"preset={preset!r} is not allowed: the {LANDSCAPE} preset is not a grid of cells; run "
                         f"python -m sim.grid --preset {LANDSCAPE}, or sim.landscape.landscape_table from Python")
    argv = command_line(preset, out, report, **options)
    try:
        p = plan(argv)
    except UsageError as exc:
        raise ValueError(str(exc)) from None
    status = execute(p)
    if status == 130:
        raise KeyboardInterrupt(f"interrupted: the finished cells are stored in {p.out}; call run() again "
                                "with the same arguments to finish")
    if status != 0 and not (p.out / "cells.csv").exists():
        raise RuntimeError(f"sim.grid exited with status {status}; see the messages above")
    return Run(p.out)
