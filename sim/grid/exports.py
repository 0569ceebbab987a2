"""The tidy tables of a run directory, rewritten from the whole store at the end of every run.

- `cells.csv`: one row per stored cell with statistics of each quantity's per-sample log.
- `regimes.csv` and `thresholds.csv`: from `sim.grid.regimes` (slopes, observed and predicted regimes,
  thresholds, verdicts).
- `training.csv` (runs with --train): one row per trained cell, statistics of each per-network
  metric after training and the medians of the four quantities before and after.

Numbers are written with `repr` (shortest text that reads back to the same float64) and missing
values as empty fields, so identical stores give byte-identical files. Each file is written to a
temporary name and renamed, so a reader never sees half a table.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine import QUANTITIES
from sim.grid.predictions import Predictor
from sim.grid.regimes import tables
from sim.grid.store import StoredCell, StoredTraining

STATS = ("n", "mean", "median", "std", "se", "nonfinite")
CELL_COLUMNS = (
    "key", "block", "activation", "negative_slope", "init", "dist", "hurst", "lengthscale",
    "regularity", "beta", "depth", "width", "samples", "dtype", "device", "seed",
    *(f"{q}_{s}" for q in QUANTITIES for s in STATS), "seconds", "stepper", "damping",
)
# The contract's columns first; the trailing ones say which series a row belongs to and why.
REGIME_COLUMNS = (
    "block", "activation", "init", "dist", "regularity", "beta", "depths", "quantity", "slope",
    "slope_lo", "slope_hi", "observed_regime", "predicted_regime", "predicted_beta_c",
    "predicted_slope", "finite_depth_slope", "verdict",
    "verdict_basis", "width", "negative_slope", "dtype", "seed", "samples", "stepper", "damping",
)
THRESHOLD_COLUMNS = (
    "block", "activation", "init", "dist", "regularity", "quantity", "observed_beta_c", "beta_c_lo",
    "beta_c_hi", "finite_depth_beta_c", "asymptotic_beta_c", "verdict",
    "verdict_basis", "width", "negative_slope", "dtype", "seed", "depths", "betas_fitted",
    "stepper", "damping", "explosion_beta",
)


TRAIN_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "val_score", "weight_change",
                 "v_max_norm", "v_max_increment", "v_quadratic_variation")
TRAINING_COLUMNS = (
    "key", "cell_key", "block", "activation", "negative_slope", "init", "dist", "hurst", "lengthscale",
    "regularity", "beta", "depth", "width", "samples", "dtype", "seed",
    "dataset", "epochs", "optimizer", "batch_size", "lrs", "lr", "diverged",
    *(f"{m}_{s}" for m in TRAIN_METRICS for s in ("mean", "median", "se")),
    "initial_test_loss_mean",
    *(f"{q}_{when}_median" for q in QUANTITIES for when in ("before", "after")),
    "seconds",
)


def log_stats(logs: np.ndarray) -> dict[str, Any]:
    """n, mean, median, std (ddof 1), se = std / sqrt(n) of the finite values, and the rest's count."""
    x = np.asarray(logs, dtype=np.float64)
    finite = x[np.isfinite(x)]
    n = len(finite)
    out: dict[str, Any] = {"n": n, "nonfinite": int(len(x) - n), "mean": None, "median": None,
                           "std": None, "se": None}
    if n:
        out["mean"] = float(finite.mean())
        out["median"] = float(np.median(finite))
    if n > 1:
        out["std"] = float(finite.std(ddof=1))
        out["se"] = out["std"] / math.sqrt(n)
    return out


def cell_row(sc: StoredCell) -> dict[str, Any]:
    """One cells.csv row."""
    c = sc.cell
    row: dict[str, Any] = {
        "key": sc.key, "block": c.block, "activation": c.activation,
        "negative_slope": c.negative_slope if c.activation == "leaky_relu" else None,
        "init": c.init, "dist": c.dist, "hurst": c.hurst, "lengthscale": c.lengthscale,
        "regularity": c.regularity, "beta": c.beta, "depth": c.depth, "width": c.width,
        "samples": c.samples, "dtype": c.dtype, "device": sc.device, "seed": c.seed,
        "seconds": sc.seconds, "stepper": c.stepper, "damping": c.damping,
    }
    for q in QUANTITIES:
        for name, value in log_stats(sc.logs[q]).items():
            row[f"{q}_{name}"] = value
    return row


def _cell_order(sc: StoredCell) -> tuple[Any, ...]:
    c = sc.cell
    fields = (c.block, c.stepper, c.damping, c.activation, c.negative_slope, c.init, c.dist,
              c.regularity, c.width, c.input_dim, c.dtype, c.seed, c.samples, c.beta, c.depth,
              sc.device, sc.key)
    return tuple((v is not None, v if v is not None else 0) for v in fields)


def format_value(value: Any) -> str:
    """CSV text: '' for None/NaN, repr for floats ('inf' for infinity), ';'-joined sequences."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list | tuple):
        return ";".join(format_value(v) for v in value)
    return str(value)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Path:
    """Write rows atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([format_value(row.get(c)) for c in columns])
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def write_exports(stored: Sequence[StoredCell], out_dir: Path, predictor: Predictor) -> list[Path]:
    """cells.csv, regimes.csv and thresholds.csv in `out_dir` from every stored cell."""
    ordered = sorted(stored, key=_cell_order)
    regime_rows, threshold_rows = tables(ordered, predictor)
    return [
        write_csv(out_dir / "cells.csv", CELL_COLUMNS, (cell_row(sc) for sc in ordered)),
        write_csv(out_dir / "regimes.csv", REGIME_COLUMNS, regime_rows),
        write_csv(out_dir / "thresholds.csv", THRESHOLD_COLUMNS, threshold_rows),
    ]


def training_row(st: StoredTraining) -> dict[str, Any]:
    """One training.csv row: per-network metrics summarized over the finite networks."""
    c = st.cell
    row: dict[str, Any] = {
        "key": st.key, "cell_key": c.key(), "block": c.block, "activation": c.activation,
        "negative_slope": c.negative_slope if c.activation == "leaky_relu" else None,
        "init": c.init, "dist": c.dist, "hurst": c.hurst, "lengthscale": c.lengthscale,
        "regularity": c.regularity, "beta": c.beta, "depth": c.depth, "width": c.width,
        "samples": c.samples, "dtype": c.dtype, "seed": c.seed,
        "dataset": st.config["dataset"], "epochs": st.config["epochs"],
        "optimizer": st.config["optimizer"], "batch_size": st.config["batch_size"],
        "lrs": list(st.config["lrs"]), "lr": st.lr, "diverged": st.diverged, "seconds": st.seconds,
        "initial_test_loss_mean": log_stats(st.initial_test_loss)["mean"],
    }
    for m in TRAIN_METRICS:
        stats = log_stats(st.metrics[m])
        row.update({f"{m}_mean": stats["mean"], f"{m}_median": stats["median"], f"{m}_se": stats["se"]})
    for q in QUANTITIES:
        row[f"{q}_before_median"] = log_stats(st.before[q])["median"]
        row[f"{q}_after_median"] = log_stats(st.after[q])["median"]
    return row


def write_training(trained: Sequence[StoredTraining], out_dir: Path) -> list[Path]:
    """training.csv in `out_dir` (nothing when the run has no training)."""
    if not trained:
        return []
    ordered = sorted(trained, key=lambda st: (*_cell_order(StoredCell(st.cell.key(), st.cell, {}, {}, 0.0, "", "")),
                                              json_key(st.config)))
    return [write_csv(out_dir / "training.csv", TRAINING_COLUMNS, (training_row(st) for st in ordered))]


def json_key(config: dict[str, Any]) -> str:
    import json

    return json.dumps(config, sort_keys=True)
