"""Depth scaling: the median deviation against L on log–log axes, beside the predicted slopes.

docs/theory.md §4.5: in the identity regime the median deviation shrinks like L^(beta_c - beta), at beta_c it
tends to a constant, below it grows without bound. The fitted slope over depths therefore estimates
beta_c - beta. This figure is a pure function of cells.csv (the points) and regimes.csv (the
predicted asymptotic and finite-depth slopes).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib import cm, colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import FigureBase
from matplotlib.lines import Line2D

from reports.document import Figure
from reports.plotting import (
    DEPTH_LABEL,
    QUANTITY_LABEL,
    QUANTITY_WORDS,
    bottom_xlabel,
    log10_median,
    median_halfwidth,
    pick_evenly,
)
from reports.rundata import Family, Row, family_label, rkey

MAX_PANELS = 6
MAX_BETAS = 10
TOP_DECADES = 3.0


def _slope_line(ls: np.ndarray, ys: np.ndarray, slope: float) -> tuple[np.ndarray, np.ndarray]:
    """A line of the given log–log slope through the centroid of the observed points."""
    lx = np.log10(ls)
    x0, y0 = float(lx.mean()), float(np.nanmean(ys))
    return ls, y0 + slope * (lx - x0)


def scaling_figure(family: Family, cells: list[Row], regimes: list[Row], quantity: str) -> tuple[Figure | None, str]:
    """The depth-scaling figure of one family, and a note on what was selected or skipped."""
    depths = sorted({int(r["depth"]) for r in cells})
    if len(depths) < 2:
        return None, (f"{family_label(family)}: one depth only (L = {depths[0]}), so no depth scaling "
                      f"can be drawn.")
    regs_all = sorted({rkey(r.get("regularity")) for r in cells}, key=lambda v: (v is None, v or 0.0))
    regs = pick_evenly(regs_all, MAX_PANELS)
    betas_all = sorted({rkey(r["beta"]) for r in cells})
    betas = pick_evenly(betas_all, MAX_BETAS)
    note = ""
    if len(regs) < len(regs_all) or len(betas) < len(betas_all):
        note = (f"{family_label(family)}: depth scaling shown for {len(regs)} of {len(regs_all)} regularity "
                f"values and {len(betas)} of {len(betas_all)} β values, evenly spread; every point is in "
                f"regimes.csv.")
    predicted = {(rkey(r.get("regularity")), rkey(r["beta"])): r for r in regimes}
    ncols = min(len(regs), 3)
    nrows = math.ceil(len(regs) / ncols)
    bnorm = Normalize(vmin=min(betas), vmax=max(betas) if max(betas) > min(betas) else min(betas) + 1)
    cmap = colormaps["viridis"]
    shown = [log10_median(r, quantity) for r in cells
             if rkey(r.get("regularity")) in regs and rkey(r["beta"]) in betas]
    shown = [v for v in shown if math.isfinite(v)] or [0.0]
    # exploding lines would squash everything else: the axis stops TOP_DECADES above zero
    bottom, top = min(shown) - 0.3, min(max(shown), TOP_DECADES) + 0.3

    def draw(fig: FigureBase) -> None:
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, reg in zip(axes, regs, strict=False):
            for beta in betas:
                rows = sorted((r for r in cells if rkey(r.get("regularity")) == reg and rkey(r["beta"]) == beta),
                              key=lambda r: r["depth"])
                if len(rows) < 2:
                    continue
                ls = np.array([r["depth"] for r in rows], dtype=float)
                ys = np.array([log10_median(r, quantity) for r in rows])
                err = np.array([median_halfwidth(r, quantity) for r in rows])
                colour = cmap(bnorm(beta))
                ax.errorbar(ls, ys, yerr=np.nan_to_num(err), color=colour, marker="o", ms=4, lw=1.4,
                            capsize=2)
                off = ys > top
                if off.any():  # exploded beyond the axis: marked at the top edge, not dropped
                    ax.plot(ls[off], np.full(off.sum(), top), "^", color=colour, ms=7, mec="black", mew=0.5,
                            clip_on=False, zorder=5)
                pred = predicted.get((reg, beta))
                slope = None if pred is None else pred.get("predicted_slope")
                if slope is None or not math.isfinite(slope):
                    continue  # explosion predicted: no slope, and the finite-depth formula does not hold
                ax.plot(*_slope_line(ls, ys, slope), color=colour, ls="--", lw=1.2)
                fin = pred.get("finite_depth_slope")
                if fin is not None and math.isfinite(fin) and abs(fin - slope) > 0.02:
                    ax.plot(*_slope_line(ls, ys, fin), color=colour, ls=":", lw=1.4)
            ax.set_ylim(bottom, top)
            ax.set_xscale("log")
            ax.set_xticks(depths, [str(L) for L in depths])
            ax.minorticks_off()
            ax.axhline(0.0, color="grey", lw=0.6)
            title = family_label(family) if reg is None else f"{_reg_symbol(family[2])} = {reg:g}"
            ax.set_title(title, fontsize=10)
            ax.grid(alpha=0.3)
        bottom_xlabel(list(axes[:len(regs)]), ncols, DEPTH_LABEL)
        fig.supylabel(f"log10 median {QUANTITY_LABEL[quantity]} (decades)", fontsize=9)
        for ax in axes[len(regs):]:
            ax.set_visible(False)
        mappable = cm.ScalarMappable(norm=bnorm, cmap=cmap)
        cbar = fig.colorbar(mappable, ax=list(axes[:len(regs)]), shrink=0.9)
        cbar.set_label(r"$\beta$ (dimensionless)", fontsize=9)
        handles = [Line2D([], [], color="black", marker="o", ms=4, label="observed median, 95% CI"),
                   Line2D([], [], color="black", ls="--", label="predicted asymptotic slope β_c − β"),
                   Line2D([], [], color="black", ls=":", label="predicted finite-depth slope")]
        fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
        fig.suptitle(f"{family_label(family)}: depth scaling of the median {QUANTITY_WORDS[quantity]}",
                     fontsize=11)

    caption = (
        f"Median {QUANTITY_WORDS[quantity]} against depth on log–log axes for {family_label(family)}, one "
        f"line per β (colour), one panel per regularity value. Dashed lines have the slope theory predicts "
        f"(β_c − β, drawn through the centre of the points; none where theory predicts explosion); dotted "
        f"lines the finite-depth slope where it differs. Look for solid and dashed lines to be parallel: "
        f"rising lines are exploding, flat ones critical, falling ones tending to the identity. Error bars: "
        f"95% intervals of the median (normal approximation, √(π/2)·sd/√n). The axis stops "
        f"{TOP_DECADES:g} decades above 1; points beyond it (explosion) are marked ▲ on the top edge.")
    fig = Figure(title=f"Depth scaling, {family_label(family)} ({quantity})", caption=caption, draw=draw,
                 size=(10.5, 2.2 + 3.2 * nrows if nrows == 1 else 1.6 + 2.6 * nrows))
    return fig, note


def _reg_symbol(init: str) -> str:
    return {"fgn": "H", "fbm": "H", "smooth": "ℓ"}.get(init, "regularity")
