"""The product's `res3` network as a torch.nn.Module: a reference the depth check covers exactly.

Block k is h ↦ h + V_k σ(W_k h) (docs/theory.md §1, Euler step, alpha = 1: the check's beta supplies
L^-beta), with d x d matrices of N(0, 1/d) entries along the layer index drawn as in sim.weights:
independent (`iid`), one draw for every block (`shared`), or fractional Gaussian noise of Hurst index
H along k (`fgn`, each entry an fGn path with the exact covariance, by the spectral square root of
sim.weights). Weights come from torch's global generator, which the check seeds per sample.

    from sim.check import Res3Network, depth_check
    depth_check(lambda L: Res3Network(L, width=16), [16, 64, 256], inputs=(16,))
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from sim.weights import fgn_autocovariance, spectral_root

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda x: x,
               "gelu": torch.nn.functional.gelu}
INITS = ("iid", "shared", "fgn")


class Res3Block(nn.Module):
    """h ↦ h + V σ(W h) with V, W (d x d) parameters (no bias); h is (..., d)."""

    theory_block = "res3"

    def __init__(self, width: int, activation: str = "relu"):
        super().__init__()
        self.activation = activation
        self.w = nn.Parameter(torch.empty(width, width))
        self.v = nn.Parameter(torch.empty(width, width))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + ACTIVATIONS[self.activation](h @ self.w.T) @ self.v.T


class Res3Network(nn.Module):
    """L res3 blocks in `blocks`; input and output (..., width)."""

    def __init__(self, depth: int, width: int = 16, activation: str = "relu", init: str = "iid",
                 hurst: float | None = None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not allowed: one of {', '.join(ACTIVATIONS)}")
        if init not in INITS:
            raise ValueError(f"init={init!r} is not allowed: one of {', '.join(INITS)}")
        if (init == "fgn") != (hurst is not None) or (hurst is not None and not 0 < hurst < 1):
            raise ValueError(f"hurst={hurst!r} is not allowed: a Hurst index in (0, 1) with init='fgn', "
                             "None otherwise")
        if init == "shared":
            block = Res3Block(width, activation)
            self.blocks = nn.ModuleList([block] * depth)
        else:
            self.blocks = nn.ModuleList(Res3Block(width, activation) for _ in range(depth))
        paths = _weight_paths(init, hurst, depth if init != "shared" else 1, 2 * width * width)
        with torch.no_grad():
            for k, block in enumerate(self.blocks if init != "shared" else [self.blocks[0]]):
                entries = paths[k] / math.sqrt(width)
                block.w.copy_(entries[: width * width].reshape(width, width))
                block.v.copy_(entries[width * width:].reshape(width, width))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h)
        return h


def _weight_paths(init: str, hurst: float | None, layers: int, entries: int) -> torch.Tensor:
    """(layers, entries) unit-variance paths along the layer index: independent, or fGn(H)."""
    normals = torch.randn(layers, entries, dtype=torch.float64)
    if init != "fgn":
        return normals.float()
    lags = np.abs(np.arange(layers)[:, None] - np.arange(layers)[None, :])
    root = torch.as_tensor(spectral_root(fgn_autocovariance(hurst, lags)))  # (layers, rank)
    return (root @ normals[: root.shape[1]]).float()
