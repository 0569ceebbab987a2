"""Figures of the exact-law checks (section 4): Monte Carlo means against closed forms, and the
log-normal law at criticality. Pure functions of the evidence computed in `reports.evidence`."""

from __future__ import annotations

import math

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, ListedColormap, Normalize
from matplotlib.figure import FigureBase
from matplotlib.lines import Line2D
from scipy import stats

from reports.document import Figure
from reports.evidence import LawEvidence, MomentEvidence, cell_where
from reports.plotting import DEPTH_LABEL, bottom_xlabel, pick_evenly
from reports.rundata import Family, family_label, rkey

MAX_HISTOGRAMS = 6


def _truncated(cmap: Colormap) -> Colormap:
    """The part of `cmap` the points use (0 to 0.85: the palest yellow is illegible on white)."""
    return ListedColormap(cmap(np.linspace(0.0, 0.85, 256)))


def moment_figure(family: Family, evidence: list[MomentEvidence],
                  curves: dict[tuple[float, int], tuple[np.ndarray, np.ndarray]]) -> Figure | None:
    """MC mean of ||h_L||^2/||h_0||^2 with 95% CI against theory, per beta and width, over depth.

    `curves[(beta, width)]` holds theory's value at intermediate depths (for the solid lines), over
    the depths where that beta's mean is well estimated.
    """
    usable = [e for e in evidence if e.fwd.well_estimated]
    if not usable:
        return None
    keys = sorted({(rkey(e.cell.beta), e.cell.width) for e in usable})
    betas = sorted({k[0] for k in keys})
    bnorm = Normalize(vmin=min(betas), vmax=max(betas) if max(betas) > min(betas) else min(betas) + 1)
    cmap = colormaps["plasma"]
    markers = "osD^v<>"
    widths = sorted({k[1] for k in keys})
    depths = sorted({e.cell.depth for e in usable})

    regs = sorted({e.cell.regularity for e in usable if e.cell.regularity is not None})
    where = f" ({'H' if family[2] in ('fgn', 'fbm') else 'ℓ'} = {', '.join(f'{r:g}' for r in regs)})" if regs else ""
    use_colorbar = len(widths) == 1 and len(betas) > 4

    def draw(fig: FigureBase) -> None:
        left, right = fig.subplots(1, 2)
        for beta, width in keys:
            pts = sorted((e for e in usable if rkey(e.cell.beta) == beta and e.cell.width == width),
                         key=lambda e: e.cell.depth)
            colour = cmap(0.85 * bnorm(beta))
            marker = markers[widths.index(width) % len(markers)]
            ls = np.array([e.cell.depth for e in pts], dtype=float)
            mean = np.array([e.fwd.mean for e in pts])
            se = np.array([e.fwd.se for e in pts])
            pred = np.array([e.fwd.predicted for e in pts])
            label = f"β = {beta:g}" + (f", d = {width}" if len(widths) > 1 else "")
            right.errorbar(ls, np.log10(mean), yerr=1.96 * se / mean / math.log(10), fmt=marker,
                           color=colour, ms=5, capsize=3, label=label)
            curve = curves.get((beta, width))
            if curve is not None:
                right.plot(curve[0], np.log10(curve[1]), color=colour, lw=1.3)
                right.plot(ls, np.log10(pred), "_", color=colour, ms=14, mew=1.5)
            left.errorbar(ls, mean / pred, yerr=1.96 * se / pred, fmt=marker + "-", color=colour, ms=5,
                          capsize=3, lw=1.0, label=label)
        left.axhline(1.0, color="black", lw=1.2)
        left.set_ylabel("Monte Carlo mean / exact value (ratio; 1 = agreement)", fontsize=9)
        left.set_title("ratio to the exact second moment", fontsize=10)
        right.set_ylabel(r"log10 E$\|h_L\|^2/\|h_0\|^2$ (decades)", fontsize=9)
        right.set_title(r"MC mean (points) and exact $(1+c_\sigma\alpha_L^2)^L$ (lines)", fontsize=10)
        for ax in (left, right):
            ax.set_xscale("log")
            ax.set_xticks(depths, [str(L) for L in depths])
            ax.minorticks_off()
            ax.set_xlabel(DEPTH_LABEL, fontsize=9)
            ax.grid(alpha=0.3)
        if use_colorbar:
            cbar = fig.colorbar(ScalarMappable(norm=bnorm, cmap=_truncated(cmap)), ax=[left, right], shrink=0.9)
            cbar.set_label(r"$\beta$ (dimensionless)", fontsize=9)
        else:
            left.legend(fontsize=8, ncols=2 if len(keys) > 4 else 1)
        fig.suptitle(f"{family_label(family)}{where}: exact second moment (docs/theory.md §4.2)", fontsize=11)

    caption = (
        f"Monte Carlo mean of ‖h_L‖²/‖h_0‖² = exp(2·fwd) over independent networks with its 95% interval "
        f"(points), against the exact identity E‖h_L‖²/‖h_0‖² = (1 + c_σ α_L²)^L (lines), for "
        f"{family_label(family)}. Left: the ratio, which must straddle 1 within its error bars. Only cells "
        f"where the mean is well estimated are drawn (see the text: skewness of the mean ≤ 0.5); heavier-tailed "
        f"cells are judged on log-statistics instead.")
    return Figure(title=f"Exact second moment, {family_label(family)}{where}", caption=caption, draw=draw,
                  size=(10.5, 4.8))


def lognormal_figure(evidence: list[LawEvidence]) -> tuple[Figure | None, str]:
    """Histograms of 2 fwd at beta = 1/2 against the predicted normal density; and a selection note."""
    if not evidence:
        return None, ""
    shown = pick_evenly(evidence, MAX_HISTOGRAMS)
    note = "" if len(shown) == len(evidence) else (
        f"Histograms shown for {len(shown)} of {len(evidence)} critical cells; all are in the table below.")
    ncols = min(len(shown), 3)
    nrows = math.ceil(len(shown) / ncols)

    def draw(fig: FigureBase) -> None:
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, ev in zip(axes, shown, strict=False):
            chk = ev.check
            x = ev.samples[np.isfinite(ev.samples)]
            bins = max(8, min(40, int(round(2 * len(x) ** (1 / 3)))))
            ax.hist(x, bins=bins, density=True, color="#8fb3d9", edgecolor="white", label="simulated")
            sd = math.sqrt(chk.predicted_var)
            lo = min(x.min(), chk.predicted_mean - 4 * sd)
            hi = max(x.max(), chk.predicted_mean + 4 * sd)
            grid = np.linspace(lo, hi, 300)
            ax.plot(grid, stats.norm.pdf(grid, chk.predicted_mean, sd), color="#c0392b", lw=2.0,
                    label="predicted normal")
            ax.axvline(chk.mean, color="#1f3b73", lw=1.2, ls="--", label="sample mean")
            ax.set_title(f"{cell_where(ev.cell)}, L = {ev.cell.depth}", fontsize=9)
            text = (f"n = {chk.n}\nmean {chk.mean:.3f} ± {1.96 * chk.mean_se:.3f} (pred {chk.predicted_mean:.3f})"
                    f"\nvar {chk.var:.3f} ± {1.96 * chk.var_se:.3f} (pred {chk.predicted_var:.3f})"
                    f"\nKS p = {chk.ks_pvalue:.2g}")
            ax.text(0.02, 0.97, text, transform=ax.transAxes, va="top", ha="left", fontsize=7,
                    bbox=dict(facecolor="white", alpha=0.85, edgecolor="#cccccc"))
            ax.set_ylim(top=ax.get_ylim()[1] * 1.45)  # room for the text box above the bars
        bottom_xlabel(list(axes[:len(shown)]), ncols, r"$\log(\|h_L\|^2/\|h_0\|^2)$ (nats)")
        fig.supylabel("probability density (per nat)", fontsize=9)
        for ax in axes[len(shown):]:
            ax.set_visible(False)
        handles = [Line2D([], [], color="#8fb3d9", lw=8, label="simulated (histogram)"),
                   Line2D([], [], color="#c0392b", lw=2, label="predicted Normal(c_σ τ(1−2/d), 4 c_σ τ/d)"),
                   Line2D([], [], color="#1f3b73", ls="--", label="sample mean")]
        fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
        fig.suptitle("The critical law at β = ½ (docs/theory.md §4.3)", fontsize=11)

    caption = (
        "Histogram of log(‖h_L‖²/‖h_0‖²) = 2·fwd over independent networks at β = ½, against the normal "
        "density theory predicts (mean c_σ τ (1 − 2/d), variance 4 c_σ τ/d, τ = L^(1−2β) = 1). Look for the "
        "bars to follow the red curve; the box gives the sample mean and variance with 95% intervals, "
        "the predicted values, and the Kolmogorov–Smirnov p-value against the predicted (not fitted) law.")
    return Figure(title="Critical law at β = ½", caption=caption, draw=draw,
                  size=(10.5, 2.0 + 3.3 * nrows)), note
