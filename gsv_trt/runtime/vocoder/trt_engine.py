"""A TensorRT engine (``.plan`` + sidecar) as a Vocoder: mel float32 [B, 100, T] -> waveform float32 [B, 1, hop*T].

The engine is opened by ``runtime.tensorrt.EngineFile``: the sidecar is checked against this machine first (GPU,
TensorRT flavour and version), and each optimization profile has its own execution context and stream. numpy input
goes through pinned host buffers with async copies; a torch CUDA tensor is read and written in place on torch's
current stream (no host round trip). Importing this module does not import torch: torch tensors are recognised only
when torch is already loaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ...build.profiles import Profile, pick
from ..base import RuntimeInfo, validate_mel
from ..tensorrt import EngineFile, compatibility_problems, problems_here

__all__ = ["TensorRTVocoder", "check_mel", "compatibility_problems", "problems_here"]

INPUT, OUTPUT = "mel", "wav"


def check_mel(mel: object, profiles: list[Profile]) -> int:
    """Refuse what an engine with ``profiles`` cannot take (rank, bands, dtype, T range, batch, NaN/Inf) before any
    GPU work; return the index of the profile that runs it."""
    validate_mel(mel, min_frames=min(p.frames[0] for p in profiles), max_frames=max(p.frames[2] for p in profiles),
                 max_batch=max(p.batch[2] for p in profiles))
    batch, _, frames = mel.shape  # type: ignore[attr-defined]
    return pick(profiles, batch, frames)


class TensorRTVocoder:
    """A ``.plan`` built by ``gsv-trt build``/``engine``, run on GPU ``device``."""

    def __init__(self, plan: str | Path, device: int = 0):
        self._file = EngineFile(plan, ((INPUT,), (OUTPUT,)), device)
        self.plan, self.sidecar, self.device = self._file.plan, self._file.sidecar, device
        self.hop = int(self.sidecar["model"]["hop"])
        self.profiles = self._file.profiles
        model = self.sidecar["model"]
        weights = ("RANDOM weights (not a trained vocoder)" if model["weights_sha256"] == "random"
                   else f"weights sha256 {model['weights_sha256'][:12]}")
        self.info = RuntimeInfo(self._file.runtime_name, self.sidecar["precision"], self._file.gpu.name,
                                f"{self.plan.name}, {self._file.flavour.label}, {model['vocoder']}, {weights}")

    def validate(self, mel: object) -> int:
        return check_mel(mel, self.profiles)

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        return self.infer(mel)

    def infer(self, mel):
        """numpy in, numpy out; a torch tensor in, a torch tensor out (CUDA tensors stay on the GPU)."""
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(mel, torch.Tensor):
            return self._infer_torch(torch, mel)
        index = self.validate(mel)
        batch, _, frames = mel.shape
        with self._file.lock:
            return self._file.slots[index].run_numpy({INPUT: mel}, {OUTPUT: (batch, 1, self.hop * frames)})[OUTPUT]

    def _infer_torch(self, torch, mel):
        if not mel.is_cuda:
            return torch.from_numpy(self.infer(mel.detach().numpy()))
        self._file.check_device(mel, INPUT)
        index = self.validate(mel)
        mel = mel.detach().contiguous()
        batch, _, frames = mel.shape
        wav = torch.empty((batch, 1, self.hop * frames), dtype=torch.float32, device=mel.device)
        with self._file.lock:
            self._file.slots[index].run({INPUT: (tuple(mel.shape), mel.data_ptr())},
                                        {OUTPUT: (tuple(wav.shape), wav.data_ptr())},
                                        torch.cuda.current_stream(mel.device).cuda_stream)
        return wav

    def close(self) -> None:
        """Free buffers, contexts and streams now rather than at garbage collection."""
        if hasattr(self, "_file"):
            self._file.close()

    def __enter__(self) -> "TensorRTVocoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
