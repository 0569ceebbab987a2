"""Reading a finished run directory: the tidy tables the grid wrote, and nothing else.

A run directory holds `cells.csv` (required), `regimes.csv`, `thresholds.csv`, `run.json`,
`results.sqlite` (per-sample values, read through `sim.grid.store`) and, after training, `training.csv`.
Every missing optional piece becomes a visible note in the report instead of an error. Empty CSV
fields mean "not available" and are read as None.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QUANTITIES = ("fwd", "diff", "bwd", "bwd_diff")

# Columns kept as text; every other column is numeric (int where the name says it counts).
TEXT_COLUMNS = {
    "key", "block", "activation", "init", "dist", "dtype", "device", "quantity",
    "observed_regime", "predicted_regime", "verdict", "depths",
}
INT_COLUMNS = {"depth", "width", "samples", "seed"} | {f"{q}_n" for q in QUANTITIES} | {
    f"{q}_nonfinite" for q in QUANTITIES}

CELLS_REQUIRED = ("block", "activation", "init", "dist", "regularity", "beta", "depth", "width",
                  "samples", "seed", "diff_median", "fwd_median")
REGIMES_REQUIRED = ("block", "activation", "init", "dist", "regularity", "beta", "depths", "quantity",
                    "slope", "slope_lo", "slope_hi", "observed_regime", "predicted_regime",
                    "predicted_beta_c", "predicted_slope", "verdict")
THRESHOLDS_REQUIRED = ("block", "activation", "init", "dist", "regularity", "quantity",
                       "observed_beta_c", "beta_c_lo", "beta_c_hi", "finite_depth_beta_c",
                       "asymptotic_beta_c", "verdict")
TRAINING_REQUIRED = ("block", "activation", "init", "regularity", "beta", "depth")

Row = dict[str, Any]
Family = tuple[str, str, str, str, int | None, str, float]


class RunDirectoryError(ValueError):
    """The path is not a readable run directory (missing, not a directory, or malformed tables)."""


def _number(text: str, column: str) -> float | int | None:
    """Parse one numeric CSV field: '' -> None, 'inf' -> inf, counts -> int."""
    text = text.strip()
    if text == "":
        return None
    value = float(text)
    if column in INT_COLUMNS and math.isfinite(value):
        return int(value)
    return value


# Columns the contract declares numeric: a field there that is not a number is an error.
NUMERIC_COLUMNS = {
    "regularity", "negative_slope", "beta", "depth", "width", "samples", "seed", "seconds", "hurst",
    "lengthscale", "slope", "slope_lo", "slope_hi", "predicted_beta_c", "predicted_slope",
    "finite_depth_slope", "observed_beta_c", "beta_c_lo", "beta_c_hi", "finite_depth_beta_c",
    "asymptotic_beta_c",
} | {f"{q}_{s}" for q in QUANTITIES for s in ("n", "mean", "median", "std", "se", "nonfinite")}


def _parse(text: str, column: str, where: str) -> Any:
    """One CSV field: text columns as str, contract numbers strictly, other columns leniently."""
    text = text.strip()
    if column in TEXT_COLUMNS:
        return text or None
    if column in NUMERIC_COLUMNS:
        try:
            return _number(text, column)
        except ValueError:
            raise RunDirectoryError(f"{where}: column {column}={text!r} is not a number") from None
    try:
        return _number(text, column)
    except ValueError:
        return text


def read_table(path: Path, required: tuple[str, ...]) -> list[Row]:
    """Rows of a CSV file as dicts with parsed values; raises RunDirectoryError on a bad table."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise RunDirectoryError(f"{path.name}: missing column(s) {', '.join(missing)}")
        rows = []
        for lineno, raw in enumerate(reader, start=2):
            if None in raw:
                raise RunDirectoryError(f"{path.name}:{lineno}: more fields than columns")
            row = {c: _parse(t or "", c, f"{path.name}:{lineno}") for c, t in raw.items()}
            if row.get("depths"):
                row["depths"] = tuple(int(float(d)) for d in str(row["depths"]).split(";") if d)
            rows.append(row)
    return rows


def family_of(row: Row) -> Family:
    """The (block, activation, init, dist, width, stepper, damping) family a row belongs to (width
    None if unknown; stepper 'euler' and damping 0 for tables written before those columns)."""
    width = row.get("width")
    damping = row.get("damping")
    return (str(row.get("block") or ""), str(row.get("activation") or ""), str(row.get("init") or ""),
            str(row.get("dist") or "gaussian"), None if width is None else int(width),
            str(row.get("stepper") or "euler"), 0.0 if damping in (None, "") else float(damping))


def family_label(family: Family) -> str:
    """'res3 relu fgn, d = 32' (dist shown only when it is not gaussian; the stepper and the
    damping only when they are not Euler and 0: 'antisym(γ = 0.1) identity iid rk4, d = 16')."""
    block, activation, init, dist, width, stepper, damping = family
    block_text = f"{block}(γ = {damping:g})" if damping else block
    text = f"{block_text} {activation} {init}" if block != "linear" else f"{block_text} {init}"
    text += f" ({dist})" if dist and dist != "gaussian" else ""
    text += f" {stepper}" if stepper and stepper != "euler" else ""
    return text + (f", d = {width}" if width is not None else "")


def regularity_name(init: str) -> str:
    """The name of the regularity axis of an init family, or '' when it has none."""
    return {"fgn": "Hurst H", "fbm": "Hurst H", "smooth": "length-scale ℓ"}.get(init, "")


def rkey(value: float | None) -> float | None:
    """A float key robust to CSV round-trips (regularity, beta)."""
    return None if value is None else round(float(value), 9)


@dataclass
class RunData:
    """Everything the report reads from one run directory."""

    path: Path
    run: dict[str, Any]
    cells: list[Row]
    regimes: list[Row]
    thresholds: list[Row]
    training: list[Row]
    stored: list[Any] | None
    notes: list[str] = field(default_factory=list)

    def families(self) -> list[Family]:
        """Families in the order they first appear in cells.csv."""
        seen: dict[Family, None] = {}
        for row in self.cells:
            seen.setdefault(family_of(row), None)
        return list(seen)

    def cells_of(self, family: Family) -> list[Row]:
        """cells.csv rows of one family."""
        return [r for r in self.cells if family_of(r) == family]

    def regimes_of(self, family: Family, quantity: str) -> list[Row]:
        """regimes.csv rows of one family and quantity."""
        return [r for r in self.regimes if family_of(r) == family and r["quantity"] == quantity]

    def thresholds_of(self, family: Family, quantity: str) -> list[Row]:
        """thresholds.csv rows of one family and quantity."""
        return [r for r in self.thresholds if family_of(r) == family and r["quantity"] == quantity]

    def depths(self) -> list[int]:
        """Distinct depths in the run, ascending."""
        return sorted({int(r["depth"]) for r in self.cells})


def load_run(path: Path) -> RunData:
    """Read a run directory; raises RunDirectoryError when it is not one."""
    path = Path(path)
    if not path.exists():
        raise RunDirectoryError(f"run directory {str(path)!r} does not exist")
    if not path.is_dir():
        raise RunDirectoryError(f"{str(path)!r} is not a directory")
    cells_csv = path / "cells.csv"
    if not cells_csv.is_file():
        raise RunDirectoryError(f"{str(path)!r} is not a run directory: it has no cells.csv")
    notes: list[str] = []
    cells = read_table(cells_csv, CELLS_REQUIRED)
    if not cells:
        raise RunDirectoryError(f"{cells_csv}: no cells")
    regimes = _optional_table(path / "regimes.csv", REGIMES_REQUIRED, notes)
    thresholds = _optional_table(path / "thresholds.csv", THRESHOLDS_REQUIRED, notes)
    training = _optional_table(path / "training.csv", TRAINING_REQUIRED, notes, quiet=True)
    run: dict[str, Any] = {}
    run_json = path / "run.json"
    if run_json.is_file():
        try:
            run = json.loads(run_json.read_text())
        except json.JSONDecodeError as exc:
            raise RunDirectoryError(f"{run_json}: not valid JSON ({exc})") from None
        if not isinstance(run, dict):
            raise RunDirectoryError(f"{run_json}: expected a JSON object")
    else:
        notes.append("run.json is missing: the run record shows only what the tables contain.")
    _fill_widths(cells, regimes + thresholds)
    stored = _load_store(path / "results.sqlite", notes)
    return RunData(path=path, run=run, cells=cells, regimes=regimes, thresholds=thresholds,
                   training=training, stored=stored, notes=notes)


def _fill_widths(cells: list[Row], rows: list[Row]) -> None:
    """Give rows without a width column the width of their family's cells when it is unique."""
    widths: dict[tuple, set[int]] = {}
    for c in cells:
        widths.setdefault(family_of(c)[:4], set()).add(int(c["width"]))
    for r in rows:
        if r.get("width") is None:
            ws = widths.get(family_of(r)[:4], set())
            if len(ws) == 1:
                r["width"] = next(iter(ws))


def _optional_table(path: Path, required: tuple[str, ...], notes: list[str], quiet: bool = False) -> list[Row]:
    if not path.is_file():
        if not quiet:
            notes.append(f"{path.name} is missing: the panels that need it are skipped.")
        return []
    return read_table(path, required)


def _load_store(path: Path, notes: list[str]) -> list[Any] | None:
    """Per-sample results through sim.grid.store, or None (with a note) when they cannot be read."""
    if not path.is_file():
        notes.append("results.sqlite is missing: per-sample panels (exact laws, histograms) are skipped.")
        return None
    try:
        from sim.grid.store import Store
    except ImportError as exc:
        notes.append(f"sim.grid.store cannot be imported ({exc}): per-sample panels are skipped.")
        return None
    try:
        with Store(path, readonly=True) as store:
            return list(store.load())
    except Exception as exc:  # a damaged or incompatible store must not stop the rest of the report
        notes.append(f"results.sqlite could not be read ({type(exc).__name__}: {exc}): "
                     "per-sample panels are skipped.")
        return None
