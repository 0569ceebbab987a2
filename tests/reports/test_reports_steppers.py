"""The steppers section: present exactly when a run has antisym or non-Euler cells, with one
threshold row per (family, stepper) and a slope figure per family."""

from __future__ import annotations

from pathlib import Path

from reports import build_report
from reports.rundata import load_run
from reports.steppers import compared_bases, steppers_section
from sim.grid import main as grid_main

STEPPER_GRID = ["--block", "antisym", "--activation", "identity", "--init", "iid", "--stepper", "euler,rk4",
                "--beta", "0.25,0.5,1", "--depth", "8,16,32", "--width", "6", "--samples", "8",
                "--device", "cpu", "--no-report", "--quiet"]


def test_section_lists_each_stepper(tmp_path: Path) -> None:
    assert grid_main([*STEPPER_GRID, "--out", str(tmp_path)]) == 0
    data = load_run(tmp_path)
    bases = compared_bases(data)
    assert list(bases.values()) == [["euler", "rk4"]]
    section = steppers_section(data)
    assert section is not None
    tables = [b for b in section.blocks if hasattr(b, "columns")]
    assert [row[2] for row in tables[0].rows] == ["euler", "rk4"]
    assert all(row[0] == "antisym identity iid, d = 6" for row in tables[0].rows)
    (html,) = build_report(tmp_path, formats=("html",))
    text = html.read_text()
    assert "Steppers: layers as ODE steps" in text and "Steppers, antisym identity iid, d = 6 (diff)" in text


def test_no_section_for_euler_res_runs(tiny_run: Path) -> None:
    assert steppers_section(load_run(tiny_run)) is None
