"""MRTE (multi-reference timbre encoder): the phones attend to the semantic frames' content, and the reference
style vector ``ge`` is added, inside the SoVITS text encoder (``enc_p.mrte``; upstream ``module/mrte_model.py``)."""

from __future__ import annotations

import torch
from torch import nn

from .attentions import MultiHeadAttention


class MRTE(nn.Module):
    """ssl [B, 192, T] and text [B, 192, T_ph] -> [B, 192, T]: c_post(cross_attn(ssl', text') + ssl' + ge)."""

    def __init__(self, content_channels: int = 192, hidden_channels: int = 512, n_heads: int = 4):
        super().__init__()
        self.cross_attention = MultiHeadAttention(hidden_channels, hidden_channels, n_heads)
        self.c_pre = nn.Conv1d(content_channels, hidden_channels, 1)
        self.text_pre = nn.Conv1d(content_channels, hidden_channels, 1)
        self.c_post = nn.Conv1d(hidden_channels, content_channels, 1)

    def forward(self, ssl: torch.Tensor, text: torch.Tensor, ge: torch.Tensor) -> torch.Tensor:
        """``ge``: the reference style [B, 512, 1], broadcast over frames."""
        ssl = self.c_pre(ssl)
        x = self.cross_attention(ssl, self.text_pre(text)) + ssl + ge
        return self.c_post(x)
