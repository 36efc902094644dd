"""The text (semantic feature) embedding: a sinusoidal position table plus ConvNeXt-V2 blocks with GRN.

GRN normalises over the TIME axis, so every output frame depends on the whole sequence: the embedding must be
computed on the full chunk, and it is computed once per CFM call (it does not depend on the flow time).
"""

from __future__ import annotations

import torch
from torch import nn


def sinusoid_table(dim: int, length: int, theta: float = 10000.0) -> torch.Tensor:
    """[length, dim]: cos | sin of position · theta^(-2i/dim) (the F5-TTS text position table)."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
    angles = torch.outer(torch.arange(length), freqs).float()
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class GRN(nn.Module):
    """Global Response Normalisation: x·(1 + gamma·N) + beta, N = per-channel L2 norm over time / its channel mean."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, C]
        gx = torch.norm(x, p=2, dim=1, keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    """Depthwise conv k7 -> LayerNorm -> Linear up -> GELU -> GRN -> Linear down, residual. Time-major [B, T, C]."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.grn = GRN(hidden)
        self.pwconv2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x.transpose(1, 2)).transpose(1, 2)
        h = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(h)))))
        return x + h


class TextEmbedding(nn.Module):
    """mu [B, T, text_dim] -> [B, T, text_dim]: add the position table's first T rows, run the ConvNeXt stack."""

    def __init__(self, text_dim: int, conv_layers: int, max_pos: int, conv_mult: int = 2):
        super().__init__()
        self.max_pos = max_pos
        self.register_buffer("freqs_cis", sinusoid_table(text_dim, max_pos), persistent=False)
        self.text_blocks = nn.Sequential(*[ConvNeXtV2Block(text_dim, text_dim * conv_mult) for _ in range(conv_layers)])

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        # upstream clamps positions at max_pos - 1; callers refuse T > max_pos, so a slice is the same table
        return self.text_blocks(text + self.freqs_cis[: text.shape[1]])
