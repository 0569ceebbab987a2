"""The workspace (reused buffers, kept draws) and worker threads change no number."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sim import Cell
from sim.engine import bytes_per_sample, reserve_bytes, simulate_betas, workers_for, workers_within
from sim.weights import WeightSource
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


@pytest.mark.parametrize("init,width", [("iid", 6), ("fgn", 6), ("shared", 6), ("fgn", 72), ("iid", 130)])
def test_worker_threads_change_no_number(init: str, width: int) -> None:
    """One torch thread (one worker) and two (two workers) give bitwise the same results, narrow
    cells and wide ones (widths past the blocked kernels' 64 and 128)."""
    cell = SWEEP.replace(init=init, hurst=0.7 if init == "fgn" else None, samples=7 if width < 64 else 3,
                         width=width, depth=SWEEP.depth if width < 64 else 6)
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


def test_workers_are_as_many_as_the_budget_holds_whole_samples() -> None:
    """Two workers when each half of the budget holds a sample, else one (with all threads)."""
    cell = SWEEP.replace(width=64, depth=256, samples=4)
    one = bytes_per_sample(cell, 3, False) + WeightSource.scratch_bytes(cell, 4)
    cpu = torch.device("cpu")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        roomy = 4 * one + reserve_bytes(4 * one)
        assert workers_within(cell, 3, roomy, False, False, cpu) == 2
        tight = one + one // 2 + reserve_bytes(one + one // 2)  # one sample, not two
        assert workers_within(cell, 3, tight, False, False, cpu) == 1
    finally:
        torch.set_num_threads(before)
    assert workers_for(SWEEP, torch.device("cuda")) == 1


def test_fit_releases_slots_that_would_take_a_run_over_its_budget() -> None:
    """Buffers never shrink, so a slot grown by a large cell is released before a run whose
    workers' shares it would push over the budget; slots within their share are kept."""
    cpu = torch.device("cpu")
    ws = Workspace()
    ws.buffer(0, "paths", (1000,), torch.float32, cpu)  # 4000 bytes
    ws.buffer(1, "paths", (200,), torch.float32, cpu)  # 800 bytes
    ws.fit(8000, 2)  # shares of 4000: slot 0 holds exactly its share
    assert ws.slot_bytes(0) == 4000 and ws.slot_bytes(1) == 800
    ws.fit(6000, 2)  # shares of 3000: slot 0 would reach 4000 + 3000 > 6000
    assert ws.slot_bytes(0) == 0 and ws.slot_bytes(1) == 800
    ws.buffer(0, "paths", (1000,), torch.float32, cpu)
    ws.fit(4500, 1)  # one worker: slot 0 may use 4500, so the unused slot 1 goes
    assert ws.slot_bytes(0) == 4000 and ws.slot_bytes(1) == 0
    ws.fit(10**6, 1)
    assert ws.held_bytes() == 4000
