"""2x up- and down-sampling with the Kaiser-sinc FIR, in an export-friendly form.

Upstream builds the depthwise weight per call with ``filter.expand(C, -1, -1)`` from the runtime shape; here the
channel count is fixed at construction, so the exported graph holds a constant [C, 1, K] weight and no Expand.
The arithmetic (replicate pad, grouped conv / transposed conv, gain, crop) is the same as upstream's.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .filter import kaiser_sinc_filter1d


class LowPassFilter1d(nn.Module):
    """Replicate-padded depthwise FIR, optionally strided (the anti-aliasing half of downsampling)."""

    def __init__(self, channels: int, cutoff: float = 0.5, half_width: float = 0.6, stride: int = 1,
                 kernel_size: int = 12):
        super().__init__()
        self.channels = channels
        self.stride = stride
        self.pad_left = kernel_size // 2 - int(kernel_size % 2 == 0)
        self.pad_right = kernel_size // 2
        self.register_buffer("filter", kaiser_sinc_filter1d(cutoff, half_width, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(self.channels, -1, -1), stride=self.stride, groups=self.channels)


class UpSample1d(nn.Module):
    """Zero-stuffing 2x upsampler: transposed depthwise FIR, gain ``ratio``, edges cropped."""

    def __init__(self, channels: int, ratio: int = 2, kernel_size: int = 12):
        super().__init__()
        self.channels = channels
        self.ratio = ratio
        self.pad = kernel_size // ratio - 1
        self.crop_left = self.pad * ratio + (kernel_size - ratio) // 2
        self.crop_right = self.pad * ratio + (kernel_size - ratio + 1) // 2
        self.register_buffer("filter", kaiser_sinc_filter1d(0.5 / ratio, 0.6 / ratio, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        weight = self.filter.expand(self.channels, -1, -1)
        x = self.ratio * F.conv_transpose1d(x, weight, stride=self.ratio, groups=self.channels)
        return x[..., self.crop_left : -self.crop_right]


class DownSample1d(nn.Module):
    """Low-pass then keep every ``ratio``-th sample (one strided depthwise conv)."""

    def __init__(self, channels: int, ratio: int = 2, kernel_size: int = 12):
        super().__init__()
        self.lowpass = LowPassFilter1d(channels, 0.5 / ratio, 0.6 / ratio, ratio, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)
