"""The v4 vocoder: GPT-SoVITS's HiFi-GAN-style ``Generator`` (48 kHz, 480x), weight norm already folded.

Parameter names match ``vocoder.pth`` (upstream removes weight norm before loading it).
"""

import torch
import torch.nn.functional as F
from torch import nn

from .bigvgan import same_padding
from .config import GeneratorConfig
from .init import normal_conv_init

LRELU_SLOPE = 0.1  # inside the network; the last activation uses torch's default 0.01, as upstream does


class ResBlock1(nn.Module):
    """Per dilation: lrelu -> dilated conv -> lrelu -> conv, added to the input."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=same_padding(kernel_size, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=same_padding(kernel_size)) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = c1(F.leaky_relu(x, LRELU_SLOPE))
            x = c2(F.leaky_relu(xt, LRELU_SLOPE)) + x
        return x


class Generator(nn.Module):
    """mel [B, 100, T] (32 kHz-domain log mel) -> waveform [B, 1, 480*T] at 48 kHz."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        c0 = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(cfg.initial_channel, c0, 7, padding=3)
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(c0 // 2**i, c0 // 2 ** (i + 1), k, u, padding=(k - u) // 2)
            for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes))
        )
        self.resblocks = nn.ModuleList(
            ResBlock1(c0 // 2 ** (i + 1), k, tuple(d))
            for i in range(len(self.ups))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes)
        )
        ch = c0 // 2 ** len(self.ups)
        self.conv_post = nn.Conv1d(ch, 1, 7, padding=3, bias=cfg.is_bias)
        normal_conv_init(self.ups, self.resblocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = self.mrf(i, up(F.leaky_relu(x, LRELU_SLOPE)))
        x = self.conv_post(F.leaky_relu(x))
        return torch.tanh(x)

    def mrf(self, stage: int, x: torch.Tensor) -> torch.Tensor:
        """Multi-receptive-field fusion: the mean of stage ``stage``'s resblocks (a method of its own so that
        faster runtimes can replace a whole stage)."""
        blocks = self.resblocks[stage * self.num_kernels : (stage + 1) * self.num_kernels]
        xs = blocks[0](x)
        for block in blocks[1:]:
            xs = xs + block(x)
        return xs / self.num_kernels
