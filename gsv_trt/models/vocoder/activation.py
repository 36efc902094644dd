"""SnakeBeta and the anti-aliased activation (upsample 2x -> SnakeBeta -> downsample 2x) of BigVGAN-v2."""

import torch
from torch import nn

from .resample import DownSample1d, UpSample1d

SNAKE_EPS = 1e-9


class SnakeBeta(nn.Module):
    """``x + 1/(exp(beta)+eps) * sin(x*exp(alpha))^2`` with per-channel log-scale alpha, beta."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = torch.exp(self.alpha.unsqueeze(0).unsqueeze(-1))
        beta = torch.exp(self.beta.unsqueeze(0).unsqueeze(-1))
        return x + (1.0 / (beta + SNAKE_EPS)) * torch.pow(torch.sin(x * alpha), 2)


class Activation1d(nn.Module):
    """Alias-free SnakeBeta: the nonlinearity runs at twice the sample rate between two 12-tap FIRs."""

    def __init__(self, channels: int):
        super().__init__()
        self.act = SnakeBeta(channels)
        self.upsample = UpSample1d(channels)
        self.downsample = DownSample1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))
