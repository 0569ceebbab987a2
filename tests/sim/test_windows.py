"""fgn weights served by windows of layers when a sample's whole paths exceed the memory budget:
the same numbers as whole paths, bitwise, at the cost of one generation per window served."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sim import Cell, weights
from sim.engine import QUANTITIES, memory_plan, samples_per_chunk, simulate, simulate_betas
from sim.weights import WeightSource
from sim.workspace import workspace

CPU = torch.device("cpu")


def _cell(**kw) -> Cell:
    base = dict(block="res3", activation="relu", init="fgn", hurst=0.3, width=12, depth=30, samples=3,
                beta=0.5, seed=5)
    base.update(kw)
    return Cell(**base)


def window_budget(cell: Cell, window: int, n_beta: int = 1, trajectory: bool = False) -> int:
    """The smallest budget under which the memory plan serves windows of `window` layers."""
    def enough(budget: int) -> bool:
        try:
            got = memory_plan(cell, n_beta, budget, trajectory)[1]
        except ValueError:
            return False
        return got is None or got >= window

    lo, hi = 1, 2**34
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid + 1, hi)
    assert memory_plan(cell, n_beta, lo, trajectory)[1] == window
    return lo


@pytest.mark.parametrize("block,stepper", [("res3", "euler"), ("res1", "euler"), ("res3", "heun")])
@pytest.mark.parametrize("window", [1, 7, 29])
def test_windows_are_the_whole_paths_bitwise(block: str, stepper: str, window: int) -> None:
    cell = _cell(block=block, stepper=stepper)
    whole = WeightSource(cell, range(3), CPU, torch.float32)
    parts = WeightSource(cell, range(3), CPU, torch.float32, window=window)
    assert parts.windowed and parts.n_blocks == -(-cell.weight_layers // window)
    v, w = whole.layers()
    pv, pw = parts.layers()
    assert torch.equal(v, pv)
    assert (w is None and pw is None) or torch.equal(w, pw)
    assert whole.generations == 1 and parts.generations == parts.n_blocks


def test_windows_through_the_spectral_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the circulant embedding is refused, the exact spectral root serves windows too."""
    monkeypatch.setattr(weights, "circulant_eigenvalues", lambda hurst, length: None)
    cell = _cell(hurst=0.8, depth=20)
    v, w = WeightSource(cell, range(2), CPU, torch.float64).layers()
    pv, pw = WeightSource(cell, range(2), CPU, torch.float64, window=6).layers()
    assert torch.equal(v, pv) and torch.equal(w, pw)


@pytest.mark.parametrize("init,window", [("iid", 4), ("fbm", 4), ("smooth", 4), ("fgn", 0)])
def test_window_is_refused_where_not_supported(init: str, window: int) -> None:
    extra = {"smooth": {"hurst": None, "lengthscale": 0.1}, "iid": {"hurst": None}}.get(init, {})
    cell = _cell(init=init, **extra)
    with pytest.raises(ValueError, match=f"window={window} is not allowed"):
        WeightSource(cell, range(1), CPU, torch.float32, window=window)


@pytest.mark.parametrize("stepper", ["euler", "rk4"])
@pytest.mark.parametrize("window", [1, 8])
def test_simulate_under_a_small_budget_gives_the_same_numbers(stepper: str, window: int) -> None:
    cell = _cell(stepper=stepper, samples=4)
    betas = [0.3, 0.5, 0.9]
    ref = simulate_betas(cell, betas, trajectory=True)
    budget = window_budget(cell, window, len(betas), trajectory=True)
    with pytest.raises(ValueError):  # the whole paths of one sample do not fit
        samples_per_chunk(cell.replace(init="fbm", hurst=0.3), len(betas), budget, True)
    got = simulate_betas(cell, betas, trajectory=True, max_memory=budget)
    for r, g in zip(ref, got, strict=True):
        for q in QUANTITIES:
            np.testing.assert_array_equal(r.logs[q], g.logs[q])
        for name in r.trajectory:
            np.testing.assert_array_equal(r.trajectory[name], g.trajectory[name])


def test_euler_generates_each_window_once_forward_and_once_more_backward(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """W windows cost 2W - 1 generations per sample: the last forward window serves the first
    backward one."""
    served = []
    original = WeightSource._fgn_window

    def counting(self: WeightSource, b: int) -> torch.Tensor:
        served.append(b)
        return original(self, b)

    monkeypatch.setattr(WeightSource, "_fgn_window", counting)
    cell = _cell(samples=2)
    budget = window_budget(cell, 10)
    simulate(cell, max_memory=budget)
    assert served == [0, 1, 2, 1, 0] * 2  # two samples, one at a time


def test_windowed_cells_keep_no_draws() -> None:
    """A workspace that keeps fGn draws across H does not keep them for windowed cells (they would
    cost more than the paths), and the numbers are unchanged."""
    cell = _cell(samples=2)
    budget = window_budget(cell, 10)
    ref = [simulate(cell.replace(hurst=h)).logs for h in (0.3, 0.6)]
    with workspace(keep_draws=True) as ws:
        got = [simulate(cell.replace(hurst=h), max_memory=budget).logs for h in (0.3, 0.6)]
        assert all(not held for _, held in ws._draws.values())
    for r, g in zip(ref, got, strict=True):
        for q in QUANTITIES:
            np.testing.assert_array_equal(r[q], g[q])


def test_budget_below_one_layer_is_refused_with_what_it_needs() -> None:
    cell = _cell()
    smallest = window_budget(cell, 1)
    with pytest.raises(ValueError, match=r"max_memory=\d+ bytes is not allowed for res3 relu fgn.*one sample needs"):
        memory_plan(cell, 1, smallest - 1)
    # other inits are not windowed: a budget below one sample's whole paths is refused
    with pytest.raises(ValueError, match="max_memory="):
        memory_plan(cell.replace(init="fbm"), 1, smallest)
