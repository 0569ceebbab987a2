"""ResNet layers as explicit Runge-Kutta steps: Euler, Heun and RK4, forward and backward.

A layer advances the state by one step of size alpha = alpha_L along the field of the block,

    f_t(h) = V_t sigma(W_t h)  (res3),  V_t sigma(h)  (res1),  V_t h  (linear),
    f_t(h) = sigma((K_t - K_t^T - gamma I) h)  (antisym),

with a Butcher tableau (c, a, b): stage i evaluates f at layer time k + c_i on
Y_i = h_k + alpha sum_j a_ij F_j, and h_{k+1} = h_k + alpha sum_i b_i F_i. The weights at a
fractional layer time are interpolated linearly between layers k and k + 1 (the field of a
piecewise-linear weight path), so Heun's second stage uses the weights of layer k + 1 exactly as
h_{k+1} = h_k + (alpha/2)(f_k(h_k) + f_{k+1}(h_k + alpha f_k(h_k))), and RK4's middle stages the
average of the two layers. With 'shared' weights every stage sees the same matrices and a linear
field gives h_{k+1} = R(alpha A) h_k, R the stepper's stability polynomial.

`run_chunk` is the engine's loop for these layers (same state layout, renormalization and manual
backward as `sim.engine`); `integrate` applies a tableau to a plain ODE y' = f(t, y) (used to
check each stepper's order of convergence).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from sim import activations
from sim.cell import Cell
from sim.states import DeviationShift, advance, log_deviation, unit_states


@dataclass(frozen=True)
class Tableau:
    """An explicit Runge-Kutta method: nodes c, strictly lower-triangular a (row i has i entries),
    weights b, and the declared order of convergence."""

    name: str
    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    order: int

    @property
    def stages(self) -> int:
        return len(self.b)


TABLEAUX = {
    "euler": Tableau("euler", (0.0,), ((),), (1.0,), 1),
    "heun": Tableau("heun", (0.0, 1.0), ((), (1.0,)), (0.5, 0.5), 2),
    "rk4": Tableau("rk4", (0.0, 0.5, 0.5, 1.0), ((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
                   (1 / 6, 1 / 3, 1 / 3, 1 / 6), 4),
}


def tableau(stepper: str) -> Tableau:
    """The tableau of a stepper name; ValueError naming the allowed ones."""
    if stepper not in TABLEAUX:
        raise ValueError(f"stepper={stepper!r} is not allowed: one of {', '.join(TABLEAUX)}")
    return TABLEAUX[stepper]


def integrate(f: Callable[[float, torch.Tensor], torch.Tensor], y0: torch.Tensor, t0: float, t1: float,
              steps: int, stepper: str) -> torch.Tensor:
    """y(t1) for y' = f(t, y), y(t0) = y0, by `steps` equal steps of the stepper (any shape of y)."""
    if steps < 1:
        raise ValueError(f"steps={steps!r} is not allowed: expected an integer >= 1")
    tab = tableau(stepper)
    h = (t1 - t0) / steps
    y = y0
    for n in range(steps):
        t = t0 + n * h
        slopes: list[torch.Tensor] = []
        for i in range(tab.stages):
            y_i = y + h * sum((a * s for a, s in zip(tab.a[i], slopes, strict=True) if a), torch.zeros_like(y))
            slopes.append(f(t + tab.c[i] * h, y_i))
        y = y + h * sum(b * s for b, s in zip(tab.b, slopes, strict=True))
    return y


# ------------------------------------------------------------------------------ the fields
def field_matrices(cell: Cell, v: torch.Tensor, w: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """The matrices a block's field uses at one layer, (S, d, d) each: (V, W) for res3, (V,) for
    res1 and linear, (A,) = (K - K^T - gamma I,) for antisym (K served as v)."""
    if cell.block == "res3":
        return v, w
    if cell.block == "antisym":
        a = v - v.transpose(-1, -2)
        if cell.damping:
            a.diagonal(dim1=-2, dim2=-1).sub_(cell.damping)
        return (a,)
    return (v,)


def _blocks_matmul(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """m @ x[g] for every beta block g: m (S, d, d), x (G, S, d, B) -> (G, S, d, B)."""
    return torch.stack([torch.matmul(m, x[g]) for g in range(x.shape[0])])


def _field(cell: Cell, mats: tuple[torch.Tensor, ...], y: torch.Tensor,
           scale: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """f(y) and sigma'(pre) (None when sigma' is constant or absent); y (G, S, d, B)."""
    act, slope, block = cell.activation, cell.negative_slope, cell.block
    if block == "linear":
        return _blocks_matmul(mats[0], y), None
    pre = _blocks_matmul(mats[1], y) if block == "res3" else (_blocks_matmul(mats[0], y) if block == "antisym" else y)
    z = activations.scaled(act, pre, scale, slope)
    deriv = None if act == "identity" else activations.derivative(act, pre, scale, slope)
    if block == "antisym":
        return z, deriv
    return _blocks_matmul(mats[0], z), deriv


def _field_transpose(cell: Cell, mats: tuple[torch.Tensor, ...], deriv: torch.Tensor | None,
                     g: torch.Tensor) -> torch.Tensor:
    """J^T g for the field's Jacobian J at the stage where `deriv` was stored; g (G, S, d, B)."""
    block = cell.block
    if block == "antisym":
        g = g if deriv is None else g * deriv
        return _blocks_matmul(mats[0].transpose(-1, -2), g)
    g = _blocks_matmul(mats[0].transpose(-1, -2), g)
    if deriv is not None:
        g = g * deriv
    if block == "res3":
        g = _blocks_matmul(mats[1].transpose(-1, -2), g)
    return g


class _StageWeights:
    """Field matrices at layer times k + c: layers k and k + 1 prepared once each, their average
    for c = 1/2; the matrices of layer k + 1 are kept for the next step."""

    def __init__(self, cell: Cell, source) -> None:
        self.cell, self.source = cell, source
        self._prepared: dict[int, tuple[torch.Tensor, ...]] = {}

    def layer(self, k: int) -> tuple[torch.Tensor, ...]:
        if k not in self._prepared:
            if len(self._prepared) >= 2:
                self._prepared.pop(next(iter(self._prepared)))
            self._prepared[k] = field_matrices(self.cell, *self.source.layer(k))
        return self._prepared[k]

    def stages(self, k: int, nodes: tuple[float, ...]) -> list[tuple[torch.Tensor, ...]]:
        out, middle = [], None
        for c in nodes:
            if c == 0.0:
                out.append(self.layer(k))
            elif c == 1.0:
                out.append(self.layer(k + 1))
            else:
                if middle is None:
                    middle = tuple(0.5 * (p + q) for p, q in zip(self.layer(k), self.layer(k + 1), strict=True))
                out.append(middle)
        return out


def stage_state_count(cell: Cell) -> int:
    """Extra state-sized tensors a step holds (stage slopes, stage states, adjoints): for the
    engine's memory accounting."""
    return 3 * tableau(cell.stepper).stages + 2


def run_chunk(cell: Cell, source, h0: torch.Tensor, u: torch.Tensor, alpha: torch.Tensor,
              base: torch.Tensor, trajectory: bool):
    """Forward then backward through all layers for one chunk, any block and stepper.

    alpha: (G, 1, 1, B) beta blocks of alphas; base: (1, S, 1) log ||h_0||. Returns the final
    (fwd, diff, bwd, bwd_diff) log tensors (G, S, B) and the trajectories (L+1, G, S, B) or None.
    """
    tab = tableau(cell.stepper)
    n, d = h0.shape[0], cell.width
    shape = (alpha.shape[0], n, d, alpha.shape[-1])
    dtype, device = h0.dtype, h0.device
    weights = _StageWeights(cell, source)
    needs_scale = not cell.homogeneous

    x = unit_states(h0, shape)
    dev = torch.zeros(shape, dtype=dtype, device=device)
    shift = DeviationShift()
    log_s = torch.zeros(shape[0], n, shape[-1], dtype=torch.float64, device=device)
    derivs: list[list[torch.Tensor | None]] = []
    log_h = torch.zeros((cell.depth + 1, *log_s.shape), dtype=torch.float64, device=device) if trajectory else None

    for k in range(cell.depth):
        scale = (base + log_s).exp().to(dtype).unsqueeze(2) if needs_scale else None
        mats = weights.stages(k, tab.c)
        slopes: list[torch.Tensor] = []
        stage_derivs: list[torch.Tensor | None] = []
        for i in range(tab.stages):
            y = x
            for a_ij, s_j in zip(tab.a[i], slopes, strict=True):
                if a_ij:
                    y = y + (alpha * a_ij) * s_j
            f, deriv = _field(cell, mats[i], y, scale)
            slopes.append(f)
            stage_derivs.append(deriv)
        derivs.append(stage_derivs)
        step = sum(b_i * s_i for b_i, s_i in zip(tab.b, slopes, strict=True)) * alpha
        log_s = advance(x, dev, step, log_s, shift=shift)
        if log_h is not None:
            log_h[k + 1] = log_s

    fwd = log_s
    diff = log_deviation(log_s, dev, shift)

    p = unit_states(u, shape)
    pdev = torch.zeros_like(p)
    pshift = DeviationShift()
    log_q = torch.zeros_like(log_s)
    log_p = torch.zeros_like(log_h) if trajectory else None
    for k in reversed(range(cell.depth)):
        mats = weights.stages(k, tab.c)
        adjoints: list[torch.Tensor | None] = [None] * tab.stages  # d loss / d Y_i
        for i in reversed(range(tab.stages)):
            # d loss / d F_i: through h_{k+1} (weight b_i) and through later stage states Y_j
            slope_adj = p * tab.b[i]
            for j in range(i + 1, tab.stages):
                a_ji = tab.a[j][i]
                if a_ji:
                    slope_adj = slope_adj + a_ji * adjoints[j]
            adjoints[i] = _field_transpose(cell, mats[i], derivs[k][i], slope_adj * alpha)
        derivs[k] = []
        g = sum(adjoints)
        log_q = advance(p, pdev, g, log_q, shift=pshift)
        if log_p is not None:
            log_p[k] = log_q

    bwd = log_q
    bwd_diff = log_deviation(log_q, pdev, pshift)
    return (fwd, diff, bwd, bwd_diff), log_h, log_p


def reference_forward_backward(cell: Cell, v: torch.Tensor, w: torch.Tensor | None,
                               h0: torch.Tensor, u: torch.Tensor) -> dict[str, torch.Tensor]:
    """Plain autograd implementation of any block and stepper (no renormalization), for tests.

    v, w: (S, cell.weight_layers, d, d) (K as v for antisym); h0, u: (S, d). Returns (S,) logs of
    the four quantities. Overflows for exploding cells: small, non-exploding cells only.
    """
    tab = tableau(cell.stepper)
    alpha = cell.alpha
    h0 = h0.clone().requires_grad_(True)

    def f(mats: tuple[torch.Tensor, ...], y: torch.Tensor) -> torch.Tensor:
        sigma = (lambda z: z) if cell.block == "linear" else (
            lambda z: activations.plain(cell.activation, z, cell.negative_slope))
        if cell.block == "res3":
            return mats[0] @ sigma(mats[1] @ y)
        if cell.block == "antisym":
            return sigma(mats[0] @ y)
        return mats[0] @ sigma(y)

    def at(k: int, c: float) -> tuple[torch.Tensor, ...]:
        def weight(t: torch.Tensor | None, j: int) -> torch.Tensor | None:
            return None if t is None else t[:, j]
        lo = field_matrices(cell, weight(v, k), weight(w, k))
        if c == 0.0:
            return lo
        hi = field_matrices(cell, weight(v, k + 1), weight(w, k + 1))
        return tuple((1 - c) * p + c * q for p, q in zip(lo, hi, strict=True))

    h = h0.unsqueeze(-1)
    for k in range(cell.depth):
        slopes: list[torch.Tensor] = []
        for i in range(tab.stages):
            y = h + alpha * sum((a * s for a, s in zip(tab.a[i], slopes, strict=True)), torch.zeros_like(h))
            slopes.append(f(at(k, tab.c[i]), y))
        h = h + alpha * sum(b * s for b, s in zip(tab.b, slopes, strict=True))
    h = h.squeeze(-1)
    (grad,) = torch.autograd.grad((h * u).sum(), h0)
    n0 = torch.linalg.vector_norm(h0, dim=1)
    nu = torch.linalg.vector_norm(u, dim=1)
    with torch.no_grad():
        return {
            "fwd": (torch.linalg.vector_norm(h, dim=1) / n0).log(),
            "diff": (torch.linalg.vector_norm(h - h0, dim=1) / n0).log(),
            "bwd": (torch.linalg.vector_norm(grad, dim=1) / nu).log(),
            "bwd_diff": (torch.linalg.vector_norm(grad - u, dim=1) / nu).log(),
        }
