"""Rotary position embedding as x_transformers computes it for F5-TTS: interleaved pairs (x0, x1), (x2, x3) ...

The angles are computed in the dtype of the ``inv_freq`` buffer, so a model cast with ``.half()`` computes them in
fp16 as upstream's ``is_half`` does. ``inv_freq`` is a persistent buffer, as upstream's, so a checkpoint's (fp16-rounded)
copy is what runs.
"""

from __future__ import annotations

import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    def __init__(self, dim: int, base: float = 10000.0):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)))

    def forward(self, seq_len: int) -> torch.Tensor:
        """[1, T, dim] angles, each frequency repeated for the two members of its pair."""
        pos = torch.arange(seq_len, device=self.inv_freq.device).type_as(self.inv_freq)
        angles = pos[:, None] * self.inv_freq[None, :]
        return torch.stack((angles, angles), dim=-1).flatten(-2)[None]


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(dim=-1)
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate the first ``angles.shape[-1]`` channels of x [B, T, C]; the rest pass unchanged.

    Applied before the head split, so with C = heads·dim_head only head 0 is rotated (inherited from F5-TTS)."""
    width = angles.shape[-1]
    rot, rest = x[..., :width], x[..., width:]
    rot = rot * angles.cos() + rotate_pairs(rot) * angles.sin()
    return torch.cat((rot, rest), dim=-1).type(x.dtype)
