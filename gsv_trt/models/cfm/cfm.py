"""The CFM mel generator: upstream's ``CFM.inference`` over our DiT, a drop-in for ``vits_model.cfm``."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ...errors import GsvTrtError
from .config import FULL_DIT, DiTConfig
from .dit import DiT
from .euler import euler_solve
from .validate import UntrainedStepsWarning, check_inputs, check_lengths, check_steps


class CFM(nn.Module):
    """Conditional flow matching from noise to a normalised mel, conditioned on SoVITS features and a prompt mel."""

    in_channels = 100

    def __init__(self, cfg: DiTConfig = FULL_DIT):
        super().__init__()
        self.estimator = DiT(cfg)

    @torch.inference_mode()
    def inference(self, mu: torch.Tensor, x_lens, prompt: torch.Tensor, n_timesteps: int, temperature: float = 1.0,
                  inference_cfg_rate: float = 0, noise: torch.Tensor | None = None) -> torch.Tensor:
        """mu [B, T, text_dim], x_lens (all T), prompt [1|B, 100, T_prompt] -> mel [B, 100, T], in mu's dtype.

        Upstream's call and noise draw (``randn([B, 100, T], dtype=mu.dtype) * temperature``) when ``noise`` is None;
        pass ``noise`` [B, 100, T] to compare with upstream on identical noise. Classifier-free guidance
        (``inference_cfg_rate > 0``) is not implemented: GPT-SoVITS always passes 0."""
        if inference_cfg_rate > 1e-5:
            raise GsvTrtError(f"inference_cfg_rate={inference_cfg_rate}: only 0 is supported (GPT-SoVITS passes 0)")
        cfg = self.estimator.cfg
        dtype = str(mu.dtype).replace("torch.", "")
        check_inputs(mu, prompt, noise, text_dim=cfg.text_dim, max_frames=cfg.max_pos, dtype=dtype,
                     check_finite=False)
        check_lengths(x_lens, mu.shape[1])
        warning = check_steps(n_timesteps, "n_timesteps")
        if warning:
            warnings.warn(warning, UntrainedStepsWarning, stacklevel=2)
        batch, frames = mu.shape[0], mu.shape[1]
        if noise is None:
            noise = torch.randn([batch, self.in_channels, frames], device=mu.device, dtype=mu.dtype)
        est = self.estimator
        return euler_solve(est.condition, est.step, mu, prompt, noise * temperature, n_timesteps)
