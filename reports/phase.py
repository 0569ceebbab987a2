"""Phase diagrams: where the deviation explodes, stays O(1) or vanishes, against theory's lines.

Two pictures per family, both pure functions of cells.csv / regimes.csv / thresholds.csv rows:

- `phase_figure`: the median log10 deviation as a heatmap over regularity (x) and beta (y), one
  panel per depth; with a single regularity value (iid, shared) the x axis is the depth instead.
  Diverging colours centred on 0 (deviation equal to the input's norm); cells above 10**CAP are
  hatched as exploded; the asymptotic beta_c, the finite-depth threshold for the simulated depths
  and the observed thresholds with their confidence intervals are drawn on top. For the backward
  deviation the dashed line is the backward law's threshold (docs/theory.md §4.10) and the forward
  law's is drawn dotted beside it.
- `verdict_map`: regimes.csv verdicts over the same axes, one colour per verdict.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib import patheffects
from matplotlib.collections import PolyCollection
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from matplotlib.figure import FigureBase
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from reports.document import Figure
from reports.plotting import (
    BETA_LABEL,
    CAP,
    QUANTITY_LABEL,
    QUANTITY_WORDS,
    VERDICT_COLOURS,
    bottom_xlabel,
    edges,
    grid_values,
    regularity_label,
)
from reports.rundata import Family, Row, family_label, rkey

Curve = tuple[np.ndarray, np.ndarray]
MAX_ANNOTATED = 12  # write the value in each cell when the grid is at most this many cells wide/high


def _threshold_arrays(thresholds: list[Row]) -> dict[str, np.ndarray]:
    """Columns of thresholds.csv rows as float arrays sorted by regularity (NaN for missing)."""
    rows = sorted(thresholds, key=lambda r: (r.get("regularity") is None, r.get("regularity") or 0.0))
    out = {}
    for col in ("regularity", "observed_beta_c", "beta_c_lo", "beta_c_hi", "finite_depth_beta_c",
                "asymptotic_beta_c"):
        out[col] = np.array([math.nan if r.get(col) is None else float(r[col]) for r in rows])
    return out


def _norm(values: np.ndarray) -> TwoSlopeNorm:
    """A diverging norm centred on 0, saturating at CAP decades above."""
    finite = values[np.isfinite(values)]
    lo = min(float(finite.min()) if finite.size else -1.0, -0.25)
    hi = max(min(float(finite.max()) if finite.size else 1.0, CAP), 0.25)
    return TwoSlopeNorm(vmin=lo, vcenter=0.0, vmax=hi)


def _annotate(ax, xc: list[float], yc: list[float], values: np.ndarray, norm: TwoSlopeNorm) -> None:
    """Write each cell's value in it (small grids only), in a colour readable on its background.

    The text sits in the upper part of the cell: critical lines often run through a cell's centre.
    """
    if len(xc) > MAX_ANNOTATED or len(yc) > MAX_ANNOTATED:
        return
    ye = edges(yc)
    for i, yy in enumerate(yc):
        y = yy + 0.28 * (ye[i + 1] - ye[i])
        for j, x in enumerate(xc):
            v = values[i, j]
            if not np.isfinite(v):
                continue
            strong = abs(norm(v) - 0.5) > 0.3
            ax.text(x, y, f"{v:.2g}" if abs(v) < 100 else f"{v:.0f}", ha="center", va="center", fontsize=8,
                    color="white" if strong else "black", zorder=6,
                    path_effects=[patheffects.withStroke(linewidth=2, foreground="black" if strong else "white")])


def _heatmap(ax, xe: np.ndarray, ye: np.ndarray, xc: list[float], yc: list[float], values: np.ndarray,
             bad: np.ndarray, norm: TwoSlopeNorm):
    """One heatmap panel with exploded cells hatched and non-finite samples marked."""
    ax.set_facecolor("#d9d9d9")  # no cell simulated there
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(values), cmap="RdBu_r", norm=norm, shading="flat")
    # every exploded cell in one hatched collection (one artist per cell was slow to write as PDF)
    exploded = [[(xe[j], ye[i]), (xe[j + 1], ye[i]), (xe[j + 1], ye[i + 1]), (xe[j], ye[i + 1])]
                for i in range(len(yc)) for j in range(len(xc))
                if np.isfinite(values[i, j]) and values[i, j] > CAP]
    if exploded:
        ax.add_collection(PolyCollection(exploded, facecolors="none", edgecolors="black", linewidths=0.0,
                                         hatch="///"), autolim=False)
    rows, cols = np.nonzero(bad > 0)
    if rows.size:
        ax.plot(np.asarray(xc)[cols], np.asarray(yc)[rows], linestyle="none", marker="x", color="black",
                markersize=7, mew=1.5)
    _annotate(ax, xc, yc, values, norm)
    ax.set_xlim(xe[0], xe[-1])
    ax.set_ylim(ye[0], ye[-1])
    return mesh


_FORWARD_STYLE = {"color": "#4d4d4d", "lw": 1.6, "ls": ":"}  # the forward law's threshold on a backward diagram


def _finite_label(quantity: str) -> str:
    if quantity == "bwd_diff":
        return "backward law's finite-depth threshold (theory)"
    return "finite-depth threshold for the simulated depths (theory)"


def _legend_handles(has_curve: bool, has_finite: bool, has_observed: bool, quantity: str = "diff",
                    has_forward: bool = False) -> list:
    handles = [Patch(facecolor="white", edgecolor="black", hatch="///",
                     label=f"exploded: median deviation > 10^{CAP:g} (colour saturated)"),
               Line2D([], [], color="black", marker="x", linestyle="none", label="non-finite samples")]
    if has_curve:
        handles.append(Line2D([], [], color="black", lw=2.0, label="asymptotic β_c (theory)"))
    if has_finite:
        handles.append(Line2D([], [], color="black", lw=1.6, linestyle="--", label=_finite_label(quantity)))
    if has_forward:
        handles.append(Line2D([], [], color=_FORWARD_STYLE["color"], lw=_FORWARD_STYLE["lw"],
                              linestyle=_FORWARD_STYLE["ls"], label="forward law's finite-depth threshold (theory)"))
    if has_observed:
        handles.append(Line2D([], [], color="#ffd400", marker="o", markeredgecolor="black",
                              linestyle="none", label="observed threshold, 95% CI"))
    return handles


def phase_figure(family: Family, cells: list[Row], thresholds: list[Row], quantity: str,
                 curve: Curve | None, forward: list[Row] | None = None) -> Figure | None:
    """Heatmaps of the median log10 `quantity` of one family; None when there is nothing to draw.
    `forward`: the family's diff threshold rows, whose finite-depth threshold is drawn dotted beside the
    backward law's on a bwd_diff diagram."""
    regs = sorted({rkey(r["regularity"]) for r in cells if r.get("regularity") is not None})
    if len(regs) < 2 and len({r["depth"] for r in cells}) < 2:
        return None
    th = _threshold_arrays(thresholds)
    ref = _threshold_arrays(forward) if forward else None
    if ref is not None and not np.isfinite(ref["finite_depth_beta_c"]).any():
        ref = None
    if len(regs) >= 2:
        return _phase_over_regularity(family, cells, th, quantity, curve, ref)
    return _phase_over_depth(family, cells, th, quantity, ref)


def _phase_over_regularity(family: Family, cells: list[Row], th: dict[str, np.ndarray], quantity: str,
                           curve: Curve | None, ref: dict[str, np.ndarray] | None = None) -> Figure:
    depths = sorted({int(r["depth"]) for r in cells})
    ncols = min(len(depths), 3)
    nrows = math.ceil(len(depths) / ncols)
    all_values = np.concatenate([grid_values([r for r in cells if r["depth"] == L], "regularity",
                                             quantity)[2].ravel() for L in depths])
    norm = _norm(all_values)
    init = family[2]
    depth_text = ", ".join(str(L) for L in depths)

    def draw(fig: FigureBase) -> None:
        axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
        mesh = None
        for ax, L in zip(axes, depths, strict=False):
            rows = [r for r in cells if r["depth"] == L]
            xc, yc, values, bad = grid_values(rows, "regularity", quantity)
            mesh = _heatmap(ax, edges(xc), edges(yc), xc, yc, values, bad, norm)
            if curve is not None:
                ax.plot(curve[0], curve[1], color="black", lw=2.0)
            if np.isfinite(th["finite_depth_beta_c"]).any():
                ax.plot(th["regularity"], th["finite_depth_beta_c"], color="black", lw=1.6, ls="--")
            if ref is not None:
                ax.plot(ref["regularity"], ref["finite_depth_beta_c"], **_FORWARD_STYLE)
            ok = np.isfinite(th["observed_beta_c"])
            if ok.any():
                lo = th["observed_beta_c"] - th["beta_c_lo"]
                hi = th["beta_c_hi"] - th["observed_beta_c"]
                ax.errorbar(th["regularity"][ok], th["observed_beta_c"][ok],
                            yerr=np.nan_to_num(np.vstack([lo[ok], hi[ok]]), nan=0.0),
                            fmt="o", color="#ffd400", mec="black", ecolor="black", capsize=3, ms=6)
            ax.set_title(f"L = {L}", fontsize=10)
        for ax in axes[len(depths):]:
            ax.set_visible(False)
        for idx, ax in enumerate(axes[:len(depths)]):
            if idx + ncols >= len(depths):  # nothing drawn below this panel
                ax.xaxis.set_tick_params(labelbottom=True)
        bottom_xlabel(list(axes[:len(depths)]), ncols, regularity_label(init))
        fig.supylabel(BETA_LABEL, fontsize=9)
        cbar = fig.colorbar(mesh, ax=list(axes[:len(depths)]), shrink=0.9)
        cbar.set_label(f"log10 median {QUANTITY_LABEL[quantity]} (decades)", fontsize=9)
        fig.suptitle(f"{family_label(family)}: median {QUANTITY_WORDS[quantity]}", fontsize=11)
        fig.legend(handles=_legend_handles(curve is not None, bool(np.isfinite(th["finite_depth_beta_c"]).any()),
                                           bool(np.isfinite(th["observed_beta_c"]).any()), quantity, ref is not None),
                   loc="outside lower center", ncols=3, fontsize=8, frameon=False)

    size = (10.5, 2.2 + 3.3 * nrows)
    caption = (
        f"Median log10 {QUANTITY_WORDS[quantity]} for {family_label(family)} over the regularity and β, "
        f"one panel per depth (L = {depth_text}). Blue: the network stays near the identity; white: the "
        f"deviation is as large as the input; red: it grows. Look for the colour change to follow the "
        f"solid asymptotic β_c line (theory) and, at these finite depths, the dashed finite-depth "
        f"threshold; yellow points are the thresholds observed from the fitted depth slopes, with 95% "
        f"intervals. Hatched cells exploded beyond 10^{CAP:g} (the colour saturates there); grey means "
        f"no cell was simulated.{_backward_caption(ref)}")
    return Figure(title=f"Phase diagram, {family_label(family)} ({quantity})", caption=caption, draw=draw,
                  size=size)


def _backward_caption(ref: dict[str, np.ndarray] | None) -> str:
    if ref is None:
        return ""
    return (" Here the dashed line is the backward law's finite-depth threshold (docs/theory.md §4.10) and the "
            "dotted one the forward law's: where they part, the gradient's deviation stops growing at a smaller "
            "β than the forward one.")


def _phase_over_depth(family: Family, cells: list[Row], th: dict[str, np.ndarray], quantity: str,
                      ref: dict[str, np.ndarray] | None = None) -> Figure:
    depths = sorted({int(r["depth"]) for r in cells})
    xc, yc, values, bad = grid_values(cells, "depth", quantity)
    norm = _norm(values)
    pos = list(range(len(xc)))  # depths as equally spaced columns, labelled by their value

    def draw(fig: FigureBase) -> None:
        ax = fig.subplots()
        mesh = _heatmap(ax, edges(pos), edges(yc), pos, yc, values, bad, norm)
        ax.set_xticks(pos, [str(int(x)) for x in xc])
        ax.set_xlabel("depth L (number of residual blocks; columns equally spaced)", fontsize=9)
        ax.set_ylabel(BETA_LABEL, fontsize=9)
        asym, fin, obs = (float(th[c][0]) if th[c].size else math.nan
                          for c in ("asymptotic_beta_c", "finite_depth_beta_c", "observed_beta_c"))
        if math.isfinite(asym):
            ax.axhline(asym, color="black", lw=2.0)
        if math.isfinite(fin):
            ax.axhline(fin, color="black", lw=1.6, ls="--")
        forward = float(ref["finite_depth_beta_c"][0]) if ref is not None else math.nan
        if math.isfinite(forward):
            ax.axhline(forward, **_FORWARD_STYLE)
        if math.isfinite(obs):  # a line across, and the point with its interval beside the last column
            lo, hi = float(th["beta_c_lo"][0]), float(th["beta_c_hi"][0])
            ax.axhline(obs, color="#ffd400", lw=1.6, ls="-.")
            yerr = [[obs - lo if math.isfinite(lo) else 0.0], [hi - obs if math.isfinite(hi) else 0.0]]
            ax.errorbar([pos[-1] + 0.38], [obs], yerr=yerr, fmt="o", color="#ffd400", mec="black",
                        ecolor="black", capsize=4, ms=7, zorder=6)
        cbar = fig.colorbar(mesh, ax=ax)
        cbar.set_label(f"log10 median {QUANTITY_LABEL[quantity]} (decades)", fontsize=9)
        ax.set_title(f"{family_label(family)}: median {QUANTITY_WORDS[quantity]}", fontsize=11)
        fig.legend(handles=_legend_handles(math.isfinite(asym), math.isfinite(fin), math.isfinite(obs), quantity,
                                           math.isfinite(forward)),
                   loc="outside lower center", ncols=3, fontsize=8, frameon=False)

    caption = (
        f"Median log10 {QUANTITY_WORDS[quantity]} for {family_label(family)} over depth (columns) and β "
        f"(rows). Below the critical β the deviation grows with depth (red, darker to the right); above "
        f"it, it shrinks (blue, darker to the right); at β_c it stays of order one. Solid line: "
        f"asymptotic β_c; dashed: the finite-depth threshold for depths {', '.join(map(str, depths))} "
        f"(hidden under the solid line where they coincide); yellow dash-dotted line and point at the right "
        f"edge: the observed threshold with its 95% interval. Hatched cells exploded beyond 10^{CAP:g}."
        f"{_backward_caption(ref)}")
    return Figure(title=f"Phase diagram, {family_label(family)} ({quantity})", caption=caption, draw=draw,
                  size=(8.5, 5.6))


def verdict_map(family: Family, regimes: list[Row], curve: Curve | None) -> Figure | None:
    """Verdicts of regimes.csv (diff and bwd_diff) over regularity and beta; None without rows."""
    if not regimes:
        return None
    quantities = [q for q in ("diff", "bwd_diff") if any(r["quantity"] == q for r in regimes)]
    names = ["agree", "disagree", "inconclusive", "outside validity", "not covered"]
    cmap = ListedColormap([VERDICT_COLOURS[n] for n in names])
    regs = sorted({rkey(r["regularity"]) for r in regimes if r.get("regularity") is not None})
    betas = sorted({rkey(r["beta"]) for r in regimes})
    over_reg = len(regs) >= 2
    xcats = regs if over_reg else quantities

    def code_grid(rows: list[Row]) -> np.ndarray:
        grid = np.full((len(betas), len(xcats)), np.nan)
        for r in rows:
            x = rkey(r["regularity"]) if over_reg else r["quantity"]
            if x not in xcats:
                continue
            v = r["verdict"] if r["verdict"] in names else "not covered"
            grid[betas.index(rkey(r["beta"])), xcats.index(x)] = names.index(v)
        return grid

    def draw(fig: FigureBase) -> None:
        panels = quantities if over_reg else ["all"]
        axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True, squeeze=False)).ravel()
        for ax, q in zip(axes, panels, strict=True):
            rows = [r for r in regimes if r["quantity"] == q] if over_reg else regimes
            grid = code_grid(rows)
            ax.set_facecolor("#ffffff")
            if over_reg:
                xe = edges(regs)
                ax.pcolormesh(xe, edges(betas), np.ma.masked_invalid(grid), cmap=cmap, vmin=-0.5,
                              vmax=len(names) - 0.5, edgecolors="white", linewidth=0.3)
                if curve is not None:
                    ax.plot(curve[0], curve[1], color="black", lw=2.0)
                ax.set_xlim(xe[0], xe[-1])
                ax.set_xlabel(regularity_label(family[2]), fontsize=9)
                ax.set_title(f"{QUANTITY_WORDS[q].split(' (')[0]}", fontsize=10)
            else:
                pos = list(range(len(xcats)))
                ax.pcolormesh(edges(pos), edges(betas), np.ma.masked_invalid(grid), cmap=cmap, vmin=-0.5,
                              vmax=len(names) - 0.5, edgecolors="white", linewidth=0.5)
                ax.set_xticks(pos, [QUANTITY_WORDS[q].split(" ‖")[0] for q in xcats])
                ax.set_xlabel("quantity (dimensionless ratios)", fontsize=9)
                ax.set_title("regime verdicts per β", fontsize=10)
            ax.set_ylim(edges(betas)[0], edges(betas)[-1])
        axes[0].set_ylabel(BETA_LABEL, fontsize=9)
        handles = [Patch(color=VERDICT_COLOURS[n], label=n) for n in names]
        if over_reg and curve is not None:
            handles.append(Line2D([], [], color="black", lw=2.0, label="asymptotic β_c (theory)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8,
                   frameon=False)
        fig.suptitle(f"{family_label(family)}: observed regime against theory, per (regularity, β)",
                     fontsize=11)

    caption = (
        f"Each rectangle is one (regularity, β) point of {family_label(family)}; its colour is the "
        f"regimes.csv verdict: the regime observed from the log–log depth slope of the median deviation "
        f"against the regime theory predicts. Red rectangles are disagreements; look at where they sit "
        f"relative to the critical line (near it, finite-depth bias is the usual cause).")
    width = 10.0 if over_reg else 6.5
    return Figure(title=f"Verdict map, {family_label(family)}", caption=caption, draw=draw,
                  size=(width, 4.8))
