"""A convolutional ResNet of basic blocks without batch norm, as a user would write it.

    python -m sim.check examples/conv_resnet.py:build --depths 4,16,64,256

Each block is torchvision's BasicBlock with the batch norms removed: relu(x + conv2(relu(conv1(x))))
with 3x3 convolutions of 16 channels (the ReLU comes after the addition), PyTorch's default
initialization. The stem convolution and the head sit outside `blocks`.
"""

from __future__ import annotations

import torch
from torch import nn

CHANNELS = 16
INPUT_SHAPE = (4, CHANNELS, 8, 8)  # 4 images, 16 channels, 8 x 8 pixels in the residual stream


class BasicBlock(nn.Module):
    """relu(x + conv2(relu(conv1(x)))), no batch norm."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


class ConvResNet(nn.Module):
    """Stem convolution, `depth` basic blocks, pooled linear head."""

    def __init__(self, depth: int, channels: int = CHANNELS, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.blocks = nn.Sequential(*(BasicBlock(channels) for _ in range(depth)))
        self.head = nn.Linear(channels, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = self.blocks(torch.relu(self.stem(images)))
        return self.head(h.mean(dim=(2, 3)))


def build(depth: int) -> ConvResNet:
    """The ResNet with `depth` basic blocks."""
    return ConvResNet(depth)
