"""Band-limited resampling exactly as ``torchaudio.transforms.Resample`` with its defaults (windowed sinc, Hann
window, 6 zero crossings, roll-off 0.99), which is what GPT-SoVITS uses on the reference audio. Our own code,
checked against torchaudio's (tests/fixtures/sovits_resample.npz), so the package needs no torchaudio.

Rates are reduced by their gcd; output sample j of each group of ``new`` comes from one polyphase filter applied
with stride ``orig``; the output is ``ceil(new * length / orig)`` samples.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

ZERO_CROSSINGS = 6
ROLLOFF = 0.99


@lru_cache(maxsize=16)
def sinc_kernel(orig: int, new: int) -> tuple[torch.Tensor, int]:
    """(filters [new, 1, 2*width + orig] float32, width) for gcd-reduced rates ``orig`` -> ``new``."""
    cutoff = min(orig, new) * ROLLOFF
    width = math.ceil(ZERO_CROSSINGS * orig / cutoff)
    taps = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig
    # torchaudio divides the output phases in float32 (an integer arange over an int), then adds in float64
    phases = torch.arange(0, -new, -1)[:, None, None] / new
    t = ((phases + taps) * cutoff).clamp(-ZERO_CROSSINGS, ZERO_CROSSINGS)
    window = torch.cos(t * math.pi / ZERO_CROSSINGS / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.tensor(1.0, dtype=t.dtype), t.sin() / t)
    return (sinc * (window * (cutoff / orig))).to(torch.float32), width


def resample(wav: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """[..., N] float audio at ``orig_rate`` -> [..., ceil(N * new / orig)] at ``new_rate`` (same tensor if equal)."""
    if orig_rate == new_rate:
        return wav
    gcd = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // gcd, new_rate // gcd
    kernel, width = sinc_kernel(orig, new)
    shape = wav.shape
    flat = F.pad(wav.reshape(-1, shape[-1]), (width, width + orig))
    out = F.conv1d(flat[:, None], kernel.to(wav.device, wav.dtype), stride=orig)
    out = out.transpose(1, 2).reshape(flat.shape[0], -1)[:, : math.ceil(new * shape[-1] / orig)]
    return out.reshape(*shape[:-1], -1)
