"""The WN encoder ``wns1`` that turns bridged content features into the CFM's condition ``fea`` [B, 512, T].

Upstream's ``Encoder`` (pre conv -> WaveNet-style ``WN`` conditioned on ``ge`` -> proj conv), with weight norm
folded into plain ``weight`` tensors at load time (the checkpoint's ``weight_g``/``weight_v`` pairs). Unlike the
text encoder it keeps its length mask: with speed != 1 upstream's mask can be one frame shorter than the features,
and the masked frame comes out as zeros.
"""

from __future__ import annotations

import torch
from torch import nn


class WN(nn.Module):
    """``n_layers`` gated dilated convs with residual and skip outputs; ``g`` [B, gin, 1] conditions every layer."""

    def __init__(self, hidden: int, kernel_size: int, dilation_rate: int, n_layers: int, gin_channels: int):
        super().__init__()
        self.hidden = hidden
        self.cond_layer = nn.Conv1d(gin_channels, 2 * hidden * n_layers, 1)
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(n_layers):
            dilation = dilation_rate**i
            self.in_layers.append(nn.Conv1d(hidden, 2 * hidden, kernel_size, dilation=dilation,
                                            padding=(kernel_size * dilation - dilation) // 2))
            self.res_skip_layers.append(nn.Conv1d(hidden, 2 * hidden if i < n_layers - 1 else hidden, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        g = self.cond_layer(g)
        h = self.hidden
        output = torch.zeros_like(x)
        last = len(self.in_layers) - 1
        for i, (in_layer, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            a = in_layer(x) + g[:, 2 * h * i: 2 * h * (i + 1)]
            acts = res_skip(torch.tanh(a[:, :h]) * torch.sigmoid(a[:, h:]))
            if i < last:
                x = (x + acts[:, :h]) * mask
                output = output + acts[:, h:]
            else:
                output = output + acts
        return output * mask


class WNEncoder(nn.Module):
    """x [B, 512, T], valid length, ge -> [B, 512, T]; frames at or past ``length`` are zero."""

    def __init__(self, channels: int = 512, kernel_size: int = 5, dilation_rate: int = 1, n_layers: int = 8,
                 gin_channels: int = 512):
        super().__init__()
        self.pre = nn.Conv1d(channels, channels, 1)
        self.enc = WN(channels, kernel_size, dilation_rate, n_layers, gin_channels)
        self.proj = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, length: int, g: torch.Tensor) -> torch.Tensor:
        mask = (torch.arange(x.shape[2], device=x.device) < length).to(x.dtype)[None, None]
        x = self.pre(x) * mask
        return self.proj(self.enc(x, mask, g)) * mask
