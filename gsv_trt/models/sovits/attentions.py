"""The SoVITS text encoder's transformer pieces: channels-first LayerNorm, multi-head attention with VITS-style
relative positions, the conv FFN, and the post-norm ``Encoder`` stack built from them.

Parameter names are upstream's (``module/attentions.py``), so ``enc_p.*`` of a SoVITS checkpoint loads strictly.
Inference only: no dropout, and no masks — at inference every sequence is one utterance with all frames valid
(upstream's masks are all ones there, and multiplying by one changes nothing).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    """LayerNorm over the channel axis of a [B, C, T] tensor (parameters ``gamma``/``beta``)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.transpose(1, -1), (x.shape[1],), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


def _relative_index(length: int, window: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """For query i and key j: the embedding row ``j - i + window`` (clamped) and whether |j - i| <= window."""
    pos = torch.arange(length, device=device)
    offset = pos[None, :] - pos[:, None]
    return (offset + window).clamp(0, 2 * window), offset.abs() <= window


class MultiHeadAttention(nn.Module):
    """Multi-head attention over [B, C, T] with 1x1 conv projections.

    With ``window_size`` (self-attention in the Encoder) each head adds relative-position terms: key embeddings
    for offsets -w..w to the logits and value embeddings to the output, shared by all heads (``emb_rel_k``,
    ``emb_rel_v``: [1, 2w+1, C/heads]); farther offsets get none. Without it (MRTE's cross-attention) it is plain
    scaled dot-product attention.
    """

    def __init__(self, channels: int, out_channels: int, n_heads: int, window_size: int | None = None):
        super().__init__()
        assert channels % n_heads == 0
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        if window_size is not None:
            rows = 2 * window_size + 1
            self.emb_rel_k = nn.Parameter(torch.randn(1, rows, self.k_channels) * self.k_channels**-0.5)
            self.emb_rel_v = nn.Parameter(torch.randn(1, rows, self.k_channels) * self.k_channels**-0.5)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, T] -> [B, heads, T, C/heads]."""
        b, _, t = x.shape
        return x.view(b, self.n_heads, self.k_channels, t).transpose(2, 3)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Queries from ``x`` [B, C, T_q], keys and values from ``context`` [B, C, T_k] -> [B, C_out, T_q]."""
        q = self._heads(self.conv_q(x)) / math.sqrt(self.k_channels)
        k = self._heads(self.conv_k(context))
        v = self._heads(self.conv_v(context))
        scores = torch.matmul(q, k.transpose(-2, -1))
        if self.window_size is not None:
            assert x.shape[2] == context.shape[2], "relative positions need self-attention"
            index, near = _relative_index(x.shape[2], self.window_size, x.device)
            rel_logits = torch.matmul(q, self.emb_rel_k.transpose(-2, -1).unsqueeze(0))  # [B, h, T, 2w+1]
            rel_logits = torch.gather(rel_logits, 3, index.expand(*rel_logits.shape[:2], -1, -1))
            scores = scores + torch.where(near, rel_logits, torch.zeros((), dtype=scores.dtype, device=x.device))
        p_attn = F.softmax(scores, dim=-1)
        out = torch.matmul(p_attn, v)
        if self.window_size is not None:
            out = out + torch.matmul(self._by_offset(p_attn), self.emb_rel_v.unsqueeze(0))
        b, h, t, d = out.shape
        return self.conv_o(out.transpose(2, 3).reshape(b, h * d, t))

    def _by_offset(self, p_attn: torch.Tensor) -> torch.Tensor:
        """[B, h, T, T] attention weights -> [B, h, T, 2w+1]: column k holds the weight on key i + k - w."""
        w, t = self.window_size, p_attn.shape[-1]
        padded = F.pad(p_attn, (w, w))
        index = torch.arange(t, device=p_attn.device)[:, None] + torch.arange(2 * w + 1, device=p_attn.device)
        return torch.gather(padded, 3, index.expand(*p_attn.shape[:2], -1, -1))


class FFN(nn.Module):
    """conv -> ReLU -> conv, both "same"-padded (kernel 3 pads 1 each side)."""

    def __init__(self, channels: int, filter_channels: int, kernel_size: int):
        super().__init__()
        self.pad = ((kernel_size - 1) // 2, kernel_size // 2)
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv_1(F.pad(x, self.pad)))
        return self.conv_2(F.pad(x, self.pad))


class Encoder(nn.Module):
    """``n_layers`` post-norm blocks: x = norm(x + attn(x)); x = norm(x + ffn(x)). Relative window 4."""

    def __init__(self, channels: int, filter_channels: int, n_heads: int, n_layers: int, kernel_size: int,
                 window_size: int = 4):
        super().__init__()
        self.attn_layers = nn.ModuleList(
            MultiHeadAttention(channels, channels, n_heads, window_size) for _ in range(n_layers))
        self.norm_layers_1 = nn.ModuleList(LayerNorm(channels) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(FFN(channels, filter_channels, kernel_size) for _ in range(n_layers))
        self.norm_layers_2 = nn.ModuleList(LayerNorm(channels) for _ in range(n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, norm_1, ffn, norm_2 in zip(self.attn_layers, self.norm_layers_1, self.ffn_layers,
                                             self.norm_layers_2):
            x = norm_1(x + attn(x, x))
            x = norm_2(x + ffn(x))
        return x
