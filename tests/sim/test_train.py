"""Brief training: it learns in the non-trivial regime, reports divergence as data, is
deterministic, and uses fixed, documented data splits."""

from __future__ import annotations

import numpy as np
import pytest

from sim import Cell
from sim.train import TrainConfig, train_cell
from sim.train.data import load_dataset


def test_training_lowers_test_loss_in_nontrivial_regime() -> None:
    cell = Cell(block="res3", activation="relu", init="iid", depth=16, width=32, samples=4, beta=0.5)
    res = train_cell(cell, TrainConfig(epochs=2, lrs=(1e-2,)))
    assert res.diverged == 0
    assert np.all(res.metrics["test_loss"] < 0.3 * res.initial_test_loss)
    assert np.all(res.metrics["test_acc"] > 0.8)
    for q, values in res.after.items():
        assert np.isfinite(values).all(), q
    assert np.all(res.metrics["weight_change"] > 0)


def test_explode_regime_is_reported_as_divergence_not_a_crash() -> None:
    """beta = 0 at L = 512: h_L ~ e^(L c / 2) overflows float32 at the first forward pass."""
    cell = Cell(block="res3", activation="relu", init="iid", depth=512, width=16, samples=3, beta=0.0)
    res = train_cell(cell, TrainConfig(epochs=1, lrs=(1e-3,)))
    assert res.diverged == 3
    assert np.isnan(res.metrics["test_loss"]).all()
    assert np.isfinite(res.before["fwd"]).all() and res.before["fwd"].min() > 50


def test_same_seed_same_trained_metrics() -> None:
    cell = Cell(block="res1", activation="relu", init="fgn", hurst=0.7, depth=8, width=16, samples=3,
                beta=0.5, seed=4)
    config = TrainConfig(epochs=1, dataset="teacher", lrs=(1e-3, 1e-2))
    a, b = train_cell(cell, config), train_cell(cell, config)
    assert a.lr == b.lr
    for key in a.metrics:
        assert np.array_equal(a.metrics[key], b.metrics[key], equal_nan=True), key
    c = train_cell(cell.replace(seed=5), config)
    assert not np.array_equal(a.metrics["test_loss"], c.metrics["test_loss"])


def test_digits_splits_are_fixed_and_standardized() -> None:
    data = load_dataset("digits")
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (1005, 252, 540)
    assert data.n_in == 64 and data.n_out == 10
    np.testing.assert_allclose(data.x_train.mean(0), 0.0, atol=1e-12)
    again = load_dataset("digits")
    assert np.array_equal(data.x_test, again.x_test) and np.array_equal(data.y_val, again.y_val)
    # stratified: every class is in every split in nearly equal proportion
    for y in (data.y_train, data.y_val, data.y_test):
        counts = np.bincount(y, minlength=10) / len(y)
        assert counts.min() > 0.08 and counts.max() < 0.12


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"epochs": 0}, "epochs=0 is not allowed"),
    ({"dataset": "mnist"}, "dataset='mnist' is not allowed"),
    ({"optimizer": "lbfgs"}, "optimizer='lbfgs' is not allowed"),
    ({"lrs": (0.1, -1.0)}, r"lrs=\(0.1, -1.0\) is not allowed"),
    ({"batch_size": 0}, "batch_size=0 is not allowed"),
])
def test_bad_training_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)
