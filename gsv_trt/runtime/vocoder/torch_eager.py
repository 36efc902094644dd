"""PyTorch eager at fp32/fp16/bf16: the fp32 reference, and the way upstream GPT-SoVITS runs (``.half()``)."""

from __future__ import annotations

import numpy as np
import torch

from ...models.vocoder import LoadedVocoder
from ..base import RuntimeInfo, validate_mel

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


class TorchEagerVocoder:
    """The model cast whole to ``precision`` as upstream's ``is_half`` does; fp32 in and out."""

    def __init__(self, loaded: LoadedVocoder, precision: str = "fp32", device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.dtype = DTYPES[precision]
        self.hop = loaded.spec.hop
        # a private copy: casting must not change the caller's fp32 reference model
        self.model = type(loaded.model)(loaded.model.cfg).eval()
        self.model.load_state_dict(loaded.model.state_dict())
        self.model.to(self.device, self.dtype)
        self.info = RuntimeInfo("torch-eager", precision, device_name(self.device), loaded.provenance)

    @torch.inference_mode()
    def forward_tensor(self, mel: torch.Tensor) -> torch.Tensor:
        """Device tensor in, device tensor out (float32), no host round-trip and no device sync."""
        validate_mel(mel, check_finite=False)  # __call__ checks finiteness on the host
        return self.model(mel.to(self.device, self.dtype)).float()

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        validate_mel(mel)
        return self.forward_tensor(torch.from_numpy(np.ascontiguousarray(mel))).cpu().numpy()
