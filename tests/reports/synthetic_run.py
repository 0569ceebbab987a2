"""A small synthetic run directory written to the grid's file contract (cells.csv, regimes.csv,
thresholds.csv, run.json), for tests that must not depend on the grid or the engine.

The numbers follow a simple model, not a simulation: the median log deviation is
(b - beta) log L for beta >= b and grows like L^(2 (b - beta)) below, with b the 'finite-depth'
threshold 1/2 + (beta_c - 1/2)/3 and beta_c = max(1/2, H) the asymptotic one. So the fgn H = 0.8
family has a deliberate disagreement at beta = 0.75 (predicted explode, observed identity), which
is what a report must show rather than hide.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

QUANTITIES = ("fwd", "diff", "bwd", "bwd_diff")
BETAS = (0.25, 0.5, 0.75, 1.0)
DEPTHS = (16, 32, 64)
WIDTH = 8
SAMPLES = 16
CELL_COLUMNS = ["key", "block", "activation", "negative_slope", "init", "dist", "hurst", "lengthscale",
                "regularity", "beta", "depth", "width", "samples", "dtype", "device", "seed"]
REGIME_COLUMNS = ["block", "activation", "init", "dist", "regularity", "beta", "depths", "quantity", "slope",
                  "slope_lo", "slope_hi", "observed_regime", "predicted_regime", "predicted_beta_c",
                  "predicted_slope", "finite_depth_slope", "verdict"]
THRESHOLD_COLUMNS = ["block", "activation", "init", "dist", "regularity", "quantity", "observed_beta_c",
                     "beta_c_lo", "beta_c_hi", "finite_depth_beta_c", "asymptotic_beta_c", "verdict"]


def _families() -> list[tuple[str, float | None]]:
    return [("iid", None), ("fgn", 0.2), ("fgn", 0.5), ("fgn", 0.8)]


def _median_log(beta: float, depth: int, b: float) -> float:
    if beta >= b:
        return (b - beta) * math.log(depth) - 0.2
    return 0.3 * depth ** (2 * (b - beta)) - 0.2


def _regime(lo: float, hi: float) -> str:
    if lo > 0.05:
        return "explode"
    if hi < -0.05:
        return "identity"
    if lo > -0.25 and hi < 0.25:
        return "non-trivial"
    return "inconclusive"


def write_synthetic_run(out: Path, *, extra_run_fields: dict | None = None) -> Path:
    """Write the synthetic run into `out` (created) and return it."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    cells, regimes, thresholds = [], [], []
    for init, hurst in _families():
        beta_c = 0.5 if hurst is None else max(0.5, hurst)
        b = 0.5 + (beta_c - 0.5) / 3
        for beta in BETAS:
            medians = {}
            for depth in DEPTHS:
                row = {"key": f"{init}{hurst}{beta}{depth}", "block": "res3", "activation": "relu",
                       "negative_slope": 0.01, "init": init, "dist": "gaussian", "hurst": hurst,
                       "lengthscale": None, "regularity": hurst, "beta": beta, "depth": depth, "width": WIDTH,
                       "samples": SAMPLES, "dtype": "float32", "device": "cpu", "seed": 0}
                diff = _median_log(beta, depth, b) + 0.05 * rng.standard_normal(SAMPLES)
                logs = {"diff": diff, "fwd": 0.5 * np.log1p(np.exp(2 * diff)),
                        "bwd_diff": diff + 0.05 * rng.standard_normal(SAMPLES)}
                logs["bwd"] = 0.5 * np.log1p(np.exp(2 * logs["bwd_diff"]))
                for q in QUANTITIES:
                    x = logs[q]
                    row.update({f"{q}_n": SAMPLES, f"{q}_mean": x.mean(), f"{q}_median": float(np.median(x)),
                                f"{q}_std": x.std(ddof=1), f"{q}_se": x.std(ddof=1) / math.sqrt(SAMPLES),
                                f"{q}_nonfinite": 0})
                row["seconds"] = 0.01
                cells.append(row)
                medians[depth] = {q: row[f"{q}_median"] for q in ("diff", "bwd_diff")}
            for q in ("diff", "bwd_diff"):
                x = np.log(DEPTHS)
                y = np.array([medians[d][q] for d in DEPTHS])
                slope, icpt = np.polyfit(x, y, 1)
                resid = y - (slope * x + icpt)
                se = math.sqrt(max(resid @ resid, 1e-6) / (len(x) - 2) / ((x - x.mean()) ** 2).sum())
                lo, hi = slope - 3.0 * se, slope + 3.0 * se
                observed = _regime(lo, hi)
                predicted = "explode" if beta < beta_c else ("identity" if beta > beta_c else "non-trivial")
                verdict = ("inconclusive" if observed == "inconclusive" else
                           "agree" if observed == predicted else "disagree")
                regimes.append({"block": "res3", "activation": "relu", "init": init, "dist": "gaussian",
                                "regularity": hurst, "beta": beta, "depths": ";".join(map(str, DEPTHS)),
                                "quantity": q, "slope": slope, "slope_lo": lo, "slope_hi": hi,
                                "observed_regime": observed, "predicted_regime": predicted,
                                "predicted_beta_c": beta_c,
                                "predicted_slope": "inf" if beta < beta_c else beta_c - beta,
                                "finite_depth_slope": b - beta, "verdict": verdict})
        for q in ("diff", "bwd_diff"):
            thresholds.append({"block": "res3", "activation": "relu", "init": init, "dist": "gaussian",
                               "regularity": hurst, "quantity": q, "observed_beta_c": b + 0.01,
                               "beta_c_lo": b - 0.06, "beta_c_hi": b + 0.08, "finite_depth_beta_c": b,
                               "asymptotic_beta_c": beta_c, "verdict": "agree"})
    _write_csv(out / "cells.csv", CELL_COLUMNS + [f"{q}_{s}" for q in QUANTITIES
                                                  for s in ("n", "mean", "median", "std", "se", "nonfinite")]
               + ["seconds"], cells)
    _write_csv(out / "regimes.csv", REGIME_COLUMNS, regimes)
    _write_csv(out / "thresholds.csv", THRESHOLD_COLUMNS, thresholds)
    run = {"config": {"block": ["res3"], "activation": ["relu"], "init": ["iid", "fgn"],
                      "hurst": [0.2, 0.5, 0.8], "beta": list(BETAS), "depth": list(DEPTHS), "width": [WIDTH],
                      "samples": SAMPLES, "seed": 0},
           "command": "python -m sim.grid (synthetic test fixture)", "versions": {"python": "3", "numpy": "2"},
           "git_commit": "0000000", "device": "cpu", "dtype": "float32",
           "timings": {"simulate": 1.5, "export": 0.1}, "files": ["cells.csv", "regimes.csv", "thresholds.csv"]}
    run.update(extra_run_fields or {})
    (out / "run.json").write_text(json.dumps(run, indent=2))
    return out


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
