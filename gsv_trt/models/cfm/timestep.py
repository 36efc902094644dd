"""Embedding of a scalar per batch item (the flow time t, or the Euler step size d) into the model width."""

from __future__ import annotations

import math

import torch
from torch import nn


class SinusPositionEmbedding(nn.Module):
    """[B] -> [B, dim]: sin | cos of 1000·x at geometric frequencies. Computed in fp32, then cast to x's dtype."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor, scale: float = 1000.0) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, device=x.device).float() * -(math.log(10000) / (half - 1)))
        angles = scale * x.unsqueeze(1) * freqs.unsqueeze(0)
        return torch.cat((angles.sin(), angles.cos()), dim=-1).to(x.dtype)


class TimestepEmbedding(nn.Module):
    """Sinusoid (256) -> Linear -> SiLU -> Linear (dim)."""

    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.time_embed = SinusPositionEmbedding(freq_dim)
        self.time_mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.time_mlp(self.time_embed(t))
