"""Shared plotting vocabulary: labels with units, colours of verdicts, grid edges, value tables.

Everything here is a pure function of stored tables. matplotlib is used through `Figure` objects
only (Agg canvas, no pyplot state), so building a report never opens a window or leaks figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from reports.rundata import Row, rkey  # noqa: E402

LN10 = math.log(10.0)
# A median deviation above 10**CAP times ||h_0|| saturates the colour scale; such cells are hatched
# and labelled "exploded" instead of being clipped silently.
CAP = 2.0
# 95% interval of a sample median from n normal draws: 1.96 * sqrt(pi/2) * sd / sqrt(n).
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2.0)

VERDICT_COLOURS = {
    "agree": "#2e8b57",
    "disagree": "#d1342f",
    "inconclusive": "#e0a526",
    "not covered": "#b8b8b8",
    "not measured": "#b8b8b8",
    "outside validity": "#8da9c4",  # theory's finite-depth law does not hold there (docs/theory.md §4.10)
}

QUANTITY_LABEL = {
    "diff": r"$\|h_L-h_0\|\,/\,\|h_0\|$",
    "bwd_diff": r"$\|p_0-p_L\|\,/\,\|p_L\|$",
    "fwd": r"$\|h_L\|\,/\,\|h_0\|$",
    "bwd": r"$\|p_0\|\,/\,\|p_L\|$",
}
QUANTITY_WORDS = {
    "diff": "forward deviation ‖h_L − h_0‖/‖h_0‖",
    "bwd_diff": "backward deviation ‖p_0 − p_L‖/‖p_L‖ (p_k = ∂ℓ/∂h_k)",
    "fwd": "forward norm ratio ‖h_L‖/‖h_0‖",
    "bwd": "gradient norm ratio ‖p_0‖/‖p_L‖",
}
BETA_LABEL = r"$\beta$  (residual scale $\alpha_L = L^{-\beta}$; dimensionless)"
DEPTH_LABEL = "depth L (number of residual blocks, log scale)"


def regularity_label(init: str) -> str:
    """Axis label of the regularity parameter of an init family, with its unit."""
    return {
        "fgn": "Hurst index H of the fGn weights (dimensionless)",
        "fbm": "Hurst index H of the fBm weights (dimensionless)",
        "smooth": r"length-scale $\ell$ of the smooth kernel (units of layer time $t=k/L$)",
    }.get(init, "")


def edges(values: Iterable[float]) -> np.ndarray:
    """Cell edges for a pcolormesh over sorted distinct `values` (midpoints, half steps at ends)."""
    v = np.array(sorted(set(values)), dtype=float)
    if len(v) == 1:
        half = 0.5 * abs(v[0]) if v[0] != 0 else 0.5
        return np.array([v[0] - half, v[0] + half])
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


def log10_median(row: Row, quantity: str) -> float:
    """log10 of the median of a quantity from a cells.csv row (median of ln, divided by ln 10)."""
    value = row.get(f"{quantity}_median")
    return math.nan if value is None else float(value) / LN10


def median_halfwidth(row: Row, quantity: str) -> float:
    """Approximate 95% half-width of the log10 median (normal approximation for ln values)."""
    sd, n = row.get(f"{quantity}_std"), row.get(f"{quantity}_n") or row.get("samples")
    if sd is None or not n:
        return math.nan
    return 1.96 * MEDIAN_SE_FACTOR * float(sd) / math.sqrt(float(n)) / LN10


def grid_values(rows: list[Row], x_field: str, quantity: str) -> tuple[list, list, np.ndarray, np.ndarray]:
    """(xs, betas, values, nonfinite) as 2-D arrays indexed [beta, x]; NaN where there is no cell.

    `x_field` is 'regularity' or 'depth'. Values are log10 medians of `quantity`.
    """
    xs = sorted({rkey(r[x_field]) for r in rows if r.get(x_field) is not None})
    betas = sorted({rkey(r["beta"]) for r in rows})
    values = np.full((len(betas), len(xs)), np.nan)
    bad = np.zeros((len(betas), len(xs)), dtype=int)
    for r in rows:
        if r.get(x_field) is None:
            continue
        i, j = betas.index(rkey(r["beta"])), xs.index(rkey(r[x_field]))
        values[i, j] = log10_median(r, quantity)
        bad[i, j] = int(r.get(f"{quantity}_nonfinite") or 0)
    return xs, betas, values, bad


def wrap(text: str, width: int) -> str:
    """Wrap plain text to lines of at most `width` characters (keeps existing line breaks)."""
    import textwrap

    return "\n".join(textwrap.fill(p, width) if p else "" for p in text.split("\n"))


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for tables: '—' for missing, '∞' for infinity, else `digits` significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}g}".replace("-", "−")


def fmt_ci(value: float | None, lo: float | None, hi: float | None, digits: int = 3) -> str:
    """'value [lo, hi]' with missing parts shown as '—'."""
    if value is None and lo is None and hi is None:
        return "—"
    return f"{fmt(value, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def pick_evenly(values: list, most: int) -> list:
    """At most `most` values, evenly spread over the list and including both ends."""
    if len(values) <= most:
        return list(values)
    idx = np.unique(np.round(np.linspace(0, len(values) - 1, most)).astype(int))
    return [values[i] for i in idx]


def bottom_xlabel(axes: list, ncols: int, text: str) -> None:
    """Label the x axis once under a grid of panels (a figure-level label would collide with the
    legend below it): under every bottom panel for one or two columns, else under the middle one."""
    n = len(axes)
    bottom = [ax for i, ax in enumerate(axes) if i + ncols >= n]
    if ncols <= 2:
        for ax in bottom:
            ax.set_xlabel(text, fontsize=9)
    else:
        bottom[len(bottom) // 2].set_xlabel(text, fontsize=9)
