"""Initialisation: upstream's (HiFi-GAN's ``init_weights``) for model construction, and the trained-like spread
that ``--weights random`` uses, so that checks made with random weights can tell a right graph from a wrong one.

Upstream's init (conv weights N(0, 0.01), SnakeBeta alpha = beta = 0, torch's default biases) gives an untrained
network whose output hardly depends on its input: a speech mel and a silent mel came out within 2.6e-4 (v3) and
1.2e-4 (v4) of each other, below the fp16 check's tolerance, so a graph that ignored its input passed
``gsv-trt check``. ``spread_like_trained`` fixes that. The criterion, held by tests/test_random_weights.py on the
bundled speech clip, is what a trained vocoder does with it (re-synthesise it):

- the output depends on the input: RMS(out(speech) - out(silence)) >= 0.9 RMS(out(speech)) (a trained vocoder
  maps the silent mel ln(1e-5) to near-silence, so this ratio is ~1; upstream's init gives ~0.001);
- its level is speech's: RMS(out(speech)) within 3x of the clip's own RMS, not clipped;
- it follows the envelope: the per-frame log-energy of the output correlates >= 0.5 with that of the mel
  (a trained vocoder: ~0.9; upstream's init: -0.3).
"""

from __future__ import annotations

import math

import torch
from torch import nn

SILENT_LOG_MEL = math.log(1e-5)  # upstream's mel floor: ln(clamp(x, 1e-5)); a silent clip is this everywhere
SNAKE_LOG_STD = 0.5  # SnakeBeta log-alpha/log-beta spread: per-channel frequencies and amplitudes from ~0.4x to 2.7x
BIAS_STD = 0.01  # small, so silence stays near silence
# conv gains per role (pre: conv_pre, up: transposed convs, res: resblock convs, post: conv_post), chosen to meet
# the criterion: residual branches add a fraction of their input, so 18 chained convs per stage stay stable; v3's
# SnakeBeta adds energy at every activation, so its output conv is quieter
GAINS = {"v3": {"pre": 0.3, "up": 1.0, "res": 0.35, "post": 0.15},
         "v4": {"pre": 0.3, "up": 1.0, "res": 0.35, "post": 1.0}}


def normal_conv_init(*modules: nn.Module, std: float = 0.01) -> None:
    """N(0, std) for every conv weight under ``modules``; biases keep torch's default, as upstream's do."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.normal_(m.weight, 0.0, std)


def fan_in(conv: nn.Conv1d | nn.ConvTranspose1d) -> int:
    """Inputs summed into one output sample (a transposed conv's kernel taps spread over its stride)."""
    if isinstance(conv, nn.ConvTranspose1d):
        return max(1, conv.in_channels * conv.kernel_size[0] // conv.stride[0])
    return conv.in_channels // conv.groups * conv.kernel_size[0]


def spread_like_trained(model: nn.Module, generator: torch.Generator, gains: dict[str, float]) -> None:
    """Re-draw every parameter of a v3 BigVGAN or v4 Generator at trained-like scales (see the module docstring).

    Convs get N(0, gain / sqrt(fan_in)) with ``gains[role]`` for role ``pre``, ``up``, ``res`` and ``post``; biases
    N(0, BIAS_STD); SnakeBeta log-alpha and log-beta N(0, SNAKE_LOG_STD). ``conv_pre``'s bias is then set so that
    the silent mel maps to zero, as a trained vocoder maps silence to silence.
    """
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
                role = ("pre" if name == "conv_pre" else "post" if name == "conv_post"
                        else "up" if name.startswith("ups.") else "res")
                std = gains[role] / math.sqrt(fan_in(module))
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * BIAS_STD)
            elif hasattr(module, "alpha") and hasattr(module, "beta"):  # SnakeBeta
                for p in (module.alpha, module.beta):
                    p.copy_(torch.randn(p.shape, generator=generator) * SNAKE_LOG_STD)
        pre = model.conv_pre
        pre.bias.copy_(-SILENT_LOG_MEL * pre.weight.sum(dim=(1, 2)))
