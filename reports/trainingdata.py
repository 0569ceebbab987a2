"""What the training rows say: `training.csv` rows grouped per family and training setup, the
performance column to show, theory's beta_c per cell, fitted depth slopes, and the numbers the
captions quote. Pure functions of stored rows (and theory's critical line); nothing is drawn here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from reports import predictions
from reports.plotting import LN10, fmt
from reports.rundata import Family, Row, family_label, family_of, regularity_name, rkey

# Cells within this distance of theory's beta_c count as "near the critical line" in the captions'
# summaries: one or two steps of a typical beta grid (0.1 to 0.2 apart).
NEAR_BAND = 0.15
LOSS_WORDS = {"digits": "cross-entropy, nats", "teacher": "mean squared error of standardized targets"}


@dataclass(frozen=True)
class Metric:
    """The performance column a map shows and how to read it."""

    column: str
    name: str  # 'test accuracy' or 'test loss'
    label: str  # colour-bar label, with units
    higher_is_better: bool


@dataclass
class Group:
    """The trained cells of one family under one training setup (dataset, epochs, optimizer, batch)."""

    family: Family
    setup: tuple
    rows: list[Row]

    @property
    def label(self) -> str:
        """'res1 relu fgn, d = 16' and, when known, the setup: '(digits, 3 epochs, adam, batch 64)'."""
        dataset, epochs, optimizer, batch = self.setup
        parts = [str(dataset)] if dataset else []
        if isinstance(epochs, int | float):
            parts.append(f"{int(epochs)} epoch{'s' if int(epochs) != 1 else ''}")
        if optimizer:
            parts.append(str(optimizer))
        if isinstance(batch, int | float):
            parts.append(f"batch {int(batch)}")
        return family_label(self.family) + (f" ({', '.join(parts)})" if parts else "")

    def values(self, field: str) -> list:
        """Distinct values of a numeric field, ascending (None left out)."""
        return sorted({rkey(r[field]) for r in self.rows if isinstance(r.get(field), int | float)})

    @property
    def over_regularity(self) -> bool:
        """Maps run over regularity when the family has two or more regularity values, else over depth."""
        return len(self.values("regularity")) >= 2


def groups(rows: list[Row]) -> list[Group]:
    """training.csv rows split by family and training setup, in a stable order."""
    out: dict[tuple, Group] = {}
    for r in rows:
        setup = (r.get("dataset"), r.get("epochs"), r.get("optimizer"), r.get("batch_size"))
        out.setdefault((family_of(r), setup), Group(family_of(r), setup, [])).rows.append(r)
    return [out[k] for k in sorted(out, key=lambda k: tuple(str(x) for x in (*k[0], *k[1])))]


def number(row: Row, column: str) -> float:
    """A numeric field as a float; NaN when missing or not a number."""
    value = row.get(column)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def count(row: Row, column: str) -> int:
    """A count field (diverged, samples) as an int; 0 when missing."""
    value = number(row, column)
    return int(value) if math.isfinite(value) else 0


def log10_deviation(row: Row, when: str) -> float:
    """Median log10 ||h_L - h_0|| / ||h_0|| 'before' or 'after' training (the table stores natural logs)."""
    return number(row, f"diff_{when}_median") / LN10


def task_metric(group: Group) -> Metric | None:
    """Test accuracy when the rows have it (classification), else the test loss; None if neither."""
    def has(column: str) -> bool:
        return any(math.isfinite(number(r, column)) for r in group.rows)

    for column in ("test_acc_mean", "test_acc_median"):
        if has(column):
            return Metric(column, "test accuracy", "test accuracy (fraction of test images correct)", True)
    words = LOSS_WORDS.get(str(group.setup[0]), "in the task's loss units")
    for column in ("test_loss_mean", "test_loss_median"):
        if has(column):
            return Metric(column, "test loss", f"test loss ({words})", False)
    return None


def beta_c_of(row: Row, theory: ModuleType | None, thresholds: list[Row]) -> float:
    """Theory's asymptotic beta_c for a row's cell: through the phase diagrams' helper, else the
    asymptotic_beta_c that thresholds.csv stores for its regularity; NaN when neither has one."""
    cell = predictions.cell_from_row(row)
    if cell is not None:
        ys = predictions.critical_curve(theory, cell, [row.get("regularity") or 0.0])
        if ys is not None and math.isfinite(ys[0]):
            return float(ys[0])
    reg = rkey(row.get("regularity"))
    for t in thresholds:
        if rkey(t.get("regularity")) == reg and math.isfinite(number(t, "asymptotic_beta_c")):
            return number(t, "asymptotic_beta_c")
    return math.nan


def finite_depth_line(thresholds: list[Row]) -> tuple[np.ndarray, np.ndarray]:
    """(regularity, finite-depth threshold) points of thresholds.csv rows where the threshold is known."""
    pts = sorted((number(t, "regularity"), number(t, "finite_depth_beta_c")) for t in thresholds)
    pts = [p for p in pts if math.isfinite(p[1])]
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def fit_slope(depths: Sequence[float], values: Sequence[float]) -> tuple[float, float] | None:
    """Least-squares slope of log(value) on log(depth), with its standard error (NaN from two points);
    None with fewer than two usable points (finite, positive values at distinct depths)."""
    pts = [(math.log(d), math.log(v)) for d, v in zip(depths, values, strict=True)
           if d > 0 and math.isfinite(v) and v > 0]
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    if len(set(x.tolist())) < 2:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    if len(x) < 3:
        return float(slope), math.nan
    resid = y - (slope * x + intercept)
    se = math.sqrt(float(resid @ resid) / (len(x) - 2) / float(((x - x.mean()) ** 2).sum()))
    return float(slope), se


def cells_text(n: int) -> str:
    """'1 cell', '3 cells'."""
    return f"{n} cell{'s' if n != 1 else ''}"


def performance_summary(group: Group, metric: Metric, theory: ModuleType | None, thresholds: list[Row]) -> str:
    """What the data show, in numbers: the metric near theory's critical line, below and above it,
    where the best cell sits, and where networks diverged."""
    bands: dict[str, list[float]] = {"below": [], "near": [], "above": []}
    lost = {band: [0, 0] for band in bands}
    best: tuple[float, Row, float] | None = None
    sign = 1.0 if metric.higher_is_better else -1.0
    for r in group.rows:
        bc = beta_c_of(r, theory, thresholds)
        if not math.isfinite(bc):
            continue
        gap = float(r["beta"]) - bc
        band = "near" if abs(gap) <= NEAR_BAND else ("below" if gap < 0 else "above")
        lost[band][0] += count(r, "diverged")
        lost[band][1] += count(r, "samples")
        v = number(r, metric.column)
        if math.isfinite(v):
            bands[band].append(v)
            if best is None or sign * v > sign * best[0]:
                best = (v, r, gap)
    if best is None:
        return "Theory gives no critical β for these cells, so the map cannot be read against it."
    where = {"below": f"more than {NEAR_BAND:g} below β_c", "near": f"within {NEAR_BAND:g} of β_c",
             "above": f"more than {NEAR_BAND:g} above β_c"}
    parts = [f"{fmt(float(np.mean(v)), 3)} {where[b]}{' (explode side)' if b == 'below' else ''} "
             f"({cells_text(len(v))})" for b, v in bands.items() if v]
    v, r, gap = best
    at = f"β = {fmt(r['beta'])}" + (f", {regularity_name(group.family[2])} = {fmt(r['regularity'])}"
                                    if r.get("regularity") is not None else "") + f", L = {int(r['depth'])}"
    side = ("inside the band near β_c" if abs(gap) <= NEAR_BAND
            else "below the band, on the explode side" if gap < 0 else "above the band")
    text = (f"In this run: mean {metric.name} {'; '.join(parts)}. The best cell ({fmt(v, 3)}) is at {at}, "
            f"β − β_c = {fmt(gap, 2)} ({side}).")
    if any(k for k, _ in lost.values()):
        text += " Diverged networks: " + "; ".join(f"{k} of {n} {where[b]}" for b, (k, n) in lost.items() if n) + "."
    else:
        text += " No network diverged."
    return text


def deviation_summary(rows: list[Row]) -> str:
    """How far training moved the log10 deviation, and how many cells changed side of 0 decades."""
    pairs = [(log10_deviation(r, "before"), log10_deviation(r, "after")) for r in rows]
    pairs = [(b, a) for b, a in pairs if math.isfinite(b) and math.isfinite(a)]
    if not pairs:
        return "No cell has a finite deviation both before and after training."
    shift = np.array([a - b for b, a in pairs])
    crossed = sum(1 for b, a in pairs if (b > 0) != (a > 0))
    return (f"In this run training changed the log10 deviation by {fmt(float(np.median(shift)), 2)} decades "
            f"(median over {cells_text(len(pairs))}; range {fmt(float(shift.min()), 2)} to "
            f"{fmt(float(shift.max()), 2)}); {cells_text(crossed)} changed side of 0 (deviation below versus "
            f"above ‖h_0‖).")
