"""Mixing of the noisy mel, the prompt mel and the text embedding into the transformer's width."""

from __future__ import annotations

import torch
from torch import nn


class ConvPositionEmbedding(nn.Module):
    """Two grouped convs (k31, 16 groups) with Mish over time: the DiT's only absolute position signal besides RoPE."""

    def __init__(self, dim: int, kernel_size: int = 31, groups: int = 16):
        super().__init__()
        pad = kernel_size // 2
        self.conv1d = nn.Sequential(
            nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=pad),
            nn.Mish(),
            nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=pad),
            nn.Mish(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, C]
        return self.conv1d(x.permute(0, 2, 1)).permute(0, 2, 1)


class InputEmbedding(nn.Module):
    """Linear(cat(x, prompt, text)) plus its convolutional position embedding; time-major in and out."""

    def __init__(self, mel_dim: int, text_dim: int, dim: int):
        super().__init__()
        self.proj = nn.Linear(2 * mel_dim + text_dim, dim)
        self.conv_pos_embed = ConvPositionEmbedding(dim)

    def forward(self, x: torch.Tensor, prompt: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        h = self.proj(torch.cat((x, prompt, text), dim=-1))
        return self.conv_pos_embed(h) + h
