"""A fully connected ResNet, as a user would write it: x + W2 relu(W1 x + b1) + b2 per block.

    python -m sim.check examples/mlp_resnet.py:build --depths 4,16,64,256

Width 64, hidden width 64, torch.nn.Linear's default initialization (uniform entries of variance
1/(3 fan_in), biases included), no normalization. An input layer and a head sit outside `blocks`.
"""

from __future__ import annotations

import torch
from torch import nn

WIDTH = 64
INPUT_SHAPE = (8, WIDTH)  # a batch of 8 feature vectors in the residual stream


class Block(nn.Module):
    """x + W2 relu(W1 x + b1) + b2."""

    def __init__(self, width: int):
        super().__init__()
        self.branch = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class MLPResNet(nn.Module):
    """Input layer, `depth` residual blocks, linear head."""

    def __init__(self, depth: int, inputs: int = 10, width: int = WIDTH, outputs: int = 2):
        super().__init__()
        self.stem = nn.Linear(inputs, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(depth))
        self.head = nn.Linear(width, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h)


def build(depth: int) -> MLPResNet:
    """The ResNet with `depth` blocks."""
    return MLPResNet(depth)
