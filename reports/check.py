"""The depth-check section: a user's own residual network (`python -m sim.check`), read from the
check's tables (check.csv, check_regimes.csv, check_thresholds.csv, check_correlation.csv) and its
record (check.json). Reads stored results only and never simulates.

One sentence says what the network does as built, which scaling L^-beta of its branches makes it
non-trivial and whether theory agrees; one figure shows the median deviation against depth (one
line per beta, theory's slopes dashed), the fitted depth slope against beta with the observed and
predicted thresholds, and the correlation of the blocks' weights along depth.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import FigureBase
from matplotlib.lines import Line2D

from reports.document import Document, Figure, Formula, Note, Paragraph, Section, Table
from reports.plotting import BETA_LABEL, DEPTH_LABEL, MEDIAN_SE_FACTOR, fmt, fmt_ci
from reports.rundata import RunDirectoryError

TITLE = "Depth check of a user's network"
FILES = {"samples": "check.csv", "regimes": "check_regimes.csv", "thresholds": "check_thresholds.csv",
         "correlation": "check_correlation.csv"}
RECORD = "check.json"
# Half-width of the band of slopes counted as depth-independent (sim.grid.regimes.DELTA, recorded in
# check.json under decision_rules; this is the value when the record lacks it).
DELTA = 0.05
Z95 = 1.959963984540054

STREAM = Formula(
    latex=r"$h_{k+1}=h_k+L^{-\beta}\,\left(f_k(h_k)-h_k\right),\quad k=0,\dots,L-1$",
    plain="h_{k+1} = h_k + L^−β (f_k(h_k) − h_k), k = 0 … L−1",
    label="f_k: the user's block k, skip connection included; β = 0 is the model as built")


@dataclass
class CheckData:
    """A check directory's tables and record."""

    samples: pd.DataFrame
    regimes: pd.DataFrame
    thresholds: pd.DataFrame
    correlation: pd.DataFrame
    record: dict[str, Any]

    @property
    def delta(self) -> float:
        return float((self.record.get("decision_rules") or {}).get("delta", DELTA))


def has_check(run_dir: Path) -> bool:
    """Whether the directory holds the depth check's tables."""
    return (Path(run_dir) / FILES["samples"]).is_file() and (Path(run_dir) / FILES["thresholds"]).is_file()


def read_check(run_dir: Path) -> CheckData:
    """The check's tables; RunDirectoryError when one is missing or lacks its columns."""
    run_dir = Path(run_dir)
    frames = {}
    needed = {"samples": {"depth", "beta", "sample", "diff", "bwd_diff"},
              "regimes": {"beta", "quantity", "slope", "slope_lo", "slope_hi", "observed_regime"},
              "thresholds": {"quantity", "observed_beta_c", "beta_c_lo", "beta_c_hi", "verdict"},
              "correlation": {"depth", "parameter", "lag", "rho", "rho_se"}}
    for key, name in FILES.items():
        path = run_dir / name
        if not path.is_file():
            raise RunDirectoryError(f"{str(run_dir)!r} is not a finished depth check: {name} is missing")
        frame = pd.read_csv(path)
        lacking = sorted(needed[key] - set(frame.columns))
        if lacking:
            raise RunDirectoryError(f"{path} lacks the columns {', '.join(lacking)}")
        frames[key] = frame
    record_path = run_dir / RECORD
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    return CheckData(frames["samples"], frames["regimes"], frames["thresholds"], frames["correlation"], record)


def _value(v: Any) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _threshold(data: CheckData, quantity: str = "diff") -> dict[str, Any]:
    rows = data.thresholds[data.thresholds["quantity"] == quantity]
    return {} if rows.empty else rows.iloc[0].to_dict()


def _medians(data: CheckData, quantity: str) -> pd.DataFrame:
    """Per (beta, depth): the median of the log, its 95% half-width and the count of finite values."""
    def stats(x: pd.Series) -> pd.Series:
        v = x.to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if len(v) < 2:
            return pd.Series({"median": math.nan, "half": math.nan, "n": len(v)})
        return pd.Series({"median": float(np.median(v)),
                          "half": Z95 * MEDIAN_SE_FACTOR * float(v.std(ddof=1)) / math.sqrt(len(v)), "n": len(v)})

    return data.samples.groupby(["beta", "depth"])[quantity].apply(stats).unstack().reset_index()


# ---------------------------------------------------------------------- the figure
def _deviation_panel(ax: Any, data: CheckData, quantity: str) -> None:
    med = _medians(data, quantity)
    betas = sorted(med["beta"].unique())
    cmap, norm = colormaps["viridis"], Normalize(min(betas), max(betas) if max(betas) > min(betas) else 1)
    regimes = data.regimes[data.regimes["quantity"] == quantity].set_index("beta")
    for beta in betas:
        rows = med[med["beta"] == beta].sort_values("depth")
        x = rows["depth"].to_numpy(dtype=float)
        y = rows["median"].to_numpy(dtype=float)
        half = rows["half"].to_numpy(dtype=float)
        colour = "black" if beta == 0 else cmap(norm(beta))
        ax.errorbar(x, np.exp(y), yerr=[np.exp(y) - np.exp(y - half), np.exp(y + half) - np.exp(y)],
                    color=colour, marker="o", markersize=3, linewidth=2.0 if beta == 0 else 1.0, capsize=2)
        slope = None
        if beta in regimes.index:
            row = regimes.loc[beta]
            slope = _value(row.get("finite_depth_slope"))
            if _value(row.get("predicted_slope")) is None:
                slope = None  # theory predicts explosion here: no slope to draw
        ok = np.isfinite(y)
        if slope is not None and ok.sum() >= 2:
            lx = np.log(x[ok])
            centre_x, centre_y = lx.mean(), y[ok].mean()
            ax.plot(x[ok], np.exp(centre_y + slope * (lx - centre_x)), color=colour, linestyle="--", linewidth=1.0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(DEPTH_LABEL, fontsize=8)
    ax.set_ylabel("median " + ("‖h_L − h_0‖/‖h_0‖" if quantity == "diff" else "‖p_0 − p_L‖/‖p_L‖"), fontsize=9)
    ax.set_title("(a) deviation against depth, one line per β", fontsize=10)
    sm = colormaps["viridis"]
    handles = [Line2D([], [], color="black", marker="o", linewidth=2, label="β = 0 (as built)"),
               Line2D([], [], color=sm(0.6), marker="o", label="β > 0 (colour: β)"),
               Line2D([], [], color="grey", linestyle="--", label="theory's slope (β ≥ predicted β_c)")]
    ax.legend(handles=handles, fontsize=7, loc="best")


def _slope_panel(ax: Any, data: CheckData, quantity: str) -> None:
    rows = data.regimes[data.regimes["quantity"] == quantity].sort_values("beta")
    b = rows["beta"].to_numpy(dtype=float)
    s = rows["slope"].to_numpy(dtype=float)
    lo = rows["slope_lo"].to_numpy(dtype=float)
    hi = rows["slope_hi"].to_numpy(dtype=float)
    ax.axhspan(-data.delta, data.delta, color="#d7f0df", zorder=0, label=f"|slope| ≤ δ = {data.delta:g}")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.errorbar(b, s, yerr=[s - lo, hi - s], color="#1f4e79", marker="o", markersize=3, capsize=2,
                linestyle="-", linewidth=1.0, label="fitted slope, 95% interval")
    t = _threshold(data, quantity)
    beta_c, c_lo, c_hi = (_value(t.get(k)) for k in ("observed_beta_c", "beta_c_lo", "beta_c_hi"))
    if beta_c is not None:
        ax.axvline(beta_c, color="#1f4e79", linewidth=1.2, label=f"observed β_c = {beta_c:.2f}")
        if c_lo is not None and c_hi is not None:
            ax.axvspan(c_lo, c_hi, color="#1f4e79", alpha=0.12)
    predicted = _value(t.get("finite_depth_beta_c"))
    if predicted is None:
        predicted = _value(t.get("predicted_beta_c"))
    if predicted is not None:
        grid = np.linspace(max(predicted, b.min()), b.max(), 50)
        ax.plot(grid, predicted - grid, color="#d1342f", linestyle="--", linewidth=1.0,
                label=f"theory: slope β_c − β, β_c = {predicted:.2f}")
        ax.axvline(predicted, color="#d1342f", linestyle="--", linewidth=0.8)
    finite = np.isfinite(s)
    if finite.any():
        top = max(1.0, float(np.nanmin([np.nanmax(hi[finite]), 3.0])))
        ax.set_ylim(min(-1.0, float(np.nanmin(lo[finite])) - 0.1), top)
    ax.set_xlabel(BETA_LABEL, fontsize=8)
    ax.set_ylabel("depth slope of the median (log–log)", fontsize=9)
    ax.set_title("(b) depth slope against β", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")


def _correlation_panel(ax: Any, data: CheckData) -> None:
    rows = data.correlation[data.correlation["parameter"] == "all"]
    depths = sorted(rows["depth"].unique())
    cmap = colormaps["plasma"]
    for i, depth in enumerate(depths):
        r = rows[rows["depth"] == depth].sort_values("lag")
        se = r["rho_se"].fillna(0).to_numpy(dtype=float)
        ax.errorbar(r["lag"], r["rho"], yerr=Z95 * se, marker="o", markersize=3, capsize=2, linewidth=1.0,
                    color=cmap(i / max(1, len(depths) - 1) * 0.85), label=f"L = {depth}")
    family = (data.record.get("family") or {})
    lags = np.arange(1, int(rows["lag"].max()) + 1) if not rows.empty else np.arange(1, 2)
    init, hurst = family.get("init"), family.get("hurst")
    if init == "shared":
        ax.plot(lags, np.ones_like(lags, dtype=float), color="black", linestyle="--", label="shared: ρ = 1")
    elif init in ("iid", "fgn") and hurst is not None:
        h = 0.5 if init == "iid" else float(hurst)
        gamma = 0.5 * (np.abs(lags + 1) ** (2 * h) - 2 * np.abs(lags) ** (2 * h) + np.abs(lags - 1) ** (2 * h))
        ax.plot(lags, gamma, color="black", linestyle="--",
                label="independent: ρ = 0" if init == "iid" else f"fGn, H = {h:.2f}")
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_ylim(min(-0.1, float(np.nanmin(rows["rho"])) - 0.05) if not rows.empty else -0.1, 1.05)
    ax.set_xlabel("lag between blocks (blocks k and k + lag)", fontsize=8)
    ax.set_ylabel("correlation of corresponding weights", fontsize=9)
    ax.set_title("(c) weights along depth", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")


def depth_figure(data: CheckData, quantity: str = "diff") -> Figure:
    """The check's figure: deviation against depth, slope against beta, weights' correlation."""
    def draw(fig: FigureBase) -> None:
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.25, 1.1, 0.9]})
        _deviation_panel(axes[0], data, quantity)
        _slope_panel(axes[1], data, quantity)
        _correlation_panel(axes[2], data)

    name = data.record.get("factory") or "the network"
    t = _threshold(data, quantity)
    return Figure(
        title=f"Depth check of {name}",
        caption=("(a) Median over samples of ‖h_L − h_0‖/‖h_0‖ against depth L, log–log, one line per β (black: "
                 "β = 0, the model as built; colour: β), with 95% intervals of the median; dashed: theory's slope "
                 f"for the measured weight family ({t.get('family', '—')}), drawn through the points' centre, where "
                 "theory predicts a slope (β at or above its β_c). (b) The fitted log–log slope against β with its "
                 "95% interval; the shaded band is the slopes counted as depth-independent; blue: the observed β_c "
                 "where the slope crosses zero, with its 95% interval; red dashed: theory's slope β_c − β and β_c. "
                 "(c) Correlation of corresponding parameters of blocks k and k + lag (pooled over parameters, mean "
                 "over samples, 95% intervals) at each depth; dashed: the family it was mapped to."),
        draw=draw, size=(15.0, 4.8))


# ---------------------------------------------------------------------- tables and section
def _threshold_table(data: CheckData) -> Table:
    rows = []
    for _, t in data.thresholds.iterrows():
        built = fmt_ci(_value(t.get("as_built_slope")), _value(t.get("as_built_slope_lo")),
                       _value(t.get("as_built_slope_hi")))
        rows.append([
            "‖h_L − h_0‖/‖h_0‖" if t["quantity"] == "diff" else "‖p_0 − p_L‖/‖p_L‖",
            f"{t.get('as_built_regime', '—')}, slope {built}",
            fmt_ci(_value(t["observed_beta_c"]), _value(t["beta_c_lo"]), _value(t["beta_c_hi"])),
            f"{fmt(_value(t.get('predicted_beta_c')))} (finite depth {fmt(_value(t.get('finite_depth_beta_c')))})",
            f"{t.get('claim', '—')} ({t.get('status', '—')}; {t.get('mapping', '—')})",
            str(t["verdict"])])
    return Table(columns=["Quantity", "As built (β = 0)", "Observed β_c [95%]", "Theory's β_c",
                          "Claim (status; mapping)", "Verdict"], rows=rows, verdict_column="Verdict",
                 widths=[0.14, 0.24, 0.16, 0.16, 0.2, 0.1],
                 title="Regime as built and threshold (check_thresholds.csv)")


def _regime_table(data: CheckData) -> Table:
    rows = []
    for _, r in data.regimes[data.regimes["quantity"] == "diff"].sort_values("beta").iterrows():
        slope = fmt_ci(_value(r["slope"]), _value(r["slope_lo"]), _value(r["slope_hi"]))
        rows.append([fmt(float(r["beta"])), slope, str(r["observed_regime"]), str(r.get("predicted_regime") or "—"),
                     fmt(_value(r.get("finite_depth_slope")))])
    return Table(columns=["β", "Depth slope [95%]", "Observed regime", "Theory's regime",
                          "Theory's slope (finite depth)"], rows=rows, widths=[0.1, 0.3, 0.2, 0.2, 0.2],
                 collapsed=len(rows) > 8,
                 title="Per β: the forward deviation's depth slope (check_regimes.csv)")


def _correlation_table(data: CheckData) -> Table | None:
    rows = data.correlation[(data.correlation["parameter"] != "all") & (data.correlation["lag"] == 1)]
    if rows.empty:
        return None
    deepest = rows[rows["depth"] == rows["depth"].max()]
    body = [[str(r["parameter"]), fmt(_value(r["rho"])), fmt(_value(r["rho_se"]), 2)] for _, r in deepest.iterrows()]
    return Table(columns=["Parameter", "Lag-1 correlation", "Standard error"], rows=body, widths=[0.5, 0.25, 0.25],
                 collapsed=len(body) > 8, title=f"Per parameter at L = {int(deepest['depth'].iloc[0])}, lag 1 "
                                                "(check_correlation.csv)")


def _provenance(record: dict[str, Any]) -> Table | None:
    if not record:
        return None
    versions = record.get("versions") or {}
    dirty = " (uncommitted changes)" if record.get("git_dirty") else ""
    shape = f"{record.get('input_shape')}, {record.get('samples')}, {record.get('seed')}"
    device = f"{record.get('device_resolved')}, {record.get('dtype')}, {record.get('batch')}"
    fields = [["factory", str(record.get("factory"))],
              ["blocks", str(record.get("blocks_description"))],
              ["stream shape, samples, seed", shape],
              ["depths, β", f"{record.get('depths')}, {record.get('betas')}"],
              ["device, dtype, batching", device],
              ["fixed parameters (left out)", ", ".join(record.get("fixed_parameters") or []) or "none"],
              ["command", " ".join(map(str, record.get("command") or [])) or "from Python"],
              ["git commit", f"{record.get('git_commit')}{dirty}"],
              ["versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)],
              ["seconds per stage", ", ".join(f"{k} {v}" for k, v in (record.get("stage_seconds") or {}).items())]]
    return Table(columns=["Field (check.json)", "Value"], rows=fields, widths=[0.28, 0.72],
                 title="How the check was made")


def section_blocks(data: CheckData) -> tuple[list[Any], str]:
    """The section's blocks and its verdict sentence."""
    sentence = str(data.record.get("sentence") or "")
    t = _threshold(data)
    blocks: list[Any] = [
        Paragraph("The check runs the residual blocks of the user's network as a stream and scales each block's "
                  "branch f_k(h) − h by L^−β; β = 0 is the network as built. It measures, over independent draws "
                  "of the network and its input, how far the output moves from the input, ‖h_L − h_0‖/‖h_0‖, and "
                  "how the gradient changes on the way back, and fits their depth slopes with the decision rules "
                  "of the grid (docs/decisions.md)."),
        STREAM,
        Paragraph(f"Verdict. {sentence}" if sentence else "Verdict: check.json is missing; see the tables."),
    ]
    if t.get("mapping") == "analogy":
        blocks.append(Note(f"Theory is derived for res3 blocks h + α V σ(W h) (docs/theory.md §4); the claim "
                           f"{t.get('claim')} ({t.get('claim_status')} for such blocks) is applied to these blocks "
                           "by analogy, so its prediction here is a conjecture."))
    blocks += [depth_figure(data), _threshold_table(data), _regime_table(data)]
    table = _correlation_table(data)
    if table is not None:
        blocks.append(table)
    provenance = _provenance(data.record)
    missing = Note(f"{RECORD} is missing: the settings are not recorded.")
    blocks.append(provenance if provenance is not None else missing)
    return blocks, sentence


def check_document(run_dir: Path) -> Document:
    """The report of a depth-check directory."""
    run_dir = Path(run_dir)
    data = read_check(run_dir)
    blocks, sentence = section_blocks(data)
    section = Section(f"1. {TITLE}", blocks=blocks, anchor="depth-check")
    name = data.record.get("factory") or run_dir.name
    return Document(title=f"Depth check: {name}", subtitle=f"Check directory {run_dir.name or run_dir}",
                    summary=[sentence] if sentence else [], sections=[section])
