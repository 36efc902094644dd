"""Multi-head self-attention over the whole chunk (no mask: in inference every frame is valid)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rope import apply_rope


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        inner = heads * dim_head
        self.to_q = nn.Linear(dim, inner)
        self.to_k = nn.Linear(dim, inner)
        self.to_v = nn.Linear(dim, inner)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim)])  # upstream's to_out.1 is Dropout (inactive)

    def forward(self, x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        q = apply_rope(self.to_q(x), rope)
        k = apply_rope(self.to_k(x), rope)
        v = self.to_v(x)
        q, k, v = (z.view(b, -1, self.heads, z.shape[-1] // self.heads).transpose(1, 2) for z in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(b, -1, q.shape[1] * q.shape[-1]).to(q.dtype)
        return self.to_out[0](out)
