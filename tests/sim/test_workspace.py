"""The workspace (reused buffers, kept draws) and worker threads change no number."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sim import Cell
from sim.engine import simulate_betas, workers_for
from sim.workspace import Workspace, active, workspace

SWEEP = Cell(block="res3", activation="relu", init="fgn", hurst=0.3, depth=24, width=6, samples=5,
             device="cpu", seed=11)
BETAS = [0.2, 0.6, 1.1]


def _logs(results) -> list[dict[str, np.ndarray]]:
    return [r.logs for r in results]


def _assert_same(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        for q in x:
            np.testing.assert_array_equal(x[q], y[q])


def test_buffer_is_reused_and_grown() -> None:
    ws = Workspace()
    a = ws.buffer(0, "x", (4, 5), torch.float32, torch.device("cpu"))
    b = ws.buffer(0, "x", (2, 3), torch.float32, torch.device("cpu"))
    assert b.data_ptr() == a.data_ptr() and b.shape == (2, 3)
    c = ws.buffer(1, "x", (2, 3), torch.float32, torch.device("cpu"))
    assert c.data_ptr() != a.data_ptr()  # another worker's slot
    d = ws.buffer(0, "x", (50,), torch.float32, torch.device("cpu"))
    assert d.numel() == 50
    e = ws.buffer(0, "x", (3,), torch.float64, torch.device("cpu"))
    assert e.dtype == torch.float64
    assert ws.held_bytes() == 3 * 8 + 6 * 4


def test_workspace_is_scoped() -> None:
    assert active() is None
    with workspace(keep_draws=True) as outer:
        assert active() is outer and outer.keep_draws
        with workspace() as inner:
            assert active() is inner
        assert active() is outer
    assert active() is None


@pytest.mark.parametrize("init", ["fgn", "fbm"])
def test_hurst_sweep_with_kept_draws_equals_separate_calls(init: str) -> None:
    """Draws kept from one H to the next give the numbers a fresh call gives at each H."""
    cells = [SWEEP.replace(init=init, hurst=h) for h in (0.3, 0.55, 0.8)]
    fresh = [_logs(simulate_betas(c, BETAS)) for c in cells]
    with workspace(keep_draws=True) as ws:
        kept = [_logs(simulate_betas(c, BETAS)) for c in cells]
        assert ws.held_bytes() > 0
    for a, b in zip(fresh, kept, strict=True):
        _assert_same(a, b)
    # and the draws are common: the same seed for every H, not the same weights
    assert len({c.draw_seed() for c in cells}) == 1
    assert not np.array_equal(fresh[0][0]["fwd"], fresh[2][0]["fwd"])


@pytest.mark.parametrize("init", ["iid", "fgn", "shared"])
def test_worker_threads_change_no_number(init: str) -> None:
    """One torch thread (one worker) and two (two workers) give bitwise the same results."""
    cell = SWEEP.replace(init=init, hurst=0.7 if init == "fgn" else None, samples=7)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert workers_for(cell, torch.device("cpu")) == 1
        one = _logs(simulate_betas(cell, BETAS))
        torch.set_num_threads(2)
        assert workers_for(cell, torch.device("cpu")) == 2
        two = _logs(simulate_betas(cell, BETAS))
    finally:
        torch.set_num_threads(before)
    _assert_same(one, two)


def test_wide_cells_and_cuda_use_one_worker() -> None:
    assert workers_for(SWEEP.replace(width=64), torch.device("cpu")) == 1
    assert workers_for(SWEEP, torch.device("cuda")) == 1
