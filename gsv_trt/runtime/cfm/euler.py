"""``inference``: upstream's ``CFM.inference`` (inference_cfg_rate = 0) over any CFMEstimator.

The inputs are checked here (``models.cfm.validate``: one-line errors), the noise is drawn as upstream draws it when
none is given, and the loop itself is the model's (``models.cfm.euler``), so every runtime runs the same arithmetic.
"""

from __future__ import annotations

import warnings

import torch

from ...models.cfm.config import FULL_DIT
from ...models.cfm.euler import euler_solve
from ...models.cfm.validate import UntrainedStepsWarning, check_inputs, check_steps
from .base import Array, CFMEstimator

MEL = 100


def draw_noise(mu: Array) -> Array:
    """Upstream's draw: ``torch.randn([B, 100, T], device=mu.device, dtype=mu.dtype)``; numpy mu: on the CPU, float32."""
    batch, frames = mu.shape[0], mu.shape[1]
    if isinstance(mu, torch.Tensor):
        return torch.randn([batch, MEL, frames], device=mu.device, dtype=mu.dtype)
    return torch.randn([batch, MEL, frames]).numpy()


def inference(estimator: CFMEstimator, mu: Array, prompt: Array, steps: int, noise: Array | None = None,
              temperature: float = 1.0) -> Array:
    """mu [B, T, 512] time-major, prompt [1|B, 100, T_prompt], noise [B, 100, T] or None -> mel [B, 100, T].

    All arrays of one kind and dtype (numpy: float32). The prompt region of the result is zero, as upstream's is."""
    warning = check_steps(steps)
    if warning:
        warnings.warn(warning, UntrainedStepsWarning, stacklevel=2)
    cfg = getattr(estimator, "config", FULL_DIT)
    on_device = isinstance(mu, torch.Tensor) and mu.device.type != "cpu"
    dtype = str(mu.dtype).replace("torch.", "") if isinstance(mu, torch.Tensor) else "float32"
    check_inputs(mu, prompt, noise, text_dim=cfg.text_dim, max_frames=cfg.max_pos, dtype=dtype,
                 check_finite=not on_device)
    if noise is None:
        noise = draw_noise(mu)
    return euler_solve(estimator.condition, estimator.step, mu, prompt, noise * temperature, steps)
