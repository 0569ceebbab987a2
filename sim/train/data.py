"""Small data sets for brief training: scikit-learn's bundled digits, and a teacher ResNet.

Digits: the 1797 8x8 images bundled with scikit-learn (nothing is downloaded), 64 features,
10 classes. Fixed stratified splits: 30% test (random_state=0), then 20% of the rest for
validation (random_state=1), leaving 1005 train / 252 validation / 540 test images. Features are
standardized with the training split's mean and standard deviation (constant pixels are left at 0).

Teacher: inputs x ~ N(0, I_16); targets y = B h_L of a fixed random `res3` relu ResNet (width 32,
depth 16, iid Gaussian weights, alpha = 1/4, A of N(0, 1/16) and B of N(0, 1/32) entries, seed
20261123), standardized with the training mean and deviation; 2000 / 500 / 500 points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

DATASETS = ("digits", "teacher")
_TEACHER_SEED = 20261123


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test splits as float64 numpy arrays; y holds class indices
    (classification) or (n, n_out) targets (regression)."""

    name: str
    task: str  # 'classification' or 'regression'
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_out: int

    @property
    def n_in(self) -> int:
        return int(self.x_train.shape[1])


def load_dataset(name: str) -> Dataset:
    """The named data set with its fixed splits ('digits' or 'teacher')."""
    if name == "digits":
        return _digits()
    if name == "teacher":
        return _teacher()
    raise ValueError(f"dataset={name!r} is not allowed: one of {', '.join(DATASETS)}")


def _standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [(a - mean) / std for a in (train, *others)]


def _digits() -> Dataset:
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ValueError("dataset='digits' needs scikit-learn: pip install 'resnet-regimes[train]' "
                         "(or pip install scikit-learn)") from None
    bunch = load_digits()
    x, y = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.2, stratify=y_rest,
                                                      random_state=1)
    x_train, x_val, x_test = _standardize(x_train, x_val, x_test)
    return Dataset("digits", "classification", x_train, y_train, x_val, y_val, x_test, y_test, 10)


def _teacher() -> Dataset:
    gen = torch.Generator().manual_seed(_TEACHER_SEED)
    n_in, width, depth, sizes = 16, 32, 16, (2000, 500, 500)
    x = torch.randn(sum(sizes), n_in, generator=gen, dtype=torch.float64)
    a = torch.randn(width, n_in, generator=gen, dtype=torch.float64) / math.sqrt(n_in)
    h = x @ a.T
    for _ in range(depth):
        w = torch.randn(width, width, generator=gen, dtype=torch.float64) / math.sqrt(width)
        v = torch.randn(width, width, generator=gen, dtype=torch.float64) / math.sqrt(width)
        h = h + torch.relu(h @ w.T) @ v.T / math.sqrt(depth)
    b = torch.randn(1, width, generator=gen, dtype=torch.float64) / math.sqrt(width)
    y = (h @ b.T).numpy()
    x = x.numpy()
    cut1, cut2 = sizes[0], sizes[0] + sizes[1]
    y_train, y_val, y_test = _standardize(y[:cut1], y[cut1:cut2], y[cut2:])
    return Dataset("teacher", "regression", x[:cut1], y_train, x[cut1:cut2], y_val, x[cut2:], y_test, 1)
