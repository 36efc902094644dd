"""Random weights for a CFM that behaves like a trained one where it matters for testing a compiled engine.

Upstream's own init leaves GRN at identity (gamma = beta = 0) and gives small, near-degenerate AdaLN modulations,
so large parts of the network would not be exercised. ``spread_init`` draws every tensor from a uniform
distribution of variance-preserving scale (std 1/sqrt(fan_in), as torch's default init is uniform too), with non-zero GRN gamma/beta, LayerNorm affine
parameters around (1, 0) and AdaLN modulations of moderate size, so that activations neither vanish nor explode
over the 22 blocks and the velocity v is O(1) like a trained model's.

Criterion (tested in tests/test_cfm_model.py): the velocity's spread is O(1), and the estimator's output changes
by far more than fp16 rounding (mean |Δv| above 5 % of mean |v|, fp16 moves it by ~0.1 %) when the text features
are replaced by silence or shuffled in time, when the prompt mel, the noisy mel, t or the step size change.

Each tensor is drawn with its own numpy PCG64 stream seeded by (seed, tensor index), so the same full-size weights
can be regenerated anywhere (tests, fixture tools) without shipping them (about 5 s for the 337 M parameters).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

ADALN_GAIN = 0.5  # modulation weights relative to variance-preserving scale
BIAS_STD = 0.02


def _std(name: str, p: torch.Tensor) -> tuple[float, float]:
    """(mean, std) of the distribution for parameter ``name``."""
    if name.endswith(("grn.gamma", "grn.beta")):
        return 0.0, 0.5 if name.endswith("gamma") else 0.1
    if ".norm." in name or name.startswith("norm."):
        return (1.0, 0.1) if name.endswith("weight") else (0.0, 0.1)
    if name.endswith("bias"):
        return 0.0, BIAS_STD
    fan_in = p[0].numel()
    gain = ADALN_GAIN if ("attn_norm.linear" in name or "norm_out.linear" in name) else 1.0
    return 0.0, gain / fan_in**0.5


def spread_init(model: nn.Module, seed: int = 0) -> nn.Module:
    """Overwrite every parameter of a CFM or DiT in place (deterministic in ``seed``); returns the model."""
    with torch.no_grad():
        for index, (name, p) in enumerate(model.named_parameters()):
            name = name.removeprefix("estimator.")
            mean, std = _std(name, p)
            rng = np.random.Generator(np.random.PCG64([seed, index]))
            half_width = np.float32(std * 3**0.5)  # uniform on [-a, a] has std a/sqrt(3)
            values = rng.random(tuple(p.shape), dtype=np.float32) * (2 * half_width) - half_width + np.float32(mean)
            p.copy_(torch.from_numpy(values))
    return model
