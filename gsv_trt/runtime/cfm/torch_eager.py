"""PyTorch eager CFM estimator at fp32/fp16/bf16: the fp32 reference, and upstream's ``is_half`` run.

fp16 is computed as GPT-SoVITS does under ``is_half``: the whole model ``.half()`` (its RoPE angles and sinusoids
too), and ``inference`` runs the Euler loop itself in fp16 with fp16 noise (upstream draws ``randn`` in the features'
dtype). bf16 is the same with bfloat16 (upstream has no bf16 mode). Inputs and outputs of ``inference`` are float32.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import torch

from ...models.cfm.validate import check_inputs
from ..base import RuntimeInfo
from . import euler
from .base import Array

if TYPE_CHECKING:
    from ...models.cfm.loader import LoadedCFM

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


class TorchEagerCFM:
    """A CFMEstimator over a private copy of the model cast whole to ``precision``; numpy or torch in, same out."""

    def __init__(self, loaded: "LoadedCFM", precision: str = "fp32", device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.dtype = DTYPES[precision]
        # a private copy: casting must not change the caller's fp32 reference model
        self.model = copy.deepcopy(loaded.model).to(self.device, self.dtype).eval()
        self.config = self.model.estimator.cfg
        self.info = RuntimeInfo("torch-eager", precision, device_name(self.device), loaded.provenance)

    def _in(self, a: Array) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a
        return t.to(self.device, self.dtype)

    @staticmethod
    def _out(t: torch.Tensor, like: Array) -> Array:
        if isinstance(like, np.ndarray):
            return t.float().cpu().numpy()
        return t.to(like.device, like.dtype)

    @torch.inference_mode()
    def condition(self, mu: Array, dt: Array) -> tuple[Array, Array]:
        text, dt_emb = self.model.estimator.condition(self._in(mu), self._in(dt))
        return self._out(text, mu), self._out(dt_emb, mu)

    @torch.inference_mode()
    def step(self, x: Array, prompt_x: Array, t: Array, text: Array, dt_emb: Array) -> Array:
        v = self.model.estimator.step(self._in(x), self._in(prompt_x), self._in(t), self._in(text), self._in(dt_emb))
        return self._out(v, x)

    @torch.inference_mode()
    def inference(self, mu: np.ndarray, prompt: np.ndarray, steps: int, noise: np.ndarray | None = None,
                  temperature: float = 1.0) -> np.ndarray:
        """float32 numpy in and out; the loop runs on the device in the model's dtype, as upstream's does."""
        check_inputs(mu, prompt, noise, text_dim=self.config.text_dim, max_frames=self.config.max_pos)
        mel = euler.inference(self, self._in(mu), self._in(prompt), steps,
                              None if noise is None else self._in(noise), temperature)
        return mel.float().cpu().numpy()
