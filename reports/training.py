"""Section 6 of the report, "Training": how the regimes at initialization shape brief training.

Reads `training.csv` rows only (written by `python -m sim.grid --train`), with thresholds.csv and
theory's critical line for orientation. Per family and training setup: a performance map, the
deviation before and after training, the trained weights' regularity against depth (figures in
`reports.trainplots`), then one table of the best cells. A run without training.csv gets the
note `NO_TRAINING`; a panel that cannot be drawn is replaced by a note saying why.
"""

from __future__ import annotations

import math
from types import ModuleType

from reports.document import Block, Note, Paragraph, Table
from reports.phase import Curve
from reports.plotting import fmt
from reports.rundata import Family, Row, family_of
from reports.trainingdata import Group, count, groups, number, task_metric
from reports.trainplots import deviation_figure, performance_figure, regularity_figures

NO_TRAINING = "No training data in this run: the before/after training panels are omitted."

INTRODUCTION = (
    "Each cell's networks (input layer, the residual stack at its initialization, output layer) were trained "
    "briefly and measured again (docs/theory.md §5). Performance is the mean over the networks that stayed finite; a "
    "network whose loss or weights became non-finite counts as diverged. The learning rate was chosen per cell "
    "on a validation split among the values tried. Read the maps against the critical line: theory locates the "
    "regimes at initialization, and these panels show how they shape trainability and whether they survive "
    "training.")


def section_blocks(training: list[Row], curves: dict[Family, Curve | None], thresholds: list[Row],
                   theory: ModuleType | None) -> list[Block]:
    """Everything section 6 shows, in reading order.

    training: training.csv rows; curves: theory's asymptotic beta_c line per family (the phase
    diagrams' curves); thresholds: thresholds.csv rows, whose finite-depth thresholds are drawn dashed.
    """
    if not training:
        return [Note(NO_TRAINING)]
    gs = groups(training)
    blocks: list[Block] = [Paragraph(INTRODUCTION)]
    for g in gs:
        family_thresholds = [t for t in thresholds if family_of(t) == g.family and t.get("quantity") == "diff"]
        curve = curves.get(g.family)
        metric = task_metric(g)
        if metric is None:
            blocks.append(Note(f"{g.label}: training.csv has neither test accuracy nor test loss values, so there "
                               f"is no performance map."))
        else:
            blocks.append(performance_figure(g, metric, curve, family_thresholds, theory))
        blocks.append(deviation_figure(g, curve, family_thresholds, theory))
        blocks.extend(regularity_figures(g))
    blocks.append(best_table(gs))
    return blocks


def best_table(gs: list[Group]) -> Table:
    """Per family and setup: the best cell and where it is, the networks lost, the learning rates chosen."""
    rows = []
    for g in gs:
        k = sum(count(r, "diverged") for r in g.rows)
        n = sum(count(r, "samples") for r in g.rows)
        lost = f"{k}/{n} ({100.0 * k / n:.0f}%)" if n else "—"
        rates = _learning_rates(g.rows)
        metric = task_metric(g)
        scored = [] if metric is None else [r for r in g.rows if math.isfinite(number(r, metric.column))]
        if metric is None or not scored:
            what = "—" if metric is None else f"{metric.name}: no finite value"
            rows.append([g.label, what, "—", "—", "—", "—", lost, rates])
            continue
        sign = 1.0 if metric.higher_is_better else -1.0
        best = max(scored, key=lambda r: sign * number(r, metric.column))
        value = fmt(number(best, metric.column), 3)
        se = number(best, metric.column.rsplit("_", 1)[0] + "_se")
        if metric.column.endswith("_mean") and math.isfinite(se):
            value += f" ± {1.96 * se:.2g}"
        rows.append([g.label, f"{metric.name}: {value}", fmt(best["beta"]), fmt(best.get("regularity")),
                     str(int(best["depth"])), fmt(number(best, "initial_test_loss_mean"), 3), lost, rates])
    return Table(columns=["Family (training setup)", "Best (mean ± 95%)", "β", "H or ℓ", "L",
                          "Test loss there before training", "Diverged networks", "Learning rate chosen (cells)"],
                 rows=rows, title=("Best cell per family after training: highest test accuracy (lowest test loss "
                                   "for regression), where it occurs, and the networks lost over the whole grid"),
                 widths=[0.22, 0.15, 0.05, 0.06, 0.05, 0.11, 0.11, 0.25])


def _learning_rates(rows: list[Row]) -> str:
    """'0.01 (12 cells), 0.001 (9 cells); tried 0.001, 0.01' from the lr and lrs columns."""
    chosen: dict[str, int] = {}
    for r in rows:
        if isinstance(r.get("lr"), int | float):
            chosen[fmt(r["lr"])] = chosen.get(fmt(r["lr"]), 0) + 1
    # lrs is ';'-joined; a single rate reads back as a number
    tried = sorted({str(r["lrs"]).replace(";", ", ") for r in rows if r.get("lrs") is not None})
    text = ", ".join(f"{lr} ({n} cell{'s' if n != 1 else ''})" for lr, n in
                     sorted(chosen.items(), key=lambda kv: -kv[1])) or "—"
    return text + (f"; tried {' / '.join(tried)}" if tried else "")
