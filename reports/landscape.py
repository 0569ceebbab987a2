"""The optimization-landscape section: the lecture example of ResNets as ODE discretizations
(Haber & Ruthotto 2017), read from landscape.csv (`python -m sim.grid --preset landscape`).

The objective ½‖Y_N(θ) − C‖² over a (θ1, θ2) grid, one panel per number of steps N, with the
region where the stepper is unstable (max_j |R(h λ_j(θ))| > 1) hatched and its strict local minima
marked; a table of roughness numbers (`sim.landscape.roughness`) and a verdict sentence. Reads the
stored table only and never simulates. A run directory without landscape.csv has no such section; a
directory with landscape.csv only gets a report of this section alone (`landscape_document`).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps, rc_context
from matplotlib.colors import Normalize
from matplotlib.figure import FigureBase
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from reports.document import Document, Figure, Formula, Note, Paragraph, Section, Table
from reports.plotting import fmt
from reports.rundata import RunDirectoryError
from sim.landscape.model import COLUMNS, CSV_NAME, JSON_NAME, UNSTABLE_TOL, roughness, strict_minima, surface

TITLE = "Optimization landscape (lecture example)"
# The colour scale spans this many decades below the largest objective; smaller values share the
# darkest colour (the objective reaches 1e-13 in a valley, which would flatten everything else).
DECADES = 6
STEPPER_NAMES = {"euler": "Euler", "heun": "Heun", "rk4": "RK4"}
GROWTH_WORDS = {"euler": "|1 + hλ|"}

MODEL = Formula(
    latex=r"$\min_\theta\ \frac{1}{2}\|Y_N(\theta)-C\|^2,\quad Y_{j+1}=Y_j+h\,\tanh(K(\theta)\,Y_j),\quad h=10/N$",
    plain="min_θ ½‖Y_N(θ) − C‖², Y_{j+1} = Y_j + h tanh(K(θ) Y_j), h = 10/N",
    label="The lecture example (Haber & Ruthotto 2017); C = Y_200 at θ = (1, 1)")
EIGEN = Formula(
    latex=(r"$\lambda(K(\theta)) \in \{0,\ -\frac{3}{2}(\theta_1+\theta_2)"
           r" \pm i\,\frac{\sqrt{3}}{2}(\theta_1-\theta_2)\}$"),
    plain="λ(K(θ)) ∈ {0, −(3/2)(θ1 + θ2) ± i (√3/2)(θ1 − θ2)}",
    label="K(θ) is circulant; a step of size h is stable where max_j |R(h λ_j)| ≤ 1 (Euler: R(z) = 1 + z)")


@dataclass
class Landscape:
    """landscape.csv as columns (`sim.landscape.COLUMNS`) and landscape.json (empty when absent)."""

    table: dict[str, np.ndarray]
    record: dict[str, Any]

    def steppers(self) -> list[str]:
        """Steppers in the order of the table."""
        return list(dict.fromkeys(self.table["stepper"].tolist()))

    def steps(self, stepper: str) -> list[int]:
        """The step counts N of one stepper, ascending."""
        return sorted(set(self.table["N"][self.table["stepper"] == stepper].tolist()))


def has_landscape(run_dir: Path) -> bool:
    """Whether the run directory holds landscape.csv."""
    return (Path(run_dir) / CSV_NAME).is_file()


def read_landscape(run_dir: Path) -> Landscape | None:
    """landscape.csv (and landscape.json) of a run directory; None without landscape.csv.

    Raises RunDirectoryError when the table is malformed (missing columns, ragged rows, text where a
    number belongs, or rows that do not form a complete theta grid per stepper and N)."""
    path = Path(run_dir) / CSV_NAME
    if not path.is_file():
        return None
    with path.open(newline="") as fh:
        header = next(csv.reader(fh), [])
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise RunDirectoryError(f"{CSV_NAME}: missing column(s) {', '.join(missing)}")
    numeric = [c for c in COLUMNS if c != "stepper"]
    try:  # numpy's C reader: the table has a few hundred thousand rows
        values = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=float,
                            usecols=[header.index(c) for c in numeric])
        steppers = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=1, dtype=str,
                              usecols=header.index("stepper"))
    except ValueError as exc:
        raise RunDirectoryError(f"{CSV_NAME}: {exc}") from None
    if len(values) == 0:
        raise RunDirectoryError(f"{CSV_NAME}: no rows")
    table: dict[str, np.ndarray] = {"stepper": steppers}
    table.update({c: values[:, i] for i, c in enumerate(numeric)})
    if not np.array_equal(table["N"], np.round(table["N"])) or (table["N"] < 1).any():
        raise RunDirectoryError(f"{CSV_NAME}: column N holds a value that is not a step count >= 1")
    table["N"] = table["N"].astype(int)
    land = Landscape(table=table, record=_record(Path(run_dir) / JSON_NAME))
    for stepper in land.steppers():
        for n in land.steps(stepper):
            try:
                surface(table, stepper, n)
            except ValueError as exc:
                raise RunDirectoryError(f"{CSV_NAME}: {exc}") from None
    return land


def _record(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RunDirectoryError(f"{path.name}: not valid JSON ({exc})") from None
    return record if isinstance(record, dict) else {}


# ---------------------------------------------------------------------- verdict
def _main_stepper(land: Landscape) -> str:
    return "euler" if "euler" in land.steppers() else land.steppers()[0]


def verdict(measures: list[dict[str, Any]], stepper: str) -> str:
    """One sentence comparing the roughness at the smallest and the largest N of `stepper`."""
    rows = sorted((m for m in measures if m["stepper"] == stepper), key=lambda m: m["N"])
    name = STEPPER_NAMES.get(stepper, stepper)
    if len(rows) < 2:
        return f"Only N = {rows[0]['N']} is stored for {name}: there is no contrast to judge."
    a, b = rows[0], rows[-1]
    na, nb = f"N = {a['N']}", f"N = {b['N']}"
    numbers = (f"{a['local_minima']} strict local minima against {b['local_minima']}, normalized total variation "
               f"{fmt(a['total_variation'])} against {fmt(b['total_variation'])}; {name} is unstable on "
               f"{100 * a['unstable_fraction']:.1f}% of the grid at {na} and {100 * b['unstable_fraction']:.1f}% "
               f"at {nb}")
    more_minima = a["local_minima"] > b["local_minima"]
    more_tv = a["total_variation"] > b["total_variation"]
    if more_minima and more_tv:
        return f"Rougher at {na} than at {nb} ({name}): {numbers}."
    if not more_minima and not more_tv:
        return f"Not rougher at {na} than at {nb} by these measures ({name}): {numbers}."
    which = "more local minima" if more_minima else "a larger total variation"
    other = "not more local minima" if not more_minima else "no larger total variation"
    return f"Mixed ({name}): {na} has {which} but {other} than {nb}: {numbers}."


def _table(measures: list[dict[str, Any]], horizon: float) -> Table:
    rows = []
    for m in measures:
        t1, t2 = m["argmin"]
        rows.append([STEPPER_NAMES.get(m["stepper"], m["stepper"]), str(m["N"]), fmt(horizon / m["N"]),
                     f"{m['local_minima']} ({m['local_minima_ode_stable']})", f"{m['total_variation']:.3f}",
                     f"{100 * m['unstable_fraction']:.1f}%", f"{fmt(m['min_objective'])} at ({t1:g}, {t2:g})"])
    return Table(
        columns=["Stepper", "N", "h", "Strict local minima (where θ1 + θ2 ≥ 0)", "Total variation",
                 "Unstable (max |R(hλ)| > 1)", "Smallest objective"],
        rows=rows, widths=[0.1, 0.06, 0.06, 0.2, 0.14, 0.18, 0.26],
        title=("Roughness per stepper and N: strict local minima (below all 8 neighbours; in brackets those where "
               "θ1 + θ2 ≥ 0, where the ODE itself does not grow), total variation (sum of |differences| between "
               "neighbours over the range of the objective and the number of grid lines: about 1 for a landscape "
               "monotone along each line) and the fraction of the grid where the stepper is unstable"))


# ---------------------------------------------------------------------- figures
def _norm(land: Landscape) -> Normalize:
    top = math.log10(max(float(np.nanmax(land.table["objective"])), 1e-300))
    return Normalize(vmin=top - DECADES, vmax=top)


def _panel(ax: Any, land: Landscape, stepper: str, steps: int, norm: Normalize, labels: bool) -> Any:
    ax1, ax2, values = surface(land.table, stepper, steps)
    _, _, stab = surface(land.table, stepper, steps, "stability")
    logs = np.log10(np.maximum(values, 10.0 ** norm.vmin))
    extent = (ax1[0], ax1[-1], ax2[0], ax2[-1])
    im = ax.imshow(logs.T, origin="lower", extent=extent, aspect="equal", cmap=colormaps["viridis"], norm=norm,
                   interpolation="nearest")
    unstable = (stab > 1.0 + UNSTABLE_TOL).astype(float)
    if 0 < unstable.mean() < 1:
        ax.contour(ax1, ax2, unstable.T, levels=[0.5], colors="white", linewidths=1.2)
    if unstable.any():
        with rc_context({"hatch.linewidth": 0.5, "hatch.color": "#1b1b1b"}):  # thin: the colours stay readable
            ax.contourf(ax1, ax2, unstable.T, levels=[0.5, 1.5], colors="none", hatches=["//"])
    s = np.linspace(max(ax1[0], -ax2[-1]), min(ax1[-1], -ax2[0]), 2)
    ax.plot(s, -s, color="#ff9f9f", linestyle="--", linewidth=1.0)  # theta1 + theta2 = 0
    i, j = np.nonzero(strict_minima(values))
    ax.plot(ax1[i], ax2[j], linestyle="none", marker="o", markersize=2.2, color="#ff3b30", markeredgewidth=0)
    ax.set_xlim(ax1[0], ax1[-1])
    ax.set_ylim(ax2[0], ax2[-1])
    name = STEPPER_NAMES.get(stepper, stepper)
    ax.set_title(f"{name}, N = {steps} (h = {fmt(float(land.table['h'][land.table['N'] == steps][0]))})", fontsize=10)
    if labels:
        ax.set_xlabel(r"$\theta_1$")
        ax.set_ylabel(r"$\theta_2$")
    return im


def _legend(fig: FigureBase, stepper: str) -> None:
    growth = GROWTH_WORDS.get(stepper, "|R(hλ)|")
    handles = [Patch(facecolor="none", edgecolor="black", hatch="//", label=f"unstable: max {growth} > 1"),
               Line2D([], [], color="#ff9f9f", linestyle="--", label="θ1 + θ2 = 0 (the ODE grows below)"),
               Line2D([], [], linestyle="none", marker="o", markersize=4, color="#ff3b30",
                      label="strict local minimum")]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)


def landscape_figure(land: Landscape, stepper: str) -> Figure:
    """One panel per N of `stepper`, side by side, on one colour scale."""
    steps = land.steps(stepper)
    norm = _norm(land)
    name = STEPPER_NAMES.get(stepper, stepper)

    def draw(fig: FigureBase) -> None:
        axes = np.atleast_1d(fig.subplots(1, len(steps), squeeze=False)).ravel()
        im = None
        for ax, n in zip(axes, steps, strict=True):
            im = _panel(ax, land, stepper, n, norm, labels=True)
        fig.colorbar(im, ax=list(axes), label=r"$\log_{10}$ objective", shrink=0.85)
        _legend(fig, stepper)

    growth = GROWTH_WORDS.get(stepper, "|R(hλ)|")
    return Figure(
        title=f"The objective ½‖Y_N(θ) − C‖² with {name} steps, N = {', '.join(map(str, steps))}",
        caption=(f"log10 of the objective over the (θ1, θ2) grid (colour scale over {DECADES} decades below its "
                 f"largest value; smaller values share the darkest colour). Hatched with a white outline: where "
                 f"{name} is unstable, max_j {growth} > 1 for the eigenvalues λ_j of K(θ). Red dots: strict local "
                 f"minima on the grid (below all 8 neighbours). Dashed: θ1 + θ2 = 0; below it the eigenvalues have "
                 f"a positive real part, so the ODE itself grows and no step size is stable."),
        draw=draw, size=(5.0 * len(steps) + 1.2, 5.3))


def steppers_figure(land: Landscape) -> Figure:
    """A grid of panels: one row per stepper, one column per N."""
    steppers = land.steppers()
    steps = sorted({n for s in steppers for n in land.steps(s)})
    norm = _norm(land)

    def draw(fig: FigureBase) -> None:
        axes = fig.subplots(len(steppers), len(steps), squeeze=False)
        im = None
        for r, stepper in enumerate(steppers):
            for c, n in enumerate(steps):
                ax = axes[r, c]
                if n not in land.steps(stepper):
                    ax.set_axis_off()
                    continue
                im = _panel(ax, land, stepper, n, norm, labels=False)
                if c == 0:
                    ax.set_ylabel(r"$\theta_2$")
                if r == len(steppers) - 1:
                    ax.set_xlabel(r"$\theta_1$")
        fig.colorbar(im, ax=list(axes.ravel()), label=r"$\log_{10}$ objective", shrink=0.6)
        _legend(fig, "")

    names = ", ".join(STEPPER_NAMES.get(s, s) for s in steppers)
    return Figure(
        title=f"The same objective with other steppers ({names}), same step h = 10/N",
        caption=("Rows: steppers (explicit Runge–Kutta by their Butcher tableaux; the field is autonomous, so every "
                 "stage uses K(θ)); columns: N. Same target C (Euler, N = 200), colour scale, hatching (here "
                 "max_j |R(hλ_j)| > 1 with each stepper's stability function R), dashed line and minima marks as "
                 "in the previous figure."),
        draw=draw, size=(3.4 * len(steps) + 1.2, 3.2 * len(steppers) + 0.6))


# ---------------------------------------------------------------------- section and document
def _provenance(record: dict[str, Any]) -> Table | None:
    if not record:
        return None
    spec = record.get("spec") or {}
    versions = record.get("versions") or {}
    rows = [[k, str(v)] for k, v in spec.items()]
    rows += [["command", " ".join(map(str, record.get("command") or []))],
             ["device, dtype", f"{record.get('device')}, {record.get('dtype')}"],
             ["git commit", f"{record.get('git_commit')}{' (uncommitted changes)' if record.get('git_dirty') else ''}"],
             ["versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)],
             ["started", str(record.get("started"))],
             ["seconds per stage", ", ".join(f"{k} {v}" for k, v in (record.get("stage_seconds") or {}).items())]]
    return Table(columns=["Field (landscape.json)", "Value"], rows=rows, widths=[0.25, 0.75],
                 title="How landscape.csv was made")


def section_blocks(land: Landscape) -> tuple[list[Any], str]:
    """The section's blocks and its verdict sentence."""
    measures = roughness(land.table)
    stepper = _main_stepper(land)
    sentence = verdict(measures, stepper)
    spec = land.record.get("spec") or {}
    horizon = float(spec.get("horizon", 10.0))
    examples = spec.get("examples")
    y0 = (f"Y_0 is a fixed 3 × {examples} matrix of N(0, 1) entries (seed {spec.get('seed')})" if examples
          else "Y_0 is a fixed draw of N(0, 1) entries")
    blocks: list[Any] = [
        Paragraph("A ResNet is a forward-Euler discretization of an ODE (Haber & Ruthotto 2017). In their lecture "
                  "example two parameters θ = (θ1, θ2) set a circulant 3 × 3 matrix K(θ); the network maps Y_0 to "
                  f"Y_N by N steps of size h = 10/N, and training fits Y_N to the target C = Y_200 at θ = (1, 1). "
                  f"{y0}. When the step is too large for the eigenvalues of K(θ), the discrete dynamics leave "
                  f"Euler's stability region and the objective over θ becomes rough."),
        MODEL, EIGEN,
        Paragraph(f"Verdict. {sentence}"),
        landscape_figure(land, stepper),
        _table(measures, horizon),
    ]
    if len(land.steppers()) > 1:
        blocks.append(steppers_figure(land))
    provenance = _provenance(land.record)
    if provenance is None:
        blocks.append(Note(f"{JSON_NAME} is missing: the settings of the landscape run are not recorded."))
    else:
        blocks.append(provenance)
    return blocks, sentence


def landscape_sections(run_dir: Path) -> list[Section]:
    """[the landscape section] when the run directory holds landscape.csv, else []."""
    land = read_landscape(run_dir)
    if land is None:
        return []
    blocks, _ = section_blocks(land)
    return [Section(TITLE, blocks=blocks)]


def landscape_document(run_dir: Path) -> Document:
    """The report of a run directory that holds landscape.csv and no grid of cells."""
    run_dir = Path(run_dir)
    land = read_landscape(run_dir)
    if land is None:
        raise RunDirectoryError(f"{str(run_dir)!r} has no {CSV_NAME}")
    blocks, sentence = section_blocks(land)
    section = Section(f"1. {TITLE}", blocks=blocks, anchor="s1")
    return Document(title="ResNets as ODE discretizations: the optimization landscape",
                    subtitle=f"Run directory {run_dir.name or run_dir}", summary=[sentence], sections=[section])
