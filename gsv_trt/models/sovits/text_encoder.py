"""The SoVITS v3/v4 text encoder (``enc_p``): semantic features and phones -> content features at 50 frames/s.

Upstream's ``TextEncoder`` also computes ``proj`` (prior mean / log-std for training); inference uses only its
first output, so ``proj`` is not built here and ``enc_p.proj.*`` is ignored when loading.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attentions import Encoder
from .mrte import MRTE


class TextEncoder(nn.Module):
    """ssl [B, 768, T] (decoded tokens, 50 Hz), phones [B, T_ph], ge [B, 512, 1] -> [B, 192, T'] content.

    ``speed`` != 1 resamples the result linearly to ``int(T / speed) + 1`` frames, exactly upstream's call.
    """

    def __init__(self, n_symbols: int, ssl_dim: int = 768, hidden_channels: int = 192, filter_channels: int = 768,
                 n_heads: int = 2, n_layers: int = 6, kernel_size: int = 3, style_channels: int = 512):
        super().__init__()
        self.ssl_proj = nn.Conv1d(ssl_dim, hidden_channels, 1)
        self.encoder_ssl = Encoder(hidden_channels, filter_channels, n_heads, n_layers // 2, kernel_size)
        self.encoder_text = Encoder(hidden_channels, filter_channels, n_heads, n_layers, kernel_size)
        self.text_embedding = nn.Embedding(n_symbols, hidden_channels)
        self.mrte = MRTE(hidden_channels, style_channels)
        self.encoder2 = Encoder(hidden_channels, filter_channels, n_heads, n_layers // 2, kernel_size)

    def forward(self, ssl: torch.Tensor, phones: torch.Tensor, ge: torch.Tensor, speed: float = 1.0) -> torch.Tensor:
        y = self.encoder_ssl(self.ssl_proj(ssl))
        text = self.encoder_text(self.text_embedding(phones).transpose(1, 2))
        y = self.encoder2(self.mrte(y, text, ge))
        if speed != 1:
            y = F.interpolate(y, size=int(y.shape[-1] / speed) + 1, mode="linear")
        return y
