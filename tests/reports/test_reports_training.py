"""The training section (report section 6) built from a real tiny training run.

The run is the grid's own: res1 relu fgn, H in {0.3, 0.7} x beta in {0.25, 0.75} x L in {8, 16},
width 8, 2 networks per cell, one epoch on digits (a few seconds on one CPU thread). The report is
built from its stored tables only.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
from pathlib import Path

import pytest
import torch

from reports import build_report
from reports.document import Figure, Note, Table
from reports.rundata import load_run
from reports.training import NO_TRAINING, section_blocks
from reports.trainingdata import (
    fit_slope,
    groups,
    log10_deviation,
    performance_summary,
    task_metric,
)
from reports.trainplots import deviation_figure, performance_figure, regularity_figures

TRAIN_GRID = ["--block", "res1", "--activation", "relu", "--init", "fgn", "--hurst", "0.3,0.7",
              "--beta", "0.25,0.75", "--depth", "8,16", "--width", "8", "--samples", "2", "--train", "1",
              "--dataset", "digits", "--lr", "0.01", "--device", "cpu", "--no-report", "--quiet"]
DATA_URI = 'src="data:image/png;base64,'


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run directory with training.csv, written by the grid itself."""
    from sim.grid import main as grid_main

    out = tmp_path_factory.mktemp("trained") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: extra threads only contend with other work on the machine
    try:
        assert grid_main([*TRAIN_GRID, "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    assert (out / "training.csv").is_file()
    return out


@pytest.fixture(scope="module")
def trained_report(trained_run: Path) -> list[Path]:
    return build_report(trained_run)


@pytest.fixture(scope="module")
def training_html(trained_report: list[Path]) -> str:
    """The HTML text of section 6 alone."""
    text = trained_report[0].read_text(encoding="utf-8")
    start = text.index("<h2>6. Training</h2>")
    return text[start:text.index("<h2>7. Run record</h2>", start)]


@pytest.fixture(scope="module")
def training_rows(trained_run: Path) -> list[dict]:
    return load_run(trained_run).training


def test_both_files_are_written(trained_report: list[Path]) -> None:
    html, pdf = trained_report
    assert html.name == "report.html" and pdf.name == "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000


def test_training_section_has_its_figures_embedded(trained_report: list[Path], training_html: str) -> None:
    assert "http" not in trained_report[0].read_text(encoding="utf-8").lower()
    assert NO_TRAINING not in training_html
    assert "could not be drawn" not in training_html
    for title in ("Training: test accuracy, res1 relu fgn, d = 8", "Training: deviation before and after",
                  "Training: weight regularity", "Hurst H = 0.3", "Hurst H = 0.7"):
        assert title in training_html, title
    images = re.findall(r"<img\b[^>]*>", training_html)
    assert len(images) == 4  # performance map, before/after map, weight regularity for each H
    assert all(DATA_URI in img for img in images)


def test_table_lists_the_best_cell(training_html: str, training_rows: list[dict]) -> None:
    best = max(training_rows, key=lambda r: r["test_acc_mean"])
    table = training_html[training_html.index("Best cell per family"):]
    row = re.search(r"<tr><td>res1 relu fgn, d = 8 \(digits, 1 epoch, adam, batch 64\)</td>(.*?)</tr>", table)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    assert cells[0].startswith(f"test accuracy: {best['test_acc_mean']:.3g}")
    assert cells[1:4] == [f"{best['beta']:.3g}", f"{best['regularity']:.3g}", str(best["depth"])]
    lost = sum(int(r["diverged"]) for r in training_rows)
    assert cells[5].startswith(f"{lost}/{sum(r['samples'] for r in training_rows)}")
    assert cells[6].startswith("0.01 (8 cells)")


def test_a_run_without_training_still_says_so(trained_run: Path, tmp_path: Path) -> None:
    untrained = tmp_path / "untrained"
    shutil.copytree(trained_run, untrained, ignore=shutil.ignore_patterns("training.csv", "report.*"))
    (path,) = build_report(untrained, formats=("html",))
    text = path.read_text(encoding="utf-8")
    assert NO_TRAINING in text
    assert "Training: test accuracy" not in text
    assert section_blocks([], {}, [], None) == [Note(NO_TRAINING)]


def test_deviation_is_read_as_natural_logs(trained_run: Path, training_rows: list[dict]) -> None:
    with (trained_run / "training.csv").open() as fh:
        raw = next(csv.DictReader(fh))
    row = next(r for r in training_rows if r["key"] == raw["key"])
    assert log10_deviation(row, "before") == pytest.approx(float(raw["diff_before_median"]) / math.log(10))
    assert log10_deviation(row, "after") == pytest.approx(float(raw["diff_after_median"]) / math.log(10))


def test_fit_slope_recovers_a_power_law() -> None:
    depths = [8, 16, 32, 64]
    slope, se = fit_slope(depths, [3.0 * L**0.5 for L in depths])
    assert slope == pytest.approx(0.5) and se == pytest.approx(0.0, abs=1e-9)
    slope, se = fit_slope([8, 16], [1.0, 4.0])
    assert slope == pytest.approx(2.0) and math.isnan(se)
    assert fit_slope([8, 16], [1.0, math.nan]) is None
    assert fit_slope([8], [1.0]) is None


def test_impossible_panels_become_notes(training_rows: list[dict]) -> None:
    one_depth = [r for r in training_rows if r["depth"] == 8]
    (group,) = groups(one_depth)
    (note,) = regularity_figures(group)
    assert isinstance(note, Note) and "need a depth grid" in note.text
    (single,) = groups(one_depth[:1])
    metric = task_metric(single)
    assert isinstance(performance_figure(single, metric, None, [], None), Note)
    assert isinstance(deviation_figure(single, None, [], None), Note)
    without = [{k: v for k, v in r.items() if not k.startswith("diff_")} for r in training_rows]
    (group,) = groups(without)
    assert isinstance(deviation_figure(group, None, [], None), Note)


def test_diverged_networks_are_counted_and_drawn(training_rows: list[dict]) -> None:
    """A cell that lost every network keeps a place on the map and is named in the caption."""
    rows = [dict(r) for r in training_rows]
    lost = min(rows, key=lambda r: r["beta"])
    lost.update(diverged=lost["samples"], test_acc_mean=None, diff_after_median=None)
    (group,) = groups(rows)
    metric = task_metric(group)
    import theory

    text = performance_summary(group, metric, theory, [])
    assert f"Diverged networks: {lost['samples']} of" in text
    fig = performance_figure(group, metric, None, [], theory)
    assert isinstance(fig, Figure) and "× k/n" in fig.caption
    from matplotlib.figure import Figure as MplFigure

    for block in (fig, deviation_figure(group, None, [], theory)):
        canvas = MplFigure(figsize=block.size, layout="constrained")
        block.draw(canvas)  # must not raise with a missing value in the grid
        assert canvas.axes


def test_regression_runs_show_the_test_loss(training_rows: list[dict]) -> None:
    rows = [dict(r, dataset="teacher", test_acc_mean=None, test_acc_median=None) for r in training_rows]
    (group,) = groups(rows)
    metric = task_metric(group)
    assert metric.name == "test loss" and not metric.higher_is_better
    blocks = section_blocks(rows, {}, [], None)
    tables = [b for b in blocks if isinstance(b, Table)]
    assert tables[0].rows[0][1].startswith("test loss: ")
