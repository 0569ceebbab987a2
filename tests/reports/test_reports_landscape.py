"""The landscape section from a small synthetic landscape.csv: alone, beside a grid run, absent without
the file, refused when malformed, and a verdict sentence that reports whichever way the numbers go."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from reports import RunDirectoryError, build_report
from reports.content import build_document
from reports.landscape import TITLE, landscape_sections, read_landscape, verdict
from reports.rundata import load_run
from sim.landscape import COLUMNS, local_growth, roughness, write_csv

POINTS = 31


def _synthetic_table() -> dict[str, np.ndarray]:
    """Euler and RK4 at N = 5 (a bowl with ripples) and N = 100 (the bowl), with the true stability
    factor of each stepper; not a simulation."""
    axis = np.round(np.linspace(-2, 4, POINTS), 12)
    t1, t2 = (g.ravel() for g in np.meshgrid(axis, axis, indexing="ij"))
    bowl = (t1 - 1) ** 2 + (t2 - 1) ** 2
    parts: dict[str, list] = {c: [] for c in COLUMNS}
    for stepper in ("euler", "rk4"):
        for n in (5, 100):
            h = 10 / n
            ripples = 2.0 * np.sin(7 * t1) * np.sin(7 * t2) if n == 5 else 0.0
            values = {"stepper": np.full(t1.size, stepper), "N": np.full(t1.size, n), "h": np.full(t1.size, h),
                      "theta1": t1, "theta2": t2, "objective": bowl + 2.0 + ripples,
                      "stability": local_growth(stepper, h, t1, t2)}
            for c in COLUMNS:
                parts[c].append(values[c])
    return {c: np.concatenate(v) for c, v in parts.items()}


@pytest.fixture(scope="module")
def landscape_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("landscape") / "run"
    run.mkdir()
    write_csv(_synthetic_table(), run / "landscape.csv")
    return run


@pytest.fixture(scope="module")
def landscape_html(landscape_run: Path) -> str:
    (path,) = build_report(landscape_run, formats=("html",))
    return path.read_text(encoding="utf-8")


def test_a_landscape_only_run_gets_the_section(landscape_run: Path, landscape_html: str) -> None:
    assert f"<h2>1. {TITLE}</h2>" in landscape_html
    assert landscape_html.count("<figure>") == 2  # Euler by N, and every stepper by N
    assert "could not be drawn" not in landscape_html and "http" not in landscape_html.lower()
    assert "landscape.json is missing" in landscape_html


def test_table_and_verdict_give_the_measured_numbers(landscape_run: Path, landscape_html: str) -> None:
    land = read_landscape(landscape_run)
    assert land is not None and land.steppers() == ["euler", "rk4"] and land.steps("euler") == [5, 100]
    measures = {(m["stepper"], m["N"]): m for m in roughness(land.table)}
    rough, smooth = measures[("euler", 5)], measures[("euler", 100)]
    assert rough["local_minima"] > smooth["local_minima"] == 1
    sentence = (f"Rougher at N = 5 than at N = 100 (Euler): {rough['local_minima']} strict local minima "
                f"against {smooth['local_minima']}")
    assert sentence in landscape_html
    assert f"{rough['total_variation']:.3f}" in landscape_html
    assert f"{100 * smooth['unstable_fraction']:.1f}%" in landscape_html


def test_beside_a_grid_run_it_comes_before_the_run_record(small_run: Path, landscape_run: Path) -> None:
    """Wired into the content's order (checked on the Document, which both writers render)."""
    shutil.copy(landscape_run / "landscape.csv", small_run / "landscape.csv")
    doc = build_document(load_run(small_run), None, "theory is not loaded in this test")
    titles = [s.title.split(". ", 1)[1] for s in doc.sections]
    assert titles.index("Training") < titles.index(TITLE) == titles.index("Run record") - 1
    assert [s.anchor for s in doc.sections] == [f"s{i}" for i in range(1, len(titles) + 1)]


def test_runs_without_landscape_csv_have_no_section(small_run: Path) -> None:
    """The content asks for the section and gets none (the report build tests cover such runs whole)."""
    assert landscape_sections(small_run) == [] and read_landscape(small_run) is None


@pytest.mark.parametrize("damage", ["missing-column", "text-number", "incomplete-grid"])
def test_a_malformed_table_is_refused(damage: str, landscape_run: Path, tmp_path: Path) -> None:
    lines = (landscape_run / "landscape.csv").read_text().splitlines()
    if damage == "missing-column":
        lines = [",".join(f.split(",")[:-1]) for f in lines]
    elif damage == "text-number":
        lines[3] = lines[3].rsplit(",", 1)[0] + ",big"
    else:
        del lines[5]
    (tmp_path / "landscape.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(RunDirectoryError, match="landscape.csv"):
        build_report(tmp_path, formats=("html",))


def test_verdict_reports_either_way() -> None:
    def row(n: int, minima: int, tv: float) -> dict:
        return {"stepper": "euler", "N": n, "local_minima": minima, "total_variation": tv,
                "unstable_fraction": 0.5}

    assert verdict([row(5, 3, 0.4), row(100, 9, 0.6)], "euler").startswith(
        "Not rougher at N = 5 than at N = 100 by these measures (Euler): 3 strict local minima against 9")
    assert verdict([row(5, 30, 0.4), row(100, 9, 0.6)], "euler").startswith(
        "Mixed (Euler): N = 5 has more local minima but no larger total variation than N = 100")
    assert verdict([row(5, 30, 0.4)], "euler").startswith("Only N = 5 is stored")
