"""Brief training of a cell's sampled networks, batched across samples, and measurement again.

Every sample of the cell becomes a full network x -> A x = h_0 -> residual stack -> B h_L + c,
whose residual weights V_k, W_k start from exactly the draws `simulate(cell)` uses; A has
N(0, 1/n_in) entries, B N(0, 1/d) entries and c = 0. All networks train at once: parameters carry
a leading sample axis and the loss is the sum of the networks' own losses, so with Adam or SGD
(both elementwise) each network follows its own trajectory exactly as if trained alone.

A network whose loss or parameters become non-finite is marked diverged: its gradients are zeroed
from then on and its metrics are reported as non-finite (counted, never a crash).

Learning rates: every value of `lrs` is tried on fresh copies of the networks; the one with the
best mean validation score (accuracy for digits, minus the loss for the teacher) is kept, as is
usual practice, and test metrics are reported for it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from sim import activations
from sim.cell import Cell
from sim.device import resolve_device, resolve_dtype
from sim.engine import QUANTITIES, measure_weights
from sim.train.data import DATASETS, Dataset, load_dataset
from sim.weights import WeightSource, make_generator, substream_seed

OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: epochs, data set, learning rates to choose from, optimizer, batch size."""

    epochs: int = 5
    dataset: str = "digits"
    lrs: tuple[float, ...] = (1e-3, 1e-2)
    optimizer: str = "adam"
    batch_size: int = 64

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs={self.epochs!r} is not allowed: expected an integer >= 1")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset={self.dataset!r} is not allowed: one of {', '.join(DATASETS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r} is not allowed: one of {', '.join(OPTIMIZERS)}")
        if not self.lrs or any(not (isinstance(lr, int | float) and 0 < lr < math.inf) for lr in self.lrs):
            raise ValueError(f"lrs={self.lrs!r} is not allowed: expected one or more positive numbers")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r} is not allowed: expected an integer >= 1")
        object.__setattr__(self, "lrs", tuple(float(lr) for lr in self.lrs))


@dataclass
class TrainResult:
    """Per-sample (samples,) float64 arrays after training at the chosen learning rate.

    metrics: train_loss, train_acc, test_loss, test_acc, val_score, weight_change
        (||theta_T - theta_0|| / ||theta_0|| over V and W), v_max_norm (max_k ||V_k||_F),
        v_max_increment (max_k ||V_{k+1} - V_k||_F), v_quadratic_variation
        (sum_k ||V_{k+1} - V_k||_F^2); accuracies are NaN for the regression task.
    before / after: the four quantities of docs/theory.md §3 (natural logs) on the initial and on
        the trained residual weights, same inputs and loss directions.
    initial_test_loss: test loss of the untrained networks.
    diverged: number of networks whose loss or weights became non-finite.
    """

    cell: Cell
    config: TrainConfig
    lr: float
    metrics: dict[str, np.ndarray]
    before: dict[str, np.ndarray]
    after: dict[str, np.ndarray]
    initial_test_loss: np.ndarray
    diverged: int
    seconds: float
    lr_scores: dict[float, float] = field(default_factory=dict)


class _Networks(torch.nn.Module):
    """S independent ResNets with a leading sample axis on every parameter."""

    def __init__(self, cell: Cell, v: torch.Tensor, w: torch.Tensor | None, a: torch.Tensor,
                 b: torch.Tensor):
        super().__init__()
        self.cell = cell
        self.v = torch.nn.Parameter(v.clone())
        self.w = None if w is None else torch.nn.Parameter(w.clone())
        self.a = torch.nn.Parameter(a.clone())
        self.b = torch.nn.Parameter(b.clone())
        self.c = torch.nn.Parameter(torch.zeros(b.shape[0], b.shape[1], dtype=b.dtype, device=b.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, n_in) -> outputs (S, N, n_out)."""
        cell, alpha = self.cell, self.cell.alpha
        h = torch.einsum("sdi,ni->snd", self.a, x)
        for k in range(cell.depth):
            if cell.block == "res3":
                z = activations.plain(cell.activation, h @ self.w[:, k].transpose(-1, -2),
                                      cell.negative_slope)
            elif cell.block == "res1":
                z = activations.plain(cell.activation, h, cell.negative_slope)
            else:
                z = h
            h = h + alpha * (z @ self.v[:, k].transpose(-1, -2))
        return h @ self.b.transpose(-1, -2) + self.c[:, None, :]


def _losses(task: str, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-network mean loss (S,) and accuracy (S,) (NaN for regression)."""
    if task == "classification":
        logp = torch.log_softmax(out, dim=-1)
        loss = -logp.gather(-1, y.expand(out.shape[0], -1).unsqueeze(-1)).squeeze(-1).mean(-1)
        acc = (out.argmax(-1) == y).to(out.dtype).mean(-1)
        return loss, acc
    loss = ((out - y) ** 2).sum(-1).mean(-1)
    return loss, torch.full_like(loss, float("nan"))


def check_trainable(cell: Cell) -> None:
    """ValueError unless training covers the cell (Euler steps of res1, res3 or linear blocks)."""
    if cell.block == "antisym":
        raise ValueError("block='antisym' is not allowed for training: res1, res3 or linear")
    if cell.stepper != "euler":
        raise ValueError(f"stepper={cell.stepper!r} is not allowed for training: 'euler' only")


def train_cell(cell: Cell, config: TrainConfig, *, progress: Callable[[str], None] | None = None,
               dataset: Dataset | None = None) -> TrainResult:
    """Train the cell's `samples` networks briefly at each learning rate, keep the best on the
    validation split, and measure everything again. Deterministic for a seed on a device.

    Training covers the Euler blocks res1, res3 and linear; ValueError for the others."""
    check_trainable(cell)
    start = time.perf_counter()
    device, dtype = resolve_device(cell.device), resolve_dtype(cell.dtype)
    data = dataset or load_dataset(config.dataset)
    ids = range(cell.samples)
    v0, w0 = WeightSource(cell, ids, device, dtype).layers()
    a0, b0 = _input_output_layers(cell, data, device, dtype)
    tensors = _tensors(data, device, dtype)

    best = None
    scores: dict[float, float] = {}
    for lr in config.lrs:
        nets, diverged = _fit(cell, config, lr, v0, w0, a0, b0, tensors, data.task, progress)
        score = _score(nets, tensors, data.task, diverged)
        scores[lr] = score
        if best is None or score > best[0]:
            best = (score, lr, nets, diverged)
    _, lr, nets, diverged = best

    with torch.no_grad():
        metrics = _evaluate(nets, tensors, data.task, diverged)
        init = _Networks(cell, v0, w0, a0, b0)
        initial_test_loss, _ = _losses(data.task, init(tensors["x_test"]), tensors["y_test"])
        metrics.update(_weight_metrics(nets, v0, w0, diverged))
        before = measure_weights(cell, v0, w0, ids)
        after = measure_weights(cell, nets.v.detach(), None if nets.w is None else nets.w.detach(), ids)
        for q in QUANTITIES:
            after[q][diverged.cpu().numpy()] = np.nan
    return TrainResult(cell=cell, config=config, lr=lr, metrics=metrics, before=before, after=after,
                       initial_test_loss=initial_test_loss.double().cpu().numpy(),
                       diverged=int(diverged.sum()), seconds=time.perf_counter() - start,
                       lr_scores=scores)


def _input_output_layers(cell: Cell, data: Dataset, device: torch.device,
                         dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """A (S, d, n_in) with N(0, 1/n_in) entries and B (S, n_out, d) with N(0, 1/d) entries."""
    d, n_in, n_out = cell.width, data.n_in, data.n_out
    a = torch.empty(cell.samples, d, n_in, dtype=dtype, device=device)
    b = torch.empty(cell.samples, n_out, d, dtype=dtype, device=device)
    seed = cell.draw_seed()
    for i in range(cell.samples):
        gen = make_generator(substream_seed(seed, i, "train-layers", data.name), device)
        a[i] = torch.randn(d, n_in, generator=gen, device=device).to(dtype) / math.sqrt(n_in)
        b[i] = torch.randn(n_out, d, generator=gen, device=device).to(dtype) / math.sqrt(d)
    return a, b


def _tensors(data: Dataset, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    out = {}
    for split in ("train", "val", "test"):
        out[f"x_{split}"] = torch.as_tensor(getattr(data, f"x_{split}"), dtype=dtype, device=device)
        y = getattr(data, f"y_{split}")
        out[f"y_{split}"] = torch.as_tensor(y, device=device,
                                            dtype=torch.int64 if data.task == "classification" else dtype)
    return out


def _fit(cell: Cell, config: TrainConfig, lr: float, v0, w0, a0, b0, tensors, task: str,
         progress: Callable[[str], None] | None) -> tuple[_Networks, torch.Tensor]:
    nets = _Networks(cell, v0, w0, a0, b0)
    params = [p for p in nets.parameters()]
    opt = (torch.optim.Adam(params, lr=lr) if config.optimizer == "adam"
           else torch.optim.SGD(params, lr=lr))
    diverged = torch.zeros(cell.samples, dtype=torch.bool, device=v0.device)
    x, y = tensors["x_train"], tensors["y_train"]
    n = x.shape[0]
    gen = make_generator(substream_seed(cell.draw_seed(), "train-order", lr), torch.device("cpu"))
    for epoch in range(config.epochs):
        order = torch.randperm(n, generator=gen).to(x.device)
        for lo in range(0, n, config.batch_size):
            idx = order[lo:lo + config.batch_size]
            opt.zero_grad(set_to_none=False)
            loss, _ = _losses(task, nets(x[idx]), y[idx])
            finite = torch.isfinite(loss) & ~diverged
            diverged |= ~torch.isfinite(loss)
            if finite.any():
                loss[finite].sum().backward()
            for p in params:
                if p.grad is not None:
                    p.grad[diverged] = 0.0
                    p.grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
            opt.step()
            with torch.no_grad():
                for p in params:
                    bad = ~torch.isfinite(p.reshape(p.shape[0], -1)).all(-1)
                    diverged |= bad
        if progress is not None:
            progress(f"lr={lr:g} epoch {epoch + 1}/{config.epochs}: {int(diverged.sum())} diverged")
    return nets, diverged


@torch.no_grad()
def _score(nets: _Networks, tensors, task: str, diverged: torch.Tensor) -> float:
    """Mean validation score over all networks (a diverged network scores 0 accuracy / -inf)."""
    loss, acc = _losses(task, nets(tensors["x_val"]), tensors["y_val"])
    if task == "classification":
        acc = torch.where(diverged | ~torch.isfinite(acc), torch.zeros_like(acc), acc)
        return float(acc.mean())
    loss = torch.where(diverged | ~torch.isfinite(loss), torch.full_like(loss, math.inf), loss)
    return -float(loss.mean())


@torch.no_grad()
def _evaluate(nets: _Networks, tensors, task: str, diverged: torch.Tensor) -> dict[str, np.ndarray]:
    out = {}
    for split in ("train", "test"):
        loss, acc = _losses(task, nets(tensors[f"x_{split}"]), tensors[f"y_{split}"])
        loss = torch.where(diverged, torch.full_like(loss, math.nan), loss)
        acc = torch.where(diverged, torch.full_like(acc, math.nan), acc)
        out[f"{split}_loss"] = loss.double().cpu().numpy()
        out[f"{split}_acc"] = acc.double().cpu().numpy()
    val_loss, val_acc = _losses(task, nets(tensors["x_val"]), tensors["y_val"])
    score = val_acc if task == "classification" else -val_loss
    out["val_score"] = torch.where(diverged, torch.full_like(score, math.nan), score).double().cpu().numpy()
    return out


@torch.no_grad()
def _weight_metrics(nets: _Networks, v0: torch.Tensor, w0: torch.Tensor | None,
                    diverged: torch.Tensor) -> dict[str, np.ndarray]:
    v = nets.v.detach()
    trained = [v] + ([] if nets.w is None else [nets.w.detach()])
    initial = [v0] + ([] if w0 is None else [w0])
    change = sum(((t - i) ** 2).flatten(1).sum(1) for t, i in zip(trained, initial, strict=True))
    size = sum((i**2).flatten(1).sum(1) for i in initial)
    layer_norms = torch.linalg.matrix_norm(v)  # (S, L) Frobenius
    if v.shape[1] > 1:
        increments = torch.linalg.matrix_norm(v[:, 1:] - v[:, :-1])
    else:  # a single layer has no increments
        increments = torch.zeros_like(v[:, :1, 0, 0])
    out = {
        "weight_change": (change / size).sqrt(),
        "v_max_norm": layer_norms.amax(1),
        "v_max_increment": increments.amax(1),
        "v_quadratic_variation": (increments**2).sum(1),
    }
    return {k: torch.where(diverged, torch.full_like(t, math.nan), t).double().cpu().numpy()
            for k, t in out.items()}
