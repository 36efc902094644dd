"""The reference style encoder (``ref_enc``, upstream's ``MelStyleEncoder``): the first 704 bins of the reference's
linear spectrogram -> one style vector ``ge`` [B, 512, 1] that conditions MRTE and the WN encoder.

Names mirror upstream (``spectral.0.fc``, ``temporal.0.conv1.conv``, ``slf_attn.w_qs`` ...). No mask: the reference
is one clip with every frame valid, which is how upstream calls it (its mask is all ones).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LinearNorm(nn.Module):
    """A Linear under the attribute ``fc`` (upstream's wrapper; the spectral-norm option is unused)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class ConvNorm(nn.Module):
    """A "same"-padded Conv1d under the attribute ``conv``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Conv1dGLU(nn.Module):
    """x + a * sigmoid(b), where [a; b] = conv(x)."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.conv1 = ConvNorm(channels, 2 * channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv1(x).chunk(2, dim=1)
        return x + a * torch.sigmoid(b)


class StyleSelfAttention(nn.Module):
    """Multi-head self-attention over [B, T, C] with a residual; scores scaled by sqrt(C), not sqrt(C/heads),
    as upstream's ``ScaledDotProductAttention(temperature=d_model ** 0.5)``."""

    def __init__(self, n_heads: int, channels: int):
        super().__init__()
        self.n_heads = n_heads
        self.w_qs = nn.Linear(channels, channels)
        self.w_ks = nn.Linear(channels, channels)
        self.w_vs = nn.Linear(channels, channels)
        self.fc = nn.Linear(channels, channels)
        self.temperature = math.sqrt(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape

        def heads(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.n_heads, c // self.n_heads).transpose(1, 2)

        q, k, v = heads(self.w_qs(x)), heads(self.w_ks(x)), heads(self.w_vs(x))
        attn = F.softmax(torch.matmul(q, k.transpose(-2, -1)) / self.temperature, dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, t, c)
        return self.fc(out) + x


class MelStyleEncoder(nn.Module):
    """spec [B, 704, T] -> ge [B, 512, 1]: per-frame MLP (Mish), two gated convs, self-attention, projection,
    then the mean over frames."""

    def __init__(self, in_channels: int = 704, hidden: int = 128, out_channels: int = 512, kernel_size: int = 5,
                 n_heads: int = 2):
        super().__init__()
        self.spectral = nn.Sequential(LinearNorm(in_channels, hidden), nn.Mish(), nn.Identity(),
                                      LinearNorm(hidden, hidden), nn.Mish(), nn.Identity())  # Identity: dropout
        self.temporal = nn.Sequential(Conv1dGLU(hidden, kernel_size), Conv1dGLU(hidden, kernel_size))
        self.slf_attn = StyleSelfAttention(n_heads, hidden)
        self.fc = LinearNorm(hidden, out_channels)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        x = self.spectral(spec.transpose(1, 2))
        x = self.temporal(x.transpose(1, 2)).transpose(1, 2)
        x = self.fc(self.slf_attn(x))
        return (x / x.shape[1]).sum(dim=1).unsqueeze(-1)  # upstream's masked mean: divide, then sum
