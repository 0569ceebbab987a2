"""Training panels (section 6): how the regimes at initialization shape brief training.

Pure functions of `training.csv` rows (one row per trained cell, written by `sim.grid --train`),
with thresholds.csv and theory's critical line for orientation. Per family and training setup:

- `performance_figure`: test accuracy (test loss for regression) over regularity x beta, one
  panel per depth (over depth x beta when the family has one regularity), with the asymptotic
  beta_c (solid) and the finite-depth threshold (dashed); diverged networks are marked.
- `deviation_figure`: the median log10 ||h_L - h_0|| / ||h_0|| before and after training, in the
  phase diagrams' colours (diverging, centred on 0, hatched beyond 10**CAP).
- `regularity_figures`: max_k ||V_k||, max_k ||V_{k+1} - V_k|| and sum_k ||V_{k+1} - V_k||^2 of the
  trained weights against depth on log-log axes with least-squares slopes (needs >= 2 depths).
- `best_table`: the best cell of each family, the fraction of diverged networks and the learning
  rates chosen.

A run without training.csv gets the note `NO_TRAINING`; a panel that cannot be drawn (one cell,
one depth, a missing column) is replaced by a note that says why.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from matplotlib import patheffects
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import FigureBase
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import LogFormatter, NullLocator

from reports import predictions
from reports.document import Block, Figure, Note, Paragraph, Table
from reports.phase import Curve, _heatmap, _norm
from reports.plotting import (
    BETA_LABEL,
    CAP,
    LN10,
    QUANTITY_LABEL,
    edges,
    fmt,
    pick_evenly,
    regularity_label,
)
from reports.rundata import Family, Row, family_label, family_of, regularity_name, rkey

NO_TRAINING = "No training data in this run: the before/after training panels are omitted."

# Cells within this distance of theory's beta_c count as "near the critical line" in the captions'
# summaries; one or two steps of a typical beta grid (0.1 to 0.2 apart).
NEAR_BAND = 0.15
MAX_DEPTH_PANELS = 6  # performance maps: at most two rows of three depths stay legible on a page
MAX_DEVIATION_DEPTHS = 3  # before/after maps: one row per depth
MAX_REGULARITY_FIGURES = 4  # weight-regularity figures per family (one per regularity value)
MAX_ANNOTATED = 10  # write values in heatmap cells up to this many columns and rows

# Trained-weight regularity along the layer index (SPEC 5): column stem -> (title, axis label).
WEIGHT_METRICS = {
    "v_max_norm": ("largest layer", r"$\mathrm{max}_k\,\|V_k\|_F$"),
    "v_max_increment": ("largest increment", r"$\mathrm{max}_k\,\|V_{k+1}-V_k\|_F$"),
    "v_quadratic_variation": ("quadratic variation", r"$\Sigma_k\,\|V_{k+1}-V_k\|_F^2$"),
}
LOSS_WORDS = {"digits": "cross-entropy, nats", "teacher": "mean squared error of standardized targets"}
NOT_TRAINED = "#d9d9d9"


@dataclass(frozen=True)
class Metric:
    """The performance column a map shows and how to read it."""

    column: str
    name: str  # 'test accuracy' or 'test loss'
    label: str  # colour-bar label, with units
    higher_is_better: bool


@dataclass
class Group:
    """The trained cells of one family under one training setup."""

    family: Family
    setup: tuple
    rows: list[Row]

    @property
    def label(self) -> str:
        """'res1 relu fgn, d = 16' and, when known, the setup: 'digits, 3 epochs, adam, batch 64'."""
        dataset, epochs, optimizer, batch = self.setup
        parts = [str(dataset)] if dataset else []
        if epochs is not None:
            parts.append(f"{int(epochs)} epoch{'s' if int(epochs) != 1 else ''}")
        if optimizer:
            parts.append(str(optimizer))
        if batch is not None:
            parts.append(f"batch {int(batch)}")
        return family_label(self.family) + (f" ({', '.join(parts)})" if parts else "")

    def values(self, field: str) -> list:
        """Distinct values of a numeric field, ascending (None left out)."""
        return sorted({rkey(r[field]) for r in self.rows if r.get(field) is not None})

    @property
    def over_regularity(self) -> bool:
        """Maps run over regularity when the family has two or more regularity values."""
        return len(self.values("regularity")) >= 2


def groups(rows: list[Row]) -> list[Group]:
    """training.csv rows split by family and training setup, in a stable order."""
    out: dict[tuple, Group] = {}
    for r in rows:
        setup = (r.get("dataset"), r.get("epochs"), r.get("optimizer"), r.get("batch_size"))
        key = (family_of(r), setup)
        out.setdefault(key, Group(family_of(r), setup, [])).rows.append(r)
    return [out[k] for k in sorted(out, key=lambda k: tuple(str(x) for x in (*k[0], *k[1])))]


def _number(row: Row, column: str) -> float:
    """A numeric field as a float, NaN when missing or not a number."""
    value = row.get(column)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def task_metric(group: Group) -> Metric | None:
    """Test accuracy when the rows have it (classification), else the test loss; None if neither."""
    def has(column: str) -> bool:
        return any(math.isfinite(_number(r, column)) for r in group.rows)

    for column in ("test_acc_mean", "test_acc_median"):
        if has(column):
            return Metric(column, "test accuracy", "test accuracy (fraction of test images correct)", True)
    words = LOSS_WORDS.get(str(group.setup[0]), "loss units of the task")
    for column in ("test_loss_mean", "test_loss_median"):
        if has(column):
            return Metric(column, "test loss", f"test loss ({words})", False)
    return None


def beta_c_of(row: Row, theory: ModuleType | None, thresholds: list[Row]) -> float:
    """Theory's asymptotic beta_c for a row's cell (theory first, then thresholds.csv); NaN if none."""
    cell = predictions.cell_from_row(row)
    if cell is not None:
        ys = predictions.critical_curve(theory, cell, [row.get("regularity") or 0.0])
        if ys is not None and math.isfinite(ys[0]):
            return float(ys[0])
    reg = rkey(row.get("regularity"))
    for t in thresholds:
        if rkey(t.get("regularity")) == reg and isinstance(t.get("asymptotic_beta_c"), int | float):
            return float(t["asymptotic_beta_c"])
    return math.nan


def _finite_depth_line(thresholds: list[Row]) -> tuple[np.ndarray, np.ndarray]:
    """(regularity, finite-depth threshold) points of thresholds.csv where the threshold is known."""
    pts = sorted((float(t["regularity"]), float(t["finite_depth_beta_c"])) for t in thresholds
                 if isinstance(t.get("regularity"), int | float)
                 and isinstance(t.get("finite_depth_beta_c"), int | float)
                 and math.isfinite(t["finite_depth_beta_c"]))
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def _grid(rows: list[Row], xfield: str, value: Callable[[Row], float]) -> tuple[list, list, np.ndarray,
                                                                                  np.ndarray, np.ndarray]:
    """(xs, betas, values, diverged, samples) as arrays indexed [beta, x]; NaN / 0 where no cell."""
    xs = sorted({rkey(r[xfield]) for r in rows if r.get(xfield) is not None})
    betas = sorted({rkey(r["beta"]) for r in rows})
    values = np.full((len(betas), len(xs)), np.nan)
    diverged = np.zeros((len(betas), len(xs)), dtype=int)
    samples = np.zeros((len(betas), len(xs)), dtype=int)
    for r in rows:
        if r.get(xfield) is None:
            continue
        i, j = betas.index(rkey(r["beta"])), xs.index(rkey(r[xfield]))
        values[i, j] = value(r)
        d, n = _number(r, "diverged"), _number(r, "samples")
        diverged[i, j] = int(d) if math.isfinite(d) else 0
        samples[i, j] = int(n) if math.isfinite(n) else 0
    return xs, betas, values, diverged, samples


def _critical_lines(ax, group: Group, curve: Curve | None, thresholds: list[Row], beta_c: float,
                    over_reg: bool, colour: str) -> tuple[bool, bool]:
    """Draw the asymptotic beta_c (solid) and the finite-depth threshold (dashed) on a panel;
    returns which of the two were drawn. Over depth the line is horizontal at the family's beta_c."""
    stroke = [patheffects.withStroke(linewidth=3.4, foreground="black" if colour == "white" else "white")]
    drew_asym = drew_fin = False
    if over_reg and curve is not None:
        ax.plot(curve[0], curve[1], color=colour, lw=2.0, path_effects=stroke, zorder=5)
        drew_asym = True
    elif not over_reg and math.isfinite(beta_c):
        ax.axhline(beta_c, color=colour, lw=2.0, path_effects=stroke, zorder=5)
        drew_asym = True
    fx, fy = _finite_depth_line(thresholds)
    if fx.size and over_reg and fx.size >= 2:
        ax.plot(fx, fy, color=colour, lw=1.6, ls="--", path_effects=stroke, zorder=5)
        drew_fin = True
    elif fx.size and not over_reg:
        ax.axhline(float(fy[0]), color=colour, lw=1.6, ls="--", path_effects=stroke, zorder=5)
        drew_fin = True
    return drew_asym, drew_fin


def _axes_ticks(ax, xs: list, pos: list, betas: list, over_reg: bool) -> None:
    """Ticks at the simulated values (when few enough to read), depths labelled by their value."""
    if over_reg:
        if len(xs) <= MAX_ANNOTATED:
            ax.set_xticks(xs, [f"{x:g}" for x in xs])
    else:
        ax.set_xticks(pos, [str(int(x)) for x in xs])
    if len(betas) <= 2 * MAX_ANNOTATED:
        ax.set_yticks(betas, [f"{b:g}" for b in betas], fontsize=8 if len(betas) <= MAX_ANNOTATED else 6)
    ax.tick_params(axis="x", labelsize=8)


def _depth_panels(group: Group, most: int) -> tuple[list[int | None], str]:
    """Depths that get a panel (None: one panel over depth) and a remark on any left out."""
    depths = [int(d) for d in group.values("depth")]
    if not group.over_regularity:
        return [None], ""
    shown = pick_evenly(depths, most)
    left = [d for d in depths if d not in shown]
    remark = (f" Depths shown: {', '.join(map(str, shown))}; not shown (too many panels for a page): "
              f"{', '.join(map(str, left))}." if left else "")
    return shown, remark


def _performance_norm(values: np.ndarray, metric: Metric) -> Normalize:
    """Accuracy on a linear scale; losses on a log scale when they span more than a decade and a half."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Normalize(0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if not metric.higher_is_better and lo > 0 and hi / lo > 30:
        return LogNorm(lo, hi)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    return Normalize(lo, hi)


def performance_figure(group: Group, metric: Metric, curve: Curve | None, thresholds: list[Row],
                       theory: ModuleType | None) -> Figure | Note:
    """Map of the test metric over (regularity or depth) x beta, with theory's critical lines."""
    rows = group.rows
    if len(rows) < 2:
        return Note(f"{group.label}: one trained cell only, no {metric.name} map to draw (see the table below).")
    over_reg = group.over_regularity
    xfield = "regularity" if over_reg else "depth"
    panels, remark = _depth_panels(group, MAX_DEPTH_PANELS)
    all_values = np.array([_number(r, metric.column) for r in rows])
    norm = _performance_norm(all_values, metric)
    cmap = "viridis" if metric.higher_is_better else "viridis_r"  # bright is good either way
    beta_c = beta_c_of(rows[0], theory, thresholds) if not over_reg else math.nan
    div_any = any(_number(r, "diverged") > 0 for r in rows)
    lost_all = any(_number(r, "diverged") >= _number(r, "samples") > 0 for r in rows)
    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)

    def draw(fig: FigureBase) -> None:
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, sharey=True)).ravel()
        mesh, lines = None, (False, False)
        for ax, L in zip(axes, panels, strict=False):
            sub = [r for r in rows if L is None or int(r["depth"]) == L]
            xs, betas, values, div, n = _grid(sub, xfield, lambda r: _number(r, metric.column))
            pos = xs if over_reg else list(range(len(xs)))
            xe, ye = edges(pos), edges(betas)
            ax.set_facecolor(NOT_TRAINED)
            mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(values), cmap=cmap, norm=norm, shading="flat")
            _mark_diverged(ax, pos, betas, xe, ye, values, div, n, norm, metric)
            lines = _critical_lines(ax, group, curve, thresholds, beta_c, over_reg, "white")
            ax.set_xlim(xe[0], xe[-1])
            ax.set_ylim(ye[0], ye[-1])
            _axes_ticks(ax, xs, pos, betas, over_reg)
            if over_reg:
                ax.set_title(f"L = {L}", fontsize=10)
                ax.set_xlabel(regularity_label(group.family[2]), fontsize=8)
            else:
                ax.set_xlabel("depth L (number of residual blocks; columns equally spaced)", fontsize=9)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        for ax in axes[::ncols]:
            ax.set_ylabel(BETA_LABEL, fontsize=9)
        cbar = fig.colorbar(mesh, ax=list(axes[:len(panels)]), shrink=0.9)
        cbar.set_label(metric.label, fontsize=9)
        fig.suptitle(f"{group.label}: {metric.name} after training", fontsize=11)
        fig.legend(handles=_legend(lines, bool(div_any), bool(lost_all)), loc="outside lower center", ncols=3,
                   fontsize=8, frameon=False)

    caption = (f"{metric.name.capitalize()} after brief training for {group.label}, over "
               f"{'the regularity' if over_reg else 'depth'} and β: the mean over each cell's networks that did "
               f"not diverge (column {metric.column} of training.csv), {'brighter is better' if metric.higher_is_better else 'brighter is lower, i.e. better'}. "
               f"Theory (SPEC 5) expects performance to peak in a band near the critical line (solid: asymptotic "
               f"β_c; dashed: finite-depth threshold where thresholds.csv has it) and to collapse deep in the "
               f"explode regime below it. × k/n: k of the cell's n networks diverged during training; hatched "
               f"cells lost every network.{remark} " + _performance_summary(group, metric, theory, thresholds))
    return Figure(title=f"Training: {metric.name}, {group.label}", caption=caption, draw=draw,
                  size=(10.5, 2.4 + 3.4 * nrows) if over_reg else (8.5, 5.8))


def _mark_diverged(ax, pos: list, betas: list, xe: np.ndarray, ye: np.ndarray, values: np.ndarray,
                   div: np.ndarray, n: np.ndarray, norm: Normalize, metric: Metric) -> None:
    """Write each cell's value and its diverged count; hatch cells where every network diverged."""
    annotate = len(pos) <= MAX_ANNOTATED and len(betas) <= MAX_ANNOTATED
    for i, b in enumerate(betas):
        height = ye[i + 1] - ye[i]
        for j, x in enumerate(pos):
            v, k, total = values[i, j], div[i, j], n[i, j]
            if k > 0 and total > 0 and k >= total:
                ax.fill_between([xe[j], xe[j + 1]], ye[i], ye[i + 1], facecolor="none", hatch="xx",
                                edgecolor="#444444", linewidth=0.0)
            bright = np.isfinite(v) and float(norm(v)) > 0.55
            colour, halo = ("black", "white") if bright else ("white", "black")
            effect = [patheffects.withStroke(linewidth=2, foreground=halo)]
            if annotate and np.isfinite(v):
                text = f"{v:.2f}" if metric.higher_is_better or abs(v) < 100 else f"{v:.3g}"
                ax.text(x, b + 0.22 * height, text, ha="center", va="center", fontsize=7.5, color=colour,
                        path_effects=effect, zorder=6)
            if k > 0:
                mark = f"× {k}/{total}" if annotate else "×"
                ax.text(x, b - 0.22 * height, mark, ha="center", va="center", fontsize=7.5, color=colour,
                        path_effects=effect, zorder=6, weight="bold")


def _legend(lines: tuple[bool, bool], diverged: bool, lost_all: bool) -> list:
    """Legend entries for the performance maps: critical lines, and divergence marks where present."""
    handles: list = []
    if lines[0]:
        handles.append(Line2D([], [], color="white", lw=2.0, label="asymptotic β_c (theory)",
                              path_effects=[patheffects.withStroke(linewidth=3.4, foreground="black")]))
    if lines[1]:
        handles.append(Line2D([], [], color="white", lw=1.6, ls="--", label="finite-depth threshold (theory)",
                              path_effects=[patheffects.withStroke(linewidth=3.4, foreground="black")]))
    if diverged:
        handles.append(Line2D([], [], color="black", marker="$×$", linestyle="none", markersize=8,
                              label="× k/n: networks diverged in training"))
    if lost_all:
        handles.append(Patch(facecolor=NOT_TRAINED, edgecolor="#444444", hatch="xx",
                             label="all networks diverged"))
    handles.append(Patch(facecolor=NOT_TRAINED, edgecolor="#999999", label="not trained"))
    return handles


def _performance_summary(group: Group, metric: Metric, theory: ModuleType | None, thresholds: list[Row]) -> str:
    """What the data show, in numbers: the metric near the critical line, below and above it."""
    bands: dict[str, list[float]] = {"below": [], "near": [], "above": []}
    lost: dict[str, list[int]] = {"below": [0, 0], "near": [0, 0], "above": [0, 0]}
    best: tuple[float, Row, float] | None = None
    sign = 1.0 if metric.higher_is_better else -1.0
    for r in group.rows:
        bc = beta_c_of(r, theory, thresholds)
        v = _number(r, metric.column)
        if not math.isfinite(bc):
            continue
        gap = float(r["beta"]) - bc
        band = "near" if abs(gap) <= NEAR_BAND else ("below" if gap < 0 else "above")
        k, n = _number(r, "diverged"), _number(r, "samples")
        lost[band][0] += int(k) if math.isfinite(k) else 0
        lost[band][1] += int(n) if math.isfinite(n) else 0
        if math.isfinite(v):
            bands[band].append(v)
            if best is None or sign * v > sign * best[0]:
                best = (v, r, gap)
    if best is None:
        return "Theory gives no critical β for these cells, so the map cannot be read against it."
    words = {"below": f"more than {NEAR_BAND:g} below β_c (explode side)", "near": f"within {NEAR_BAND:g} of β_c",
             "above": f"more than {NEAR_BAND:g} above β_c"}
    parts = [f"{fmt(float(np.mean(bands[b])), 3)} {words[b]} ({len(bands[b])} cells)" for b in ("below", "near",
                                                                                             "above")
             if bands[b]]
    v, r, gap = best
    where = f"β = {fmt(r['beta'])}" + (f", {regularity_name(group.family[2])} = {fmt(r['regularity'])}"
                                       if r.get("regularity") is not None else "") + f", L = {int(r['depth'])}"
    side = ("inside the band near β_c" if abs(gap) <= NEAR_BAND
            else "below the band, on the explode side" if gap < 0 else "above the band")
    text = (f"In this run: mean {metric.name} {'; '.join(parts)}. The best cell ({fmt(v, 3)}) is at {where}, "
            f"β − β_c = {fmt(gap, 2)} ({side}).")
    div = [f"{lost[b][0]} of {lost[b][1]} {words[b].split(' (')[0]}" for b in ("below", "near", "above")
           if lost[b][1]]
    if any(lost[b][0] for b in lost):
        text += " Diverged networks: " + "; ".join(div) + "."
    else:
        text += " No network diverged."
    return text


def deviation_figure(group: Group, curve: Curve | None, thresholds: list[Row],
                     theory: ModuleType | None) -> Figure | Note:
    """Median log10 ||h_L - h_0|| / ||h_0|| before and after training, phase-diagram colours."""
    need = ("diff_before_median", "diff_after_median")
    if not all(any(math.isfinite(_number(r, c)) for r in group.rows) for c in need):
        return Note(f"{group.label}: training.csv has no {' / '.join(need)} values, so the before/after "
                    f"deviation maps are skipped.")
    if len(group.rows) < 2:
        return Note(f"{group.label}: one trained cell only, no before/after deviation map to draw.")
    over_reg = group.over_regularity
    xfield = "regularity" if over_reg else "depth"
    panels, remark = _depth_panels(group, MAX_DEVIATION_DEPTHS)
    before = lambda r: _number(r, "diff_before_median") / LN10  # noqa: E731 - natural logs in the table
    after = lambda r: _number(r, "diff_after_median") / LN10  # noqa: E731
    norm = _norm(np.array([f(r) for r in group.rows for f in (before, after)]))
    beta_c = beta_c_of(group.rows[0], theory, thresholds) if not over_reg else math.nan

    # One depth: before | after side by side; several: before above after, one column per depth.
    side_by_side = len(panels) == 1
    shape = (1, 2) if side_by_side else (2, len(panels))
    when_value = (("before", before), ("after", after))

    def draw(fig: FigureBase) -> None:
        axes = fig.subplots(*shape, squeeze=False, sharex=True, sharey=True)
        mesh, lines = None, (False, False)
        for w, (when, value) in enumerate(when_value):
            for c, L in enumerate(panels):
                ax = axes[0, w] if side_by_side else axes[w, c]
                sub = [r for r in group.rows if L is None or int(r["depth"]) == L]
                xs, betas, values, div, _n = _grid(sub, xfield, value)
                pos = xs if over_reg else list(range(len(xs)))
                # x marks networks lost in training (their trained deviation is not in the median)
                bad = div if when == "after" else np.zeros_like(div)
                mesh = _heatmap(ax, edges(pos), edges(betas), pos, betas, values, bad, norm)
                lines = _critical_lines(ax, group, curve, thresholds, beta_c, over_reg, "black")
                _axes_ticks(ax, xs, pos, betas, over_reg)
                ax.set_title(f"{when} training" + (f", L = {L}" if L is not None else ""), fontsize=10)
        for ax in axes[:, 0]:
            ax.set_ylabel(BETA_LABEL if side_by_side else r"$\beta$ (dimensionless)", fontsize=9)
        for ax in axes[-1]:
            ax.set_xlabel(_short_xlabel(group.family[2]) if over_reg else "depth L (columns equally spaced)",
                          fontsize=8)
        cbar = fig.colorbar(mesh, ax=list(axes.ravel()), shrink=0.9)
        cbar.set_label(f"log10 median {QUANTITY_LABEL['diff']} (decades)", fontsize=9)
        fig.suptitle(f"{group.label}: forward deviation before and after training", fontsize=11)
        handles = [Patch(facecolor="white", edgecolor="black", hatch="///",
                         label=f"exploded: median deviation > 10^{CAP:g}")]
        if any(_number(r, "diverged") > 0 for r in group.rows):
            handles.append(Line2D([], [], color="black", marker="x", linestyle="none",
                                  label="networks diverged in training (left out of the median)"))
        if lines[0]:
            handles.append(Line2D([], [], color="black", lw=2.0, label="asymptotic β_c (theory)"))
        if lines[1]:
            handles.append(Line2D([], [], color="black", lw=1.6, ls="--", label="finite-depth threshold (theory)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8, frameon=False)

    caption = (f"Median log10 ‖h_L − h_0‖/‖h_0‖ over each cell's networks for {group.label}, measured on the "
               f"initial weights (left, or top row) and on the trained residual weights (right, or bottom row), "
               f"with the same inputs; "
               f"colours as in the phase diagrams (blue: near the identity, white: a deviation as large as the "
               f"input, red: growth; hatched beyond 10^{CAP:g}). Look at whether training moves cells across the "
               f"white band, i.e. whether the regime at initialization survives training.{remark} "
               + _deviation_summary(group.rows))
    return Figure(title=f"Training: deviation before and after, {group.label}", caption=caption, draw=draw,
                  size=(10.5, 5.6) if side_by_side else (10.5, 8.0))


def _short_xlabel(init: str) -> str:
    """A regularity axis label short enough for narrow panels."""
    return {"fgn": "Hurst index H (dimensionless)", "fbm": "Hurst index H (dimensionless)",
            "smooth": "length-scale ℓ (layer time k/L)"}.get(init, regularity_label(init))


def _deviation_summary(rows: list[Row]) -> str:
    """How far training moved the deviation, and how many cells changed side of 0 decades."""
    pairs = [(_number(r, "diff_before_median") / LN10, _number(r, "diff_after_median") / LN10) for r in rows]
    pairs = [(b, a) for b, a in pairs if math.isfinite(b) and math.isfinite(a)]
    if not pairs:
        return "No cell has a finite deviation both before and after training."
    shift = np.array([a - b for b, a in pairs])
    crossed = sum(1 for b, a in pairs if (b > 0) != (a > 0))
    return (f"In this run training changed the log10 deviation by {fmt(float(np.median(shift)), 2)} decades "
            f"(median over {len(pairs)} cells; range {fmt(float(shift.min()), 2)} to {fmt(float(shift.max()), 2)}); "
            f"{crossed} cell{'s' if crossed != 1 else ''} changed side of 0 (deviation below versus above "
            f"‖h_0‖).")


def fit_slope(depths: Sequence[float], values: Sequence[float]) -> tuple[float, float] | None:
    """Least-squares slope of log(value) on log(depth) and its standard error (NaN with two points);
    None with fewer than two usable points (positive, finite, distinct depths)."""
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


def regularity_figures(group: Group) -> list[Figure | Note]:
    """Trained-weight regularity against depth with fitted slopes, one figure per regularity value."""
    depths = group.values("depth")
    columns = [m for m in WEIGHT_METRICS if any(math.isfinite(_number(r, f"{m}_median")) for r in group.rows)]
    if len(depths) < 2:
        return [Note(f"{group.label}: trained-weight regularity against depth (max_k ‖V_k‖, max_k ‖V_k+1 − V_k‖, "
                     f"Σ_k ‖V_k+1 − V_k‖²) is not drawn: the slopes need a depth grid, and this run trained one "
                     f"depth (L = {', '.join(str(int(d)) for d in depths)}).")]
    if not columns:
        return [Note(f"{group.label}: training.csv has no trained-weight regularity columns "
                     f"({', '.join(f'{m}_median' for m in WEIGHT_METRICS)}).")]
    regs: list[float | None] = group.values("regularity") or [None]
    shown = pick_evenly(regs, MAX_REGULARITY_FIGURES)
    out: list[Figure | Note] = []
    if len(shown) < len(regs):
        out.append(Note(f"{group.label}: weight-regularity figures are drawn for {regularity_name(group.family[2])} "
                        f"= {', '.join(fmt(r) for r in shown)} only, of {len(regs)} values."))
    for reg in shown:
        rows = [r for r in group.rows if reg is None or rkey(r.get("regularity")) == reg]
        out.append(_regularity_figure(group, reg, rows, columns, depths))
    return out


def _regularity_figure(group: Group, reg: float | None, rows: list[Row], columns: list[str],
                       depths: list[float]) -> Figure:
    betas = sorted({rkey(r["beta"]) for r in rows})
    colours = _beta_colours(betas)
    where = f", {regularity_name(group.family[2])} = {fmt(reg)}" if reg is not None else ""
    slopes: dict[tuple[str, float], tuple[float, float] | None] = {}
    series: dict[tuple[str, float], tuple[list[float], list[float]]] = {}
    for m in columns:
        for b in betas:
            pts = sorted((float(r["depth"]), _number(r, f"{m}_median")) for r in rows if rkey(r["beta"]) == b)
            series[(m, b)] = ([p[0] for p in pts], [p[1] for p in pts])
            slopes[(m, b)] = fit_slope(*series[(m, b)])

    def draw(fig: FigureBase) -> None:
        axes = np.atleast_1d(fig.subplots(1, len(columns), squeeze=False)).ravel()
        for ax, m in zip(axes, columns, strict=True):
            title, label = WEIGHT_METRICS[m]
            for b in betas:
                xs, ys = series[(m, b)]
                ok = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y) and y > 0]
                fit = slopes[(m, b)]
                text = "no fit" if fit is None else f"slope {fit[0]:+.2f}" + (
                    f" ± {fit[1]:.2f}" if math.isfinite(fit[1]) else "")
                ax.plot([p[0] for p in ok], [p[1] for p in ok], marker="o", ms=4, lw=0, color=colours[b])
                if fit is not None and ok:
                    lx = np.array([min(p[0] for p in ok), max(p[0] for p in ok)])
                    ly = np.exp(np.mean([math.log(p[1]) for p in ok])
                                + fit[0] * (np.log(lx) - np.mean([math.log(p[0]) for p in ok])))
                    ax.plot(lx, ly, color=colours[b], lw=1.4)
                ax.plot([], [], color=colours[b], marker="o", ms=4, lw=1.4, label=f"β = {b:g}: {text}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(depths, [str(int(d)) for d in depths])
            ax.xaxis.set_minor_locator(NullLocator())  # only the simulated depths are labelled
            # plain numbers, also on minor ticks when the values span less than a decade or two
            ax.yaxis.set_major_formatter(LogFormatter())
            ax.yaxis.set_minor_formatter(LogFormatter(minor_thresholds=(2, 0.5)))
            ax.set_xlabel("depth L (number of residual blocks, log scale)", fontsize=8)
            ax.set_ylabel(f"{label} (Frobenius norm{', squared' if 'quadratic' in m else ''}; log scale)",
                          fontsize=8)
            ax.set_title(title, fontsize=10)
            ax.tick_params(labelsize=8)
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=7, frameon=False,
                      ncols=1 if len(betas) <= 5 else 2)
        fig.suptitle(f"{group.label}{where}: trained residual weights against depth", fontsize=11)

    caption = (f"Regularity of the trained weights V_k along the layer index for {group.label}{where}: the "
               f"median over networks of max_k ‖V_k‖, max_k ‖V_k+1 − V_k‖ and Σ_k ‖V_k+1 − V_k‖² (Frobenius "
               f"norms) against depth on log–log axes, one colour per β; points are the cells, lines the "
               f"least-squares fit of log value on log L, whose slope (± its standard error, from three depths "
               f"on) is in the legend. SPEC 5: the slopes estimate how trained weights scale with L. Reference "
               f"points: the largest layer has slope 0 when the weights stay of order one. Weights that are rough "
               f"along k, as at an i.i.d. or fGn initialization (increments of order one), give slope 0 for the "
               f"largest increment and +1 for the quadratic variation; weights that are a smooth function of "
               f"k/L give −1 for both.")
    height = 4.6 + 0.15 * (len(betas) if len(betas) <= 5 else math.ceil(len(betas) / 2))
    return Figure(title=f"Training: weight regularity, {group.label}{where}", caption=caption, draw=draw,
                  size=(11.0, height))


def _beta_colours(betas: list[float]) -> dict[float, tuple]:
    """One colour per beta along a perceptually ordered map (dark: small beta)."""
    from matplotlib import colormaps

    cmap = colormaps["plasma"]
    n = len(betas)
    return {b: cmap(0.85 * i / max(n - 1, 1)) for i, b in enumerate(betas)}


def best_table(gs: list[Group]) -> Table:
    """Per family and setup: the best cell, where it is, the fraction diverged and the learning rates."""
    rows = []
    for g in gs:
        metric = task_metric(g)
        k = sum(int(_number(r, "diverged")) for r in g.rows if math.isfinite(_number(r, "diverged")))
        n = sum(int(_number(r, "samples")) for r in g.rows if math.isfinite(_number(r, "samples")))
        diverged = f"{k}/{n} ({100.0 * k / n:.0f}%)" if n else "—"
        lrs: dict[str, int] = {}
        for r in g.rows:
            lr = r.get("lr")
            if lr is not None:
                lrs[fmt(lr)] = lrs.get(fmt(lr), 0) + 1
        tried = sorted({str(r.get("lrs")).replace(";", ", ") for r in g.rows if r.get("lrs") is not None})
        chosen = ", ".join(f"{lr} ({c} cell{'s' if c != 1 else ''})" for lr, c in
                           sorted(lrs.items(), key=lambda kv: -kv[1])) or "—"
        if tried:
            chosen += f"; tried {' / '.join(tried)}"
        if metric is None:
            rows.append([g.label, "—", "—", "—", "—", "—", diverged, chosen])
            continue
        sign = 1.0 if metric.higher_is_better else -1.0
        scored = [r for r in g.rows if math.isfinite(_number(r, metric.column))]
        if not scored:
            rows.append([g.label, f"{metric.name}: —", "—", "—", "—", "—", diverged, chosen])
            continue
        best = max(scored, key=lambda r: sign * _number(r, metric.column))
        value = _number(best, metric.column)
        se = _number(best, metric.column.replace("_mean", "_se").replace("_median", "_se"))
        value_text = fmt(value, 3) + (f" ± {1.96 * se:.2g}" if math.isfinite(se) and metric.column.endswith("_mean")
                                      else "")
        rows.append([g.label, f"{metric.name}: {value_text}", fmt(best["beta"]),
                     fmt(best.get("regularity")), str(int(best["depth"])),
                     _initial(best), diverged, chosen])
    return Table(columns=["Family (training setup)", "Best (mean, 95% CI)", "β", "H or ℓ", "L",
                          "Initial test loss there", "Diverged networks", "Learning rate chosen (cells)"],
                 rows=rows, title="Best cell per family after training: test accuracy (or lowest test loss), where "
                                  "it occurs, and the networks lost",
                 widths=[0.22, 0.15, 0.05, 0.06, 0.05, 0.11, 0.11, 0.25])


def _initial(row: Row) -> str:
    """The untrained networks' mean test loss in the best cell (what training started from)."""
    value = _number(row, "initial_test_loss_mean")
    return fmt(value, 3) if math.isfinite(value) else "—"


def section_blocks(training: list[Row], curves: dict[Family, Curve | None], thresholds: list[Row],
                   theory: ModuleType | None) -> list[Block]:
    """Everything section 6 shows: an introduction, per-group figures (or notes) and the best-cell table.

    training: training.csv rows; curves: the asymptotic beta_c line per family (as in the phase
    diagrams); thresholds: thresholds.csv rows (their finite-depth thresholds are drawn dashed).
    """
    if not training:
        return [Note(NO_TRAINING)]
    gs = groups(training)
    blocks: list[Block] = [Paragraph(
        "Each cell's networks (input layer, the residual stack at its initialization, output layer) were "
        "trained briefly and measured again (SPEC 5). Performance is the mean over the networks that stayed "
        "finite; a network whose loss or weights became non-finite counts as diverged. The learning rate was "
        "chosen per cell on a validation split among the values tried. These panels read training.csv; they "
        "show how the regime at initialization shapes trainability and whether it survives training.")]
    for g in gs:
        family_thresholds = [t for t in thresholds if family_of(t) == g.family and t.get("quantity") == "diff"]
        curve = curves.get(g.family)
        metric = task_metric(g)
        if metric is None:
            blocks.append(Note(f"{g.label}: training.csv has neither test accuracy nor test loss values, so "
                               f"there is no performance map."))
        else:
            blocks.append(performance_figure(g, metric, curve, family_thresholds, theory))
        blocks.append(deviation_figure(g, curve, family_thresholds, theory))
        blocks.extend(regularity_figures(g))
    blocks.append(best_table(gs))
    return blocks

