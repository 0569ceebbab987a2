"""Fixtures for the report tests: a real tiny grid run and a synthetic CSV-only run, each built once.

The real run is the grid's own output (`python -m sim.grid`, 9 cells of width 8 and 16 samples, a
few seconds on a CPU); the synthetic run (tests/reports/synthetic_run.py) has no results.sqlite and
a deliberate disagreement, to check that the report degrades gracefully and shows what disagrees.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from synthetic_run import write_synthetic_run  # noqa: E402

TINY_GRID = ["--block", "res3", "--activation", "relu", "--init", "iid", "--beta", "0.25,0.5,1",
             "--depth", "16,32,64", "--width", "8", "--samples", "16", "--no-report", "--quiet"]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run directory written by the grid itself."""
    from sim.grid import main as grid_main

    out = tmp_path_factory.mktemp("tiny") / "run"
    assert grid_main([*TINY_GRID, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_report(tiny_run: Path) -> list[Path]:
    """report.html and report.pdf of the tiny run."""
    from reports import build_report

    return build_report(tiny_run)


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV-only run directory (no results.sqlite) with a URL planted in run.json."""
    return write_synthetic_run(tmp_path_factory.mktemp("synthetic") / "run",
                               extra_run_fields={"homepage": "HTTPS://example.org/x and http://x"})


@pytest.fixture(scope="session")
def synthetic_html(synthetic_run: Path) -> str:
    """The HTML report of the synthetic run, as text."""
    from reports import build_report

    (path,) = build_report(synthetic_run, formats=("html",))
    return path.read_text(encoding="utf-8")


@pytest.fixture()
def small_run(synthetic_run: Path, tmp_path: Path) -> Path:
    """A one-family, one-depth run with cells.csv only: the smallest thing a report must cope with."""
    run = tmp_path / "small"
    run.mkdir()
    with (synthetic_run / "cells.csv").open() as fh:
        reader = csv.DictReader(fh)
        rows = [r for r in reader if r["depth"] == "64" and r["init"] == "iid"]
        header = reader.fieldnames
    with (run / "cells.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return run
