"""Activations evaluated on a renormalized state.

The engine keeps the state as h = s * x with ||x|| = 1 and the scale s tracked in log space, so
that an exploding network never overflows. A block needs sigma(h) / s = sigma(s x) / s and the
derivative sigma'(s x). For positively homogeneous sigma (relu, leaky_relu, identity) these do not
depend on s; for tanh and gelu they do, and s is clamped to [1e-15, 1e15] inside the activation,
where both functions are already saturated (tanh(s x)/s ~ sign(x)/s; x Phi(s x) ~ x 1[x > 0])
for any coordinate above 1e-14 in size.
"""

from __future__ import annotations

import math

import torch

_S_MIN, _S_MAX = 1e-15, 1e15


def scaled(name: str, x: torch.Tensor, scale: torch.Tensor | None, slope: float) -> torch.Tensor:
    """sigma(s x) / s for the activation `name`; `scale` broadcasts against x (None means s = 1)."""
    if name == "relu":
        return torch.relu(x)
    if name == "identity":
        return x
    if name == "leaky_relu":
        return torch.nn.functional.leaky_relu(x, slope)
    s = torch.ones((), dtype=x.dtype, device=x.device) if scale is None else scale.clamp(_S_MIN, _S_MAX)
    if name == "tanh":
        return torch.tanh(s * x) / s
    if name == "gelu":
        return x * _normal_cdf(s * x)
    raise ValueError(f"activation={name!r} is not allowed: relu, tanh, identity, leaky_relu, gelu")


def derivative(name: str, x: torch.Tensor, scale: torch.Tensor | None, slope: float) -> torch.Tensor:
    """sigma'(s x), same shape as x."""
    if name == "relu":
        return (x > 0).to(x.dtype)
    if name == "identity":
        return torch.ones_like(x)
    if name == "leaky_relu":
        return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, slope))
    s = torch.ones((), dtype=x.dtype, device=x.device) if scale is None else scale.clamp(_S_MIN, _S_MAX)
    z = s * x
    if name == "tanh":
        return 1.0 - torch.tanh(z) ** 2
    if name == "gelu":
        return _normal_cdf(z) + z * torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    raise ValueError(f"activation={name!r} is not allowed: relu, tanh, identity, leaky_relu, gelu")


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.special.erfc(-z / math.sqrt(2.0))


def plain(name: str, x: torch.Tensor, slope: float) -> torch.Tensor:
    """sigma(x) without rescaling (reference implementations and training)."""
    return scaled(name, x, None, slope)
