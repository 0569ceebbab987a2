"""The layer loops' state arithmetic, shared by the Euler loop (`sim.engine`) and the Runge-Kutta and
antisymmetric loops (`sim.steppers`): unit starting states, the renormalized update and the log of
the deviation. States are (G, S, d, B): beta groups, samples, width, betas of a group."""

from __future__ import annotations

import torch


def unit_states(v: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """v (S, d) divided by its norm, repeated over the beta columns: a (G, S, d, B) state."""
    n, d = v.shape
    return (v / torch.linalg.vector_norm(v, dim=1, keepdim=True)).view(1, n, d, 1).expand(shape).contiguous()


def log_deviation(log_scale: torch.Tensor, dev: torch.Tensor) -> torch.Tensor:
    """log ||h - h_0|| relative to the start, from the log-scale and the scaled deviation."""
    return log_scale + torch.linalg.vector_norm(dev, dim=2).double().log()


# Layers between renormalizations where the activation is positively homogeneous (the state's
# scale then enters nothing but the log-norm). One layer multiplies ||h|| by at most
# 1 + alpha ||V|| ||W|| ~ 1 + 4 alpha <= 5 (alpha <= 1, spectral norms ~ 2), so 8 layers stay far
# inside float32 range (5**8 ~ 4e5), and the norm's four passes over the state are paid once in 8.
RENORM_EVERY = 8


def advance(x: torch.Tensor, dev: torch.Tensor, step: torch.Tensor, log_s: torch.Tensor,
             renorm: bool = True, dim: int = 2) -> torch.Tensor:
    """Add the layer's increment to the state x and to its deviation dev, then (if `renorm`) divide
    both by ||x|| (over the width axis `dim`, in place); returns the updated log-scale."""
    x.add_(step)
    dev.add_(step)
    if not renorm:
        return log_s
    # x is a unit state plus a few steps, so its squares cannot overflow; a plain sum of squares
    # is about 8x faster than linalg.vector_norm's reduction over this middle axis.
    norm = x.square().sum(dim, keepdim=True).sqrt_()
    x.div_(norm)
    dev.div_(norm)
    return log_s + norm.squeeze(dim).double().log()
