"""The report's figures one at a time, for a notebook: each function takes a finished run (a
`sim.grid.Run`, or its output directory) and returns a matplotlib Figure drawn as in the report.

    import sim.grid
    from reports import figures
    run = sim.grid.load("runs/quick")
    figures.families(run)                         # ['res3 relu iid, d = 16', 'res3 relu fgn, d = 16']
    figures.phase_diagram(run, "res3 relu fgn, d = 16")
    figures.report_figures(run)                   # every figure of the report, by title

Like the report, these read stored results only (never simulate).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure as MplFigure

from reports.content import build_document, family_curve
from reports.document import Figure
from reports.phase import phase_figure, verdict_map
from reports.predictions import load_theory
from reports.rundata import Family, RunData, family_label, family_of, load_run
from reports.scaling import scaling_figure

QUANTITIES = ("fwd", "diff", "bwd", "bwd_diff")


def _run_data(run: Any) -> RunData:
    """RunData of a `sim.grid.Run` (anything with an `out` directory) or of a directory path."""
    out = getattr(run, "out", run)
    if not isinstance(out, (str, os.PathLike)):
        raise ValueError(f"run={run!r} is not allowed: a sim.grid.Run or a run directory")
    return load_run(Path(out))


def _family(data: RunData, family: str | int | None) -> Family:
    """The family named by its label (as `families` lists it) or its position; None: the only one."""
    found = data.families()
    labels = [family_label(f) for f in found]
    if family is None and len(found) == 1:
        return found[0]
    if isinstance(family, int) and not isinstance(family, bool) and 0 <= family < len(found):
        return found[family]
    if isinstance(family, str) and family in labels:
        return found[labels.index(family)]
    raise ValueError(f"family={family!r} is not allowed: one of {labels!r} (or its position)")


def _check_quantity(quantity: str) -> None:
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity={quantity!r} is not allowed: one of {', '.join(QUANTITIES)}")


def render(figure: Figure) -> MplFigure:
    """A report figure drawn on a new matplotlib Figure of the report's size."""
    fig = MplFigure(figsize=figure.size, layout="constrained")
    figure.draw(fig)
    return fig


def families(run: Any) -> list[str]:
    """The run's families (block, activation, init, width, ...), as the report labels them."""
    return [family_label(f) for f in _run_data(run).families()]


def phase_diagram(run: Any, family: str | int | None = None, quantity: str = "diff") -> MplFigure:
    """The phase diagram of one family: median log10 `quantity` over (regularity or depth, beta),
    theory's critical line and the observed thresholds. ValueError where the family has one
    regularity value and one depth (nothing to draw)."""
    _check_quantity(quantity)
    data = _run_data(run)
    fam = _family(data, family)
    theory, _ = load_theory()
    fig = phase_figure(fam, data.cells_of(fam), data.thresholds_of(fam, quantity), quantity,
                       family_curve(data, fam, theory))
    if fig is None:
        raise ValueError(f"family={family_label(fam)!r} has one regularity value and one depth: no phase diagram")
    return render(fig)


def depth_scaling(run: Any, family: str | int | None = None, quantity: str = "diff") -> MplFigure:
    """Median `quantity` against depth on log-log axes, one line per beta, with the fitted slopes."""
    _check_quantity(quantity)
    data = _run_data(run)
    fam = _family(data, family)
    fig, note = scaling_figure(fam, data.cells_of(fam), data.regimes_of(fam, quantity), quantity)
    if fig is None:
        raise ValueError(f"family={family_label(fam)!r}: {note or 'no depth scaling to draw'}")
    return render(fig)


def verdict_map_figure(run: Any, family: str | int | None = None) -> MplFigure:
    """Each (regularity, beta) point of one family coloured by its verdict, with theory's line."""
    data = _run_data(run)
    fam = _family(data, family)
    theory, _ = load_theory()
    fig = verdict_map(fam, [r for r in data.regimes if family_of(r) == fam], family_curve(data, fam, theory))
    if fig is None:
        raise ValueError(f"family={family_label(fam)!r}: no regime points to map")
    return render(fig)


def report_figures(run: Any) -> dict[str, MplFigure]:
    """Every figure of the run's report, drawn, keyed by its title in report order (titles that
    repeat get ' (2)', ' (3)', ...). Builds the report's content, not its files."""
    data = _run_data(run)
    theory, note = load_theory()
    doc = build_document(data, theory, note)
    out: dict[str, MplFigure] = {}
    for section in doc.sections:
        for block in section.blocks:
            if isinstance(block, Figure):
                title, n = block.title, 2
                while title in out:
                    title, n = f"{block.title} ({n})", n + 1
                out[title] = render(block)
    return out
