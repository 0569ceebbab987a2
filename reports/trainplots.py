"""Training figures: pure functions of training.csv rows (grouped by `reports.trainingdata`).

- `performance_figure`: test accuracy (test loss for regression) over regularity x beta, one panel
  per depth (over depth x beta when the family has one regularity), with theory's asymptotic beta_c
  (solid) and finite-depth threshold (dashed); diverged networks are counted in each cell.
- `deviation_figure`: the median log10 ||h_L - h_0|| / ||h_0|| before and after training, in the phase
  diagrams' colours (diverging, centred on 0, hatched beyond 10**CAP).
- `regularity_figures`: max_k ||V_k||, max_k ||V_{k+1} - V_k|| and sum_k ||V_{k+1} - V_k||^2 of the
  trained weights against depth on log-log axes, least-squares slopes in the legends.

Each returns a `Note` instead of a figure when the panel cannot be drawn, saying why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import FigureBase
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogFormatter, MaxNLocator, NullLocator

from reports.document import Figure, Note
from reports.phase import Curve
from reports.phase import _norm as deviation_norm  # the phase diagrams' diverging scale, shared on purpose
from reports.plotting import BETA_LABEL, CAP, QUANTITY_LABEL, edges, fmt, pick_evenly, regularity_label
from reports.rundata import Row, regularity_name, rkey
from reports.trainingdata import (
    Group,
    Metric,
    beta_c_of,
    count,
    deviation_summary,
    finite_depth_line,
    fit_slope,
    log10_deviation,
    number,
    performance_summary,
)

MAX_DEPTH_PANELS = 6  # performance maps: two rows of three depths still read on a page
MAX_DEVIATION_DEPTHS = 3  # before/after maps: one column per depth
MAX_REGULARITY_FIGURES = 4  # weight-regularity figures per family, one per regularity value
# Values are written in the cells while the figure is at most this many cells across and down.
ANNOTATE_ACROSS, ANNOTATE_DOWN = 20, 12
NOT_TRAINED = "#d9d9d9"
HATCH = {"lost": "xx", "no value": "....", "exploded": "///"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
OPEN_MARKERS = {"s", "D", "<", ">"}  # hollow, so a coinciding filled marker shows through
WEIGHT_METRICS = {
    "v_max_norm": ("largest layer", r"$\mathrm{max}_k\,\|V_k\|_F$"),
    "v_max_increment": ("largest increment", r"$\mathrm{max}_k\,\|V_{k+1}-V_k\|_F$"),
    "v_quadratic_variation": ("quadratic variation", r"$\Sigma_k\,\|V_{k+1}-V_k\|_F^2$"),
}
DEPTH_AXIS = "depth L (number of residual blocks; columns equally spaced)"


@dataclass
class CellGrid:
    """One panel's cells as arrays indexed [beta, x]: values (NaN where none), diverged and
    network counts, and whether a trained cell exists there."""

    xs: list[float]
    pos: list[float]  # x positions: the regularity values, or equally spaced columns for depths
    betas: list[float]
    values: np.ndarray
    diverged: np.ndarray
    samples: np.ndarray
    present: np.ndarray


def _grid(rows: list[Row], over_reg: bool, value: Callable[[Row], float]) -> CellGrid:
    xfield = "regularity" if over_reg else "depth"
    xs = sorted({rkey(r[xfield]) for r in rows if r.get(xfield) is not None})
    betas = sorted({rkey(r["beta"]) for r in rows})
    shape = (len(betas), len(xs))
    grid = CellGrid(xs, xs if over_reg else list(range(len(xs))), betas, np.full(shape, np.nan),
                    np.zeros(shape, dtype=int), np.zeros(shape, dtype=int), np.zeros(shape, dtype=bool))
    for r in rows:
        if r.get(xfield) is None:
            continue
        i, j = betas.index(rkey(r["beta"])), xs.index(rkey(r[xfield]))
        grid.values[i, j] = value(r)
        grid.diverged[i, j] = count(r, "diverged")
        grid.samples[i, j] = count(r, "samples")
        grid.present[i, j] = True
    return grid


@dataclass
class Marks:
    """Which kinds of marks a figure used, for its legend."""

    diverged: bool = False
    lost: bool = False
    no_value: bool = False
    exploded: bool = False
    missing: bool = False
    asymptotic: bool = False
    finite_depth: bool = False


def _draw_cells(ax, g: CellGrid, cmap: str, norm: Normalize, text: Callable[[float], str] | None,
                dark: Callable[[float], bool], count_diverged: bool, explode_above: float | None,
                marks: Marks) -> object:
    """A heatmap panel: colours, hatches (every network lost, no finite value, exploded), each cell's
    value in its upper half and '× k/n' diverged networks in its lower half; returns the mesh."""
    xe, ye = edges(g.pos), edges(g.betas)
    ax.set_facecolor(NOT_TRAINED)
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(g.values), cmap=cmap, norm=norm, shading="flat")
    size = 7.5 if len(g.pos) <= 6 else 6.5
    for i, b in enumerate(g.betas):
        h = ye[i + 1] - ye[i]
        for j, x in enumerate(g.pos):
            v, k, n = g.values[i, j], g.diverged[i, j], g.samples[i, j]
            if not g.present[i, j]:
                marks.missing = True
                continue
            lost = count_diverged and n > 0 and k >= n
            kind = ("lost" if lost else "no value" if not np.isfinite(v)
                    else "exploded" if explode_above is not None and v > explode_above else None)
            if kind:
                setattr(marks, kind.replace(" ", "_"), True)
                ax.fill_between([xe[j], xe[j + 1]], ye[i], ye[i + 1], facecolor="none", hatch=HATCH[kind],
                                edgecolor="#333333", linewidth=0.0)
            on_dark = np.isfinite(v) and dark(v)
            colour, halo = ("white", "black") if on_dark else ("black", "white")
            effect = [patheffects.withStroke(linewidth=2, foreground=halo)]
            if text is not None and np.isfinite(v):
                ax.text(x, b + 0.22 * h, text(v), ha="center", va="center", fontsize=size, color=colour,
                        path_effects=effect, zorder=6)
            if count_diverged and k > 0:
                marks.diverged = True
                ax.text(x, b - 0.22 * h, f"× {k}/{n}" if text is not None else "×", ha="center", va="center",
                        fontsize=size, color=colour, path_effects=effect, zorder=6, weight="bold")
    ax.set_xlim(xe[0], xe[-1])
    ax.set_ylim(ye[0], ye[-1])
    return mesh


def _critical_lines(ax, group: Group, curve: Curve | None, thresholds: list[Row], beta_c: float,
                    colour: str, marks: Marks) -> None:
    """Theory's asymptotic beta_c (solid) and finite-depth threshold (dashed) on a panel: curves over
    regularity, horizontal lines over depth. A halo of the other colour keeps them visible on any cell."""
    halo = [patheffects.withStroke(linewidth=3.4, foreground="black" if colour == "white" else "white")]
    style = dict(color=colour, path_effects=halo, zorder=5)
    fx, fy = finite_depth_line(thresholds)
    if group.over_regularity:
        if curve is not None:
            ax.plot(curve[0], curve[1], lw=2.0, **style)
            marks.asymptotic = True
        if fx.size >= 2:
            ax.plot(fx, fy, lw=1.6, ls="--", **style)
            marks.finite_depth = True
        return
    if math.isfinite(beta_c):
        ax.axhline(beta_c, lw=2.0, **style)
        marks.asymptotic = True
    if fx.size:
        ax.axhline(float(fy[0]), lw=1.6, ls="--", **style)
        marks.finite_depth = True


def _ticks(ax, g: CellGrid, over_reg: bool, across: int) -> None:
    """Ticks at the simulated values; labels shortened and turned when many share the width."""
    if over_reg:
        digits = 3 if len(g.xs) <= 6 else 2
        ax.set_xticks(g.xs, [f"{x:.{digits}g}" for x in g.xs])
    else:
        ax.set_xticks(g.pos, [str(int(x)) for x in g.xs])
    ax.set_yticks(g.betas, [f"{b:.{3 if len(g.betas) <= 6 else 2}g}" for b in g.betas])
    ax.tick_params(labelsize=8 if across <= 12 else 7)
    if across > 14:
        ax.tick_params(axis="x", labelrotation=45)


def _legend(marks: Marks, line_colour: str) -> list:
    """Legend entries for the marks a heatmap figure actually used."""
    halo = [patheffects.withStroke(linewidth=3.4, foreground="black" if line_colour == "white" else "white")]
    handles: list = []
    if marks.asymptotic:
        handles.append(Line2D([], [], color=line_colour, lw=2.0, path_effects=halo, label="asymptotic β_c (theory)"))
    if marks.finite_depth:
        handles.append(Line2D([], [], color=line_colour, lw=1.6, ls="--", path_effects=halo,
                              label="finite-depth threshold (theory)"))
    if marks.diverged:
        handles.append(Line2D([], [], color="black", marker="$×$", linestyle="none", markersize=8,
                              label="× k/n: k of n networks diverged in training"))
    labels = {"lost": "every network diverged", "no_value": "no finite value",
              "exploded": f"exploded: median deviation > 10^{CAP:g}"}
    for kind, label in labels.items():
        if getattr(marks, kind):
            handles.append(Patch(facecolor="white", edgecolor="#333333", hatch=HATCH[kind.replace("_", " ")],
                                 label=label))
    if marks.missing:
        handles.append(Patch(facecolor=NOT_TRAINED, edgecolor="#999999", label="not trained"))
    return handles


def _depth_panels(group: Group, most: int) -> tuple[list[int | None], str]:
    """Depths that get a panel (None: one panel over depth) and a remark naming any left out."""
    if not group.over_regularity:
        return [None], ""
    depths = [int(d) for d in group.values("depth")]
    shown = pick_evenly(depths, most)
    left = [d for d in depths if d not in shown]
    remark = (f" Depths shown: {', '.join(map(str, shown))}; not shown (too many panels for a page): "
              f"{', '.join(map(str, left))}." if left else "")
    return shown, remark


def _performance_norm(values: np.ndarray, metric: Metric) -> Normalize:
    """Accuracy on a linear scale; a loss on a log scale when it spans more than a decade and a half."""
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
    """Map of the test metric over (regularity or depth) x beta with theory's critical lines."""
    rows = group.rows
    if len(rows) < 2:
        return Note(f"{group.label}: one trained cell only, no {metric.name} map to draw (see the table below).")
    over_reg = group.over_regularity
    panels, remark = _depth_panels(group, MAX_DEPTH_PANELS)
    norm = _performance_norm(np.array([number(r, metric.column) for r in rows]), metric)
    cmap = "viridis" if metric.higher_is_better else "viridis_r"  # bright is good either way
    beta_c = math.nan if over_reg else beta_c_of(rows[0], theory, thresholds)
    # the dark end of viridis is low accuracy, of viridis_r a high loss
    dark = (lambda v: float(norm(v)) < 0.55) if metric.higher_is_better else (lambda v: float(norm(v)) > 0.45)
    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    grids = {L: _grid([r for r in rows if L is None or int(r["depth"]) == L], over_reg,
                      lambda r: number(r, metric.column)) for L in panels}
    across = sum(len(grids[L].pos) for L in panels[:ncols])
    down = nrows * max(len(g.betas) for g in grids.values())
    text = None
    if across <= ANNOTATE_ACROSS and down <= ANNOTATE_DOWN:
        text = (lambda v: f"{v:.2f}") if metric.higher_is_better else (lambda v: f"{v:.3g}")

    def draw(fig: FigureBase) -> None:
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, sharey=True)).ravel()
        marks, mesh = Marks(), None
        for ax, L in zip(axes, panels, strict=False):
            mesh = _draw_cells(ax, grids[L], cmap, norm, text, dark, True, None, marks)
            _critical_lines(ax, group, curve, thresholds, beta_c, "white", marks)
            _ticks(ax, grids[L], over_reg, across)
            if over_reg:
                ax.set_title(f"L = {L}", fontsize=10)
                ax.set_xlabel(regularity_label(group.family[2]), fontsize=8)
            else:
                ax.set_xlabel(DEPTH_AXIS, fontsize=9)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        for ax in axes[::ncols]:
            ax.set_ylabel(BETA_LABEL, fontsize=9)
        cbar = fig.colorbar(mesh, ax=list(axes[:len(panels)]), shrink=0.9)
        cbar.set_label(metric.label, fontsize=9)
        fig.suptitle(f"{group.label}: {metric.name} after training", fontsize=11)
        fig.legend(handles=_legend(marks, "white"), loc="outside lower center", ncols=3, fontsize=8, frameon=False)

    caption = (
        f"{metric.name.capitalize()} after brief training for {group.label}, over "
        f"{'the regularity' if over_reg else 'depth'} and β: the mean over each cell's networks that did not "
        f"diverge (column {metric.column} of training.csv); "
        f"{'brighter is better' if metric.higher_is_better else 'brighter is a lower loss, i.e. better'}. "
        f"Theory (docs/theory.md §5) expects performance to peak in a band near the critical line (solid: asymptotic "
        f"β_c; dashed: finite-depth threshold, where thresholds.csv has it) and to collapse deep in the explode "
        f"regime below it. × k/n: k of the cell's n networks diverged in training.{remark} "
        + performance_summary(group, metric, theory, thresholds))
    return Figure(title=f"Training: {metric.name}, {group.label}", caption=caption, draw=draw,
                  size=(10.5, 2.4 + 3.4 * nrows) if over_reg else (8.5, 5.8))


def deviation_figure(group: Group, curve: Curve | None, thresholds: list[Row],
                     theory: ModuleType | None) -> Figure | Note:
    """Median log10 ||h_L - h_0|| / ||h_0|| before and after training, in the phase diagrams' colours."""
    if not all(any(math.isfinite(log10_deviation(r, w)) for r in group.rows) for w in ("before", "after")):
        return Note(f"{group.label}: training.csv has no finite diff_before_median / diff_after_median values, "
                    f"so the before/after deviation maps are skipped.")
    if len(group.rows) < 2:
        return Note(f"{group.label}: one trained cell only, no before/after deviation map to draw.")
    over_reg = group.over_regularity
    panels, remark = _depth_panels(group, MAX_DEVIATION_DEPTHS)
    norm = deviation_norm(np.array([log10_deviation(r, w) for r in group.rows for w in ("before", "after")]))
    beta_c = math.nan if over_reg else beta_c_of(group.rows[0], theory, thresholds)
    # One panel per stage: before | after side by side; with several depths, before above after.
    side_by_side = len(panels) == 1
    shape = (1, 2) if side_by_side else (2, len(panels))
    grids = {(w, L): _grid([r for r in group.rows if L is None or int(r["depth"]) == L], over_reg,
                           lambda r, w=w: log10_deviation(r, w)) for w in ("before", "after") for L in panels}
    across = sum(len(grids[("before", L)].pos) for L in panels) * (2 if side_by_side else 1)
    down = shape[0] * max(len(g.betas) for g in grids.values())
    few = across <= ANNOTATE_ACROSS and down <= ANNOTATE_DOWN
    text = (lambda v: f"{v:.2g}") if few and across <= 12 else (lambda v: f"{v:.1f}") if few else None

    def draw(fig: FigureBase) -> None:
        axes = fig.subplots(*shape, squeeze=False, sharex=True, sharey=True)
        marks, mesh = Marks(), None
        for w, when in enumerate(("before", "after")):
            for c, L in enumerate(panels):
                ax = axes[0, w] if side_by_side else axes[w, c]
                # after training, diverged networks are out of the median: count them in the cell
                mesh = _draw_cells(ax, grids[(when, L)], "RdBu_r", norm, text, lambda v: abs(norm(v) - 0.5) > 0.3,
                                   when == "after", CAP, marks)
                _critical_lines(ax, group, curve, thresholds, beta_c, "black", marks)
                _ticks(ax, grids[(when, L)], over_reg, across)
                ax.set_title(f"{when} training" + (f", L = {L}" if L is not None else ""), fontsize=10)
        for ax in axes[:, 0]:
            ax.set_ylabel(BETA_LABEL if side_by_side else r"$\beta$ (dimensionless)", fontsize=9)
        for ax in axes[-1]:
            ax.set_xlabel(_short_regularity_label(group.family[2]) if over_reg else DEPTH_AXIS, fontsize=8)
        cbar = fig.colorbar(mesh, ax=list(axes.ravel()), shrink=0.9)
        cbar.set_label(f"log10 median {QUANTITY_LABEL['diff']} (decades)", fontsize=9)
        fig.suptitle(f"{group.label}: forward deviation before and after training", fontsize=11)
        fig.legend(handles=_legend(marks, "black"), loc="outside lower center", ncols=3, fontsize=8, frameon=False)

    caption = (
        f"Median log10 ‖h_L − h_0‖/‖h_0‖ over each cell's networks for {group.label}, measured on the initial "
        f"weights ({'left' if side_by_side else 'top row'}) and on the trained residual weights "
        f"({'right' if side_by_side else 'bottom row'}) with the same inputs; colours as in the phase diagrams "
        f"(blue: near the identity, white: a deviation as large as the input, red: growth; hatched beyond "
        f"10^{CAP:g}). Look at whether training moves cells across the white band, i.e. whether the regime at "
        f"initialization survives training.{remark} " + deviation_summary(group.rows))
    return Figure(title=f"Training: deviation before and after, {group.label}", caption=caption, draw=draw,
                  size=(10.5, 5.6) if side_by_side else (10.5, 8.0))


def _short_regularity_label(init: str) -> str:
    """A regularity axis label short enough for narrow panels."""
    return {"fgn": "Hurst index H (dimensionless)", "fbm": "Hurst index H (dimensionless)",
            "smooth": "length-scale ℓ (layer time k/L)"}.get(init, regularity_label(init))


def regularity_figures(group: Group) -> list[Figure | Note]:
    """Trained-weight regularity against depth with fitted slopes, one figure per regularity value."""
    depths = group.values("depth")
    columns = [m for m in WEIGHT_METRICS if any(math.isfinite(number(r, f"{m}_median")) for r in group.rows)]
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


def _log_ticks(ax, values: list[float]) -> None:
    """Plain-number ticks on a log y axis: evenly spaced values when the data span less than a decade
    (a log locator would label one or two ticks there), powers of ten and their multiples otherwise."""
    if not values:
        return
    lo, hi = min(values), max(values)
    if hi < 10 * lo:
        ticks = [t for t in MaxNLocator(5).tick_values(lo, hi) if t > 0]
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    else:
        ax.yaxis.set_major_formatter(LogFormatter())
        ax.yaxis.set_minor_formatter(LogFormatter(minor_thresholds=(2, 0.5)))


def _regularity_figure(group: Group, reg: float | None, rows: list[Row], columns: list[str],
                       depths: list[float]) -> Figure:
    betas = sorted({rkey(r["beta"]) for r in rows})
    cmap = colormaps["plasma"]
    colours = {b: cmap(0.85 * i / max(len(betas) - 1, 1)) for i, b in enumerate(betas)}  # dark: small beta
    # shapes as well as colours, so that coinciding series stay distinguishable
    markers = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(betas)}
    where = f", {regularity_name(group.family[2])} = {fmt(reg)}" if reg is not None else ""
    series: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for m in columns:
        for b in betas:
            pts = sorted((float(r["depth"]), number(r, f"{m}_median")) for r in rows if rkey(r["beta"]) == b)
            series[(m, b)] = [(x, y) for x, y in pts if math.isfinite(y) and y > 0]

    def draw(fig: FigureBase) -> None:
        axes = np.atleast_1d(fig.subplots(1, len(columns), squeeze=False)).ravel()
        for ax, m in zip(axes, columns, strict=True):
            title, label = WEIGHT_METRICS[m]
            for b in betas:
                pts = series[(m, b)]
                fit = fit_slope([p[0] for p in pts], [p[1] for p in pts])
                style = dict(color=colours[b], marker=markers[b], ms=5,
                             mfc="none" if markers[b] in OPEN_MARKERS else colours[b])
                ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=0, **style)
                if fit is None:
                    words = "no fit (< 2 depths)"
                else:
                    words = f"{fit[0]:+.2f}" + (f" ± {fit[1]:.2f}" if math.isfinite(fit[1]) else "")
                    # a least-squares line passes through the mean of the logs
                    lx = np.array([pts[0][0], pts[-1][0]])
                    mx, my = np.mean([math.log(p[0]) for p in pts]), np.mean([math.log(p[1]) for p in pts])
                    ax.plot(lx, np.exp(my + fit[0] * (np.log(lx) - mx)), color=colours[b], lw=1.4)
                ax.plot([], [], lw=1.4, label=f"β = {b:.3g}: {words}", **style)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(depths, [str(int(d)) for d in depths])
            ax.xaxis.set_minor_locator(NullLocator())  # only the simulated depths are labelled
            _log_ticks(ax, [p[1] for b in betas for p in series[(m, b)]])
            ax.set_xlabel("depth L (number of residual blocks, log scale)", fontsize=8)
            ax.set_ylabel(f"{label} (Frobenius norm{', squared' if 'quadratic' in m else ''}; log scale)",
                          fontsize=8)
            ax.set_title(title, fontsize=10)
            ax.tick_params(labelsize=8)
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=7, frameon=False,
                      ncols=1 if len(betas) <= 5 else 2, title="β: fitted slope", title_fontsize=7)
        fig.suptitle(f"{group.label}{where}: trained residual weights against depth", fontsize=11)

    caption = (
        f"Regularity of the trained weights V_k along the layer index for {group.label}{where}: the median over "
        f"networks of max_k ‖V_k‖, max_k ‖V_k+1 − V_k‖ and Σ_k ‖V_k+1 − V_k‖² (Frobenius norms) against depth on "
        f"log–log axes, one colour and marker per β; points are the cells, lines the least-squares fit of log "
        f"value on log L, whose slope (± its standard error, from three depths on) the legend gives per β. "
        f"docs/theory.md §5: "
        f"the slopes estimate how trained weights scale with L. Reference points: the largest layer has slope 0 "
        f"when the weights stay of order one. Weights that are rough along k, as at an i.i.d. or fGn "
        f"initialization (increments of order one), give slope 0 for the largest increment and +1 for the "
        f"quadratic variation; weights that are a smooth function of k/L give −1 for both.")
    rows_of_legend = len(betas) if len(betas) <= 5 else math.ceil(len(betas) / 2)
    return Figure(title=f"Training: weight regularity, {group.label}{where}", caption=caption, draw=draw,
                  size=(11.0, 4.6 + 0.15 * rows_of_legend))
