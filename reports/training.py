"""Training panels (section 6): metrics after brief training over (regularity, beta), when a run has
them. Reads `training.csv` only; a run without it gets the note "no training data in this run"."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import FigureBase

from reports.document import Figure
from reports.phase import Curve
from reports.plotting import BETA_LABEL, edges, regularity_label
from reports.rundata import Family, Row, family_label, rkey

NO_TRAINING = "No training data in this run: the before/after training panels are omitted."

# Metric columns recognised in training.csv (first match per metric), with their axis label.
METRICS = {
    "test accuracy": (("test_acc_mean", "test_accuracy_mean", "test_acc", "test_accuracy"),
                      "test accuracy (fraction correct)"),
    "test loss": (("test_loss_mean", "test_loss_median", "test_loss"), "test loss (cross-entropy or MSE)"),
}


def metric_columns(rows: list[Row]) -> dict[str, str]:
    """The training.csv columns that hold each recognised metric."""
    header = set(rows[0]) if rows else set()
    found = {}
    for metric, (candidates, _label) in METRICS.items():
        for c in candidates:
            if c in header:
                found[metric] = c
                break
    return found


def training_figure(family: Family, rows: list[Row], metric: str, column: str,
                    curve: Curve | None) -> Figure | None:
    """Heatmap of a training metric over regularity (or depth) and beta, one panel per depth."""
    regs = sorted({rkey(r.get("regularity")) for r in rows if r.get("regularity") is not None})
    depths = sorted({int(r["depth"]) for r in rows})
    over_reg = len(regs) >= 2
    panels = depths if over_reg else [None]
    if not over_reg and len(depths) < 2 and len({rkey(r["beta"]) for r in rows}) < 2:
        return None
    label = METRICS[metric][1]
    values_all = np.array([float(r[column]) for r in rows if isinstance(r.get(column), int | float)])
    if values_all.size == 0:
        return None
    finite = values_all[np.isfinite(values_all)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)

    def grid(sub: list[Row], xfield: str) -> tuple[list, list, np.ndarray]:
        xs = sorted({rkey(r[xfield]) for r in sub})
        betas = sorted({rkey(r["beta"]) for r in sub})
        out = np.full((len(betas), len(xs)), np.nan)
        for r in sub:
            v = r.get(column)
            if isinstance(v, int | float):
                out[betas.index(rkey(r["beta"])), xs.index(rkey(r[xfield]))] = float(v)
        return xs, betas, out

    def draw(fig: FigureBase) -> None:
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        mesh = None
        for ax, L in zip(axes, panels, strict=False):
            sub = [r for r in rows if L is None or r["depth"] == L]
            xfield = "regularity" if over_reg else "depth"
            xs, betas, values = grid(sub, xfield)
            pos = xs if over_reg else list(range(len(xs)))
            ax.set_facecolor("#d9d9d9")
            mesh = ax.pcolormesh(edges(pos), edges(betas), np.ma.masked_invalid(values), cmap="viridis",
                                 vmin=vmin, vmax=vmax)
            if over_reg:
                if curve is not None:
                    ax.plot(curve[0], curve[1], color="white", lw=2.0, label="asymptotic β_c")
                    ax.set_xlim(edges(pos)[0], edges(pos)[-1])
                ax.set_title(f"L = {L}", fontsize=10)
                ax.set_xlabel(regularity_label(family[2]), fontsize=9)
            else:
                ax.set_xticks(pos, [str(int(x)) for x in xs])
                ax.set_xlabel("depth L (number of residual blocks)", fontsize=9)
            ax.set_ylim(edges(betas)[0], edges(betas)[-1])
            ax.set_ylabel(BETA_LABEL, fontsize=9)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        cbar = fig.colorbar(mesh, ax=list(axes[:len(panels)]), shrink=0.9)
        cbar.set_label(label, fontsize=9)
        fig.suptitle(f"{family_label(family)}: {metric} after brief training", fontsize=11)

    caption = (f"{metric.capitalize()} after brief training for {family_label(family)} (column {column} of "
               f"training.csv), over the regularity and β. Theory expects performance to peak in a band "
               f"near the critical line (white) and to collapse deep in the explode regime (below it).")
    return Figure(title=f"Training: {metric}, {family_label(family)}", caption=caption, draw=draw,
                  size=(10.5, 2.0 + 3.3 * nrows))
