"""Steppers side by side: a layer as one Euler, Heun or RK4 step of size alpha_L.

For each family that the run simulated with more than one stepper (or with the antisym block),
the fitted depth slope of the median deviation against beta, one line per stepper, with each
stepper's predicted threshold; and a table of observed against predicted thresholds. A pure
function of regimes.csv and thresholds.csv.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import FigureBase
from matplotlib.lines import Line2D

from reports.document import Figure, Formula, Paragraph, Section, Table
from reports.plotting import QUANTITY_LABEL, fmt, fmt_ci, pick_evenly
from reports.rundata import Family, Row, RunData, family_label, family_of, regularity_name, rkey

STEPPER_ORDER = ("euler", "heun", "rk4")
STEPPER_COLOURS = {"euler": "#1f77b4", "heun": "#ff7f0e", "rk4": "#2ca02c"}
STABILITY = {
    "euler": (r"R(z) = 1 + z", "R(z) = 1 + z", r"|R(iy)|^2 = 1 + y^2"),
    "heun": (r"R(z) = 1 + z + z^2/2", "R(z) = 1 + z + z²/2", r"|R(iy)|^2 = 1 + y^4/4"),
    "rk4": (r"R(z) = 1 + z + z^2/2 + z^3/6 + z^4/24", "R(z) = 1 + z + z²/2 + z³/6 + z⁴/24",
            r"|R(iy)|^2 = 1 - y^6/72 + y^8/576"),
}
MAX_PANELS = 6
# Exploding cells have depth slopes in the tens: the axis stops here and marks them on its edge.
TOP_SLOPE = 2.5

Base = tuple  # a family without its stepper: (block, activation, init, dist, width, damping)


def _base(family: Family) -> Base:
    block, activation, init, dist, width, _stepper, damping = family
    return block, activation, init, dist, width, damping


def _base_label(base: Base) -> str:
    block, activation, init, dist, width, damping = base
    return family_label((block, activation, init, dist, width, "euler", damping))


def compared_bases(data: RunData) -> dict[Base, list[str]]:
    """Families (without the stepper) that have a non-Euler stepper or the antisym block, with
    the steppers simulated for each, in Euler, Heun, RK4 order."""
    found: dict[Base, set[str]] = {}
    for fam in data.families():
        found.setdefault(_base(fam), set()).add(fam[5])
    return {b: [s for s in STEPPER_ORDER if s in st] for b, st in found.items()
            if st != {"euler"} or b[0] == "antisym"}


def slope_figure(base: Base, steppers: list[str], regimes: list[Row], quantity: str) -> Figure | None:
    """Fitted depth slope against beta, one line per stepper, one panel per regularity value."""
    rows = [r for r in regimes if _base(family_of(r)) == base and r["quantity"] == quantity
            and r.get("slope") is not None]
    if not rows:
        return None
    regs = pick_evenly(sorted({rkey(r.get("regularity")) for r in rows}, key=lambda v: (v is None, v or 0.0)),
                       MAX_PANELS)
    ncols = min(len(regs), 3)
    nrows = math.ceil(len(regs) / ncols)
    name = regularity_name(base[2])

    def draw(fig: FigureBase) -> None:
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, reg in zip(axes, regs, strict=False):
            for stepper in steppers:
                pts = sorted((r for r in rows if r.get("stepper", "euler") == stepper
                              and rkey(r.get("regularity")) == reg), key=lambda r: r["beta"])
                if not pts:
                    continue
                colour = STEPPER_COLOURS[stepper]
                betas = np.array([r["beta"] for r in pts], dtype=float)
                slope = np.array([r["slope"] for r in pts], dtype=float)
                lo = np.array([r.get("slope_lo") if r.get("slope_lo") is not None else np.nan for r in pts])
                hi = np.array([r.get("slope_hi") if r.get("slope_hi") is not None else np.nan for r in pts])
                ax.plot(betas, np.minimum(slope, TOP_SLOPE), "o-", color=colour, ms=3.5, lw=1.4)
                ax.fill_between(betas, np.minimum(lo.astype(float), TOP_SLOPE), np.minimum(hi.astype(float), TOP_SLOPE),
                                color=colour, alpha=0.15, lw=0)
                off = slope > TOP_SLOPE
                if off.any():
                    ax.plot(betas[off], np.full(off.sum(), TOP_SLOPE), "^", color=colour, ms=7, mec="black",
                            mew=0.5, clip_on=False, zorder=5)
                predicted = {r.get("predicted_beta_c") for r in pts if r.get("predicted_beta_c") is not None}
                for beta_c in predicted:
                    if math.isfinite(beta_c):
                        ax.axvline(beta_c, color=colour, ls="--", lw=1.1)
            ax.axhline(0.0, color="grey", lw=0.7)
            ax.set_ylim(top=TOP_SLOPE + 0.2)
            ax.set_xlabel(r"$\beta$ (dimensionless)", fontsize=9)
            ax.set_title(_base_label(base) if reg is None else f"{name} = {reg:g}", fontsize=10)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel(f"depth slope of log median {QUANTITY_LABEL[quantity]}", fontsize=9)
        for ax in axes[len(regs):]:
            ax.set_visible(False)
        handles = [Line2D([], [], color=STEPPER_COLOURS[s], marker="o", ms=4, label=f"{s}: fitted slope, 95% CI")
                   for s in steppers]
        handles += [Line2D([], [], color="black", ls="--", label="predicted threshold (stepper's colour)")]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
        fig.suptitle(f"{_base_label(base)}: depth slope against β by stepper", fontsize=11)

    caption = (
        f"Fitted log–log slope of the median {QUANTITY_LABEL[quantity]} against depth, as a function of β, "
        f"for {_base_label(base)}, one line per stepper (shaded: 95% interval of the slope). A positive "
        f"slope is explosion, zero non-trivial, negative a collapse to the identity; dashed verticals are "
        f"each stepper's predicted threshold where theory gives one. Look for where each line crosses zero "
        f"and whether the crossing moves with the stepper. Slopes above {TOP_SLOPE:g} (explosion) are marked "
        f"▲ on the top edge. A stepper that is stable on imaginary "
        f"eigenvalues (RK4) cannot make the norm explode, so its deviation saturates instead of growing.")
    return Figure(title=f"Steppers, {_base_label(base)} ({quantity})", caption=caption, draw=draw,
                  size=(10.5, 2.4 + 3.0 * nrows))


def threshold_table(data: RunData, bases: dict[Base, list[str]], quantity: str) -> Table:
    """Observed against predicted thresholds, one row per (family, regularity, stepper)."""
    rows = []
    order = {s: i for i, s in enumerate(STEPPER_ORDER)}
    chosen = [r for r in data.thresholds if r["quantity"] == quantity and _base(family_of(r)) in bases]
    chosen.sort(key=lambda r: (list(bases).index(_base(family_of(r))), rkey(r.get("regularity")) or 0.0,
                               order.get(family_of(r)[5], 9)))
    for r in chosen:
        fam = family_of(r)
        basis = str(r.get("verdict_basis") or "")
        edge = "none" if basis == "no explosion predicted" else fmt(r.get("explosion_beta"))
        rows.append([_base_label(_base(fam)), fmt(r.get("regularity")), fam[5],
                     fmt_ci(r.get("observed_beta_c"), r.get("beta_c_lo"), r.get("beta_c_hi")),
                     edge, fmt(r.get("asymptotic_beta_c")), fmt(r.get("finite_depth_beta_c")),
                     str(r.get("verdict") or "inconclusive"), basis or "—"])
    return Table(columns=["Family", "Regularity", "Stepper", "Observed crossing [95% CI]", "Explosion edge β_e",
                          "Predicted β_c", "Finite-depth β_c", "Verdict", "Judged against"],
                 rows=rows, title=f"Thresholds by stepper ({QUANTITY_LABEL[quantity]})", verdict_column="Verdict",
                 widths=[0.2, 0.07, 0.06, 0.17, 0.08, 0.08, 0.08, 0.1, 0.16])


def steppers_section(data: RunData) -> Section | None:
    """The section, or None when the run simulated Euler res blocks only."""
    bases = compared_bases(data)
    if not bases:
        return None
    s = Section("Steppers: layers as ODE steps")
    s.blocks.append(Paragraph(
        "A residual layer h_{k+1} = h_k + α_L f_k(h_k) is one forward-Euler step of size α_L = L^−β. Heun "
        "and RK4 steps of the same size (stages at layer time k + c on weights interpolated between layers "
        "k and k + 1) have the stability polynomials below: on a linear field with eigenvalue λ one step "
        "multiplies by R(α_L λ). On imaginary λ = iμ (the antisym block) Euler and Heun grow, like "
        "L·(α_L μ)² and L·(α_L μ)⁴ over L steps, while RK4 is stable for |α_L μ| ≤ 2√2. With shared "
        "weights this gives a band: the norm explodes below an edge β_e (½ for Euler, ¼ for Heun, none for "
        "RK4) while the deviation, a rotation through the total time L^(1−β), stays of order one up to "
        "β_c = 1. The slope's first crossing of zero then marks β_e and is judged against it; where nothing "
        "explodes the crossing marks no boundary, and the per-β regime verdicts test β_c instead."))
    for stepper in STEPPER_ORDER:
        latex, plain, modulus = STABILITY[stepper]
        s.blocks.append(Formula(latex=f"{latex},\\quad {modulus}", plain=f"{plain};  {modulus}", label=stepper))
    for quantity in ("diff", "bwd_diff"):
        if any(r["quantity"] == quantity for r in data.thresholds):
            s.blocks.append(threshold_table(data, bases, quantity))
    for base, steppers in bases.items():
        fig = slope_figure(base, steppers, data.regimes, "diff")
        if fig is not None:
            s.blocks.append(fig)
    return s
