"""`python -m sim.bench`: its measurements run on small sizes, and bad options are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sim.bench import measure as bench
from sim.bench.measure import BENCH_BETAS
from sim.cell import Cell
from sim.engine import bytes_per_sample, memory_plan, reserve_bytes
from sim.weights import WeightSource

CPU = torch.device("cpu")


@pytest.mark.parametrize("argv,message", [
    (["--memory-samples", "1"], "--memory-samples=1 is not allowed"),
    (["--max-memory", "lots"], "--max-memory=lots is not allowed"),
    (["--threads", "0"], "--threads=0 is not allowed"),
    (["--dtype", "float16"], "float16"),
    (["--memory", "--max-memory", "64M"], "--max-memory=67108864 bytes is not allowed"),
])
def test_bad_options_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                            tmp_path) -> None:
    assert bench.main([*argv, "--out", str(tmp_path / "b.json")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_memory_target_cell_runs_by_windows_within_4gib() -> None:
    """The memory target's cell (64 samples) is planned one sample at a time, its fGn weights by
    windows, and what the plan holds stays under the budget."""
    budget = 4 * 2**30
    cell = Cell(**bench.MEMORY_CELL, samples=bench.MEMORY_TARGET_SAMPLES)
    chunk, window = memory_plan(cell, BENCH_BETAS, budget)
    assert chunk == 1 and window is not None and 1 <= window < cell.depth
    held = bytes_per_sample(cell, BENCH_BETAS, False, window=window) + WeightSource.scratch_bytes(
        cell, 4, windowed=True)
    usable = budget - reserve_bytes(budget)  # the rest is left to library workspaces
    assert held <= usable
    assert held + WeightSource.bytes_per_sample(cell, 4, window=1) > usable  # the largest window


def test_fig7_fraction_and_engine_rate_on_small_sizes() -> None:
    fig = bench.fig7_time(CPU, "float32", bench.FIG7_H[20:22], samples=2, depth=12)
    assert fig["h_values"] == 2 and fig["wall_s"] > 0
    assert fig["generate_s"] + fig["simulate_s"] <= fig["wall_s"] * 1.01
    cell = Cell(block="res3", init="fgn", hurst=0.7, width=8, depth=10, samples=2)
    rate = bench.engine_rate(cell, [0.5, 1.0], CPU)
    assert rate["gflops"] > 0 and rate["wall_s"] >= rate["simulate_s"]
    peak = bench.matmul_peak(CPU, torch.float32, 8, 2, 16, repeat=1, streamed_bytes=2**16)
    assert peak["batched_gflops"] > 0 and peak["streamed_gflops"] > 0 and peak["square_size"] == 16
    assert np.isfinite(bench.naive_seconds_per_sample(4, 3, CPU, torch.float32, samples=1))
