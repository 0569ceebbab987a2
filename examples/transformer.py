"""A pre-norm transformer encoder built from torch.nn.TransformerEncoderLayer, as a user would write it.

    python -m sim.check examples/transformer.py:build --depths 4,16,64,256

Each block is x + SelfAttention(LayerNorm(x)) followed by x + MLP(LayerNorm(x)) (norm_first=True),
width 64, 4 heads, MLP width 256, PyTorch's default initialization. The embedding and the final
norm sit outside `layers`, so the check runs only the residual stream of the blocks.
"""

from __future__ import annotations

import torch
from torch import nn

WIDTH = 64
HEADS = 4
INPUT_SHAPE = (8, 16, WIDTH)  # 8 sequences of 16 tokens: the residual stream the blocks see
VOCABULARY = 100


class Encoder(nn.Module):
    """Token embedding, `depth` pre-norm encoder layers, final LayerNorm."""

    def __init__(self, depth: int, width: int = WIDTH, heads: int = HEADS):
        super().__init__()
        self.embed = nn.Embedding(VOCABULARY, width)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(width, heads, dim_feedforward=4 * width, dropout=0.0,
                                       batch_first=True, norm_first=True)
            for _ in range(depth))
        self.norm = nn.LayerNorm(width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


def build(depth: int) -> Encoder:
    """The encoder with `depth` layers."""
    return Encoder(depth)
