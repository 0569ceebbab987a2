"""The grid from Python: `sim.grid.run` runs a grid as the command does, `sim.grid.load` reads it back,
and `reports.figures` draws the report's figures from the returned run.

Deterministic (fixed seeds, exact comparisons of stored values): no false failures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import sim.grid
from reports import figures
from sim.grid.results import command_line

AXES = dict(init="iid", beta=[0.25, 0.5, 1.0], depth=[8, 32], width=4, samples=4, device="cpu")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> sim.grid.Run:
    return sim.grid.run(out=tmp_path_factory.mktemp("api") / "run", quiet=True, **AXES)


def test_keywords_become_the_command_line() -> None:
    assert command_line(None, "o", False, beta=[0.25, 0.5], depth=64, hurst="0.2:0.8:3", force=True, quiet=False) == [
        "--out", "o", "--no-report", "--beta", "0.25,0.5", "--depth", "64", "--hurst", "0.2:0.8:3", "--force"]
    assert command_line("quick", None, True, max_memory="1G") == ["--preset", "quick", "--max-memory", "1G"]


def test_run_returns_the_tables_the_command_writes(small_run: sim.grid.Run) -> None:
    out = small_run.out
    for name in ("cells", "regimes", "thresholds"):
        frame = getattr(small_run, name)
        assert isinstance(frame, pd.DataFrame)
        assert frame.equals(pd.read_csv(out / f"{name}.csv"))
    assert len(small_run.cells) == 6 and small_run.training is None
    assert (out / "report.html").exists() and (out / "report.pdf").exists()
    assert small_run.record["cells"]["simulated"] == 6


def test_samples_are_the_stored_logs(small_run: sim.grid.Run) -> None:
    samples = small_run.samples()
    assert len(samples) == 6 * 4
    assert set(samples.columns) >= {"key", "beta", "depth", "sample", "fwd", "diff", "bwd", "bwd_diff"}
    medians = samples.groupby("key")["diff"].median()
    cells = small_run.cells.set_index("key")
    np.testing.assert_allclose(medians.loc[cells.index], cells["diff_median"], rtol=1e-12)
    assert list(small_run.samples(["fwd"]).columns)[-1] == "fwd"
    with pytest.raises(ValueError, match="quantities="):
        small_run.samples(["width"])


def test_a_second_run_resumes_and_load_reads_the_same(small_run: sim.grid.Run) -> None:
    again = sim.grid.run(out=small_run.out, quiet=True, report=False, **AXES)
    assert again.record["cells"]["already_stored"] == 6 and again.record["cells"]["simulated"] == 0
    loaded = sim.grid.load(small_run.out)
    assert loaded.cells.drop(columns="seconds").equals(small_run.cells.drop(columns="seconds"))


def test_bad_input_is_a_value_error_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "never"
    with pytest.raises(ValueError, match="betas="):
        sim.grid.run(out=out, betas=[0.5])
    with pytest.raises(ValueError, match="--beta=-1"):
        sim.grid.run(out=out, beta=-1)
    with pytest.raises(ValueError, match="landscape"):
        sim.grid.run(preset="landscape", out=out)
    assert not out.exists()
    with pytest.raises(ValueError, match="holds no finished run"):
        sim.grid.load(tmp_path)


def test_figures_from_a_run(small_run: sim.grid.Run) -> None:
    assert figures.families(small_run) == ["res3 relu iid, d = 4"]
    assert isinstance(figures.phase_diagram(small_run), Figure)
    assert isinstance(figures.depth_scaling(small_run, 0, "bwd_diff"), Figure)
    assert isinstance(figures.verdict_map_figure(str(small_run.out)), Figure)
    drawn = figures.report_figures(small_run)
    assert drawn and all(isinstance(f, Figure) for f in drawn.values())
    with pytest.raises(ValueError, match="family="):
        figures.phase_diagram(small_run, "res1 tanh iid, d = 4")
    with pytest.raises(ValueError, match="quantity="):
        figures.phase_diagram(small_run, quantity="loss")
