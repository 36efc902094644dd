"""Kaiser-windowed sinc low-pass filter: the 12-tap anti-aliasing FIR of BigVGAN-v2.

The taps are a pure function of (cutoff, half_width, kernel_size); upstream stores them as buffers in the
checkpoint anyway, so our modules keep the same buffer names and shapes.
"""

import math

import torch


def kaiser_beta(half_size: int, half_width: float) -> float:
    """Kaiser window beta for the attenuation implied by the transition band (Kaiser's empirical formula)."""
    attenuation = 2.285 * (half_size - 1) * math.pi * (4 * half_width) + 7.95
    if attenuation > 50.0:
        return 0.1102 * (attenuation - 8.7)
    if attenuation >= 21.0:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    return 0.0


def kaiser_sinc_filter1d(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    """Low-pass FIR taps, shape [1, 1, kernel_size], normalised to unit DC gain."""
    half_size = kernel_size // 2
    window = torch.kaiser_window(kernel_size, beta=kaiser_beta(half_size, half_width), periodic=False)
    if kernel_size % 2 == 0:
        time = torch.arange(-half_size, half_size) + 0.5
    else:
        time = torch.arange(kernel_size) - half_size
    if cutoff == 0:
        return torch.zeros(1, 1, kernel_size)
    taps = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
    taps /= taps.sum()
    return taps.view(1, 1, kernel_size)
