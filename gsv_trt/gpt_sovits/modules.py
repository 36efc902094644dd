"""What the overlay puts where upstream's CFM and vocoder were: ``nn.Module``s with upstream's call signatures.

They are modules (without parameters) so that upstream's ``.half()``, ``.float()``, ``.to()``, ``.eval()`` and
``.cpu()`` on ``vits_model`` and ``vocoder`` reach them harmlessly: the runtimes behind them keep their own compute
precision and device, and these adapters convert at the boundary (upstream hands in ``self.precision`` tensors and
gets the same dtype back).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GsvTrtError
from ..synthesis.runners import CFMRunner, VocoderRunner

MEL = 100


class AcceleratedCFM(nn.Module):
    """Upstream's ``CFM.inference(mu, x_lens, prompt, n_timesteps, temperature, inference_cfg_rate)`` on a runner.

    The noise is drawn exactly as upstream draws it (``randn([B, 100, T])`` on mu's device in mu's dtype, times the
    temperature), so the same seed gives the same noise."""

    def __init__(self, runner: CFMRunner, version: str, weights_sha256: str, device: torch.device):
        super().__init__()
        self.runner, self.version, self.weights_sha256, self.device = runner, version, weights_sha256, device

    def inference(self, mu: torch.Tensor, x_lens: torch.Tensor, prompt: torch.Tensor, n_timesteps: int,
                  temperature: float = 1.0, inference_cfg_rate: float = 0) -> torch.Tensor:
        if inference_cfg_rate:
            raise GsvTrtError(f"inference_cfg_rate={inference_cfg_rate}: the accelerated CFM runs without "
                              "classifier-free guidance (GPT-SoVITS passes 0)")
        batch, frames = mu.shape[0], mu.shape[1]
        if int(x_lens.min()) != frames:
            raise GsvTrtError(f"x_lens {x_lens.tolist()}: the accelerated CFM runs unpadded inputs only "
                              f"(every length must be the {frames} frames of mu)")
        noise = torch.randn([batch, MEL, frames], device=mu.device, dtype=mu.dtype) * temperature
        mel = self.runner(mu.float(), prompt.float(), int(n_timesteps), noise.float())
        return mel.to(mu.device, mu.dtype)

    def extra_repr(self) -> str:
        return f"{self.version}, {self.runner.info.name} {self.runner.info.precision}, " \
               f"weights sha256 {self.weights_sha256[:12]}"


class AcceleratedVocoder(nn.Module):
    """Upstream's ``vocoder(mel) -> wav [B, 1, N]`` on a runner."""

    def __init__(self, runner: VocoderRunner, version: str):
        super().__init__()
        self.runner, self.version = runner, version

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.runner(mel.float()).to(mel.device, mel.dtype)

    def extra_repr(self) -> str:
        return f"{self.version}, {self.runner.info.name} {self.runner.info.precision}"


class StockVocoder:
    """A vocoder runner over upstream's own vocoder module, for a stage that accelerates the CFM only."""

    def __init__(self, tts):
        from ..runtime.base import RuntimeInfo

        self.tts = tts
        self.info = RuntimeInfo("upstream", "fp16" if tts.precision == torch.float16 else "fp32",
                                str(tts.configs.device), "GPT-SoVITS's own vocoder")

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.tts.vocoder(mel.to(self.tts.precision)).float()
