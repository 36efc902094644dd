"""What every runtime offers, so the quality gate and the benchmark treat them alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import GsvTrtError

MEL_BANDS = 100


@dataclass(frozen=True)
class RuntimeInfo:
    """How a runtime's numbers were produced; printed next to every figure it yields."""

    name: str  # e.g. "torch-eager", "onnxruntime", "tensorrt", "torch-fast"
    precision: str  # fp32 | fp16 | bf16 (compute precision; I/O is always fp32)
    device: str  # e.g. "cpu", "NVIDIA H100 80GB HBM3"
    detail: str = ""  # free text: provider, engine file, buckets ...


class Vocoder(Protocol):
    """mel float32 [B, 100, T] -> waveform float32 [B, 1, hop*T]."""

    info: RuntimeInfo
    hop: int

    def __call__(self, mel: np.ndarray) -> np.ndarray: ...


def validate_mel(mel: object, min_frames: int = 1, max_frames: int | None = None, max_batch: int | None = None,
                 name: str = "mel", check_finite: bool = True) -> None:
    """Refuse what no vocoder can take: wrong rank/bands/dtype, empty, out-of-range T or B, NaN/Inf.

    Works on numpy arrays and torch tensors alike (anything with .shape, .dtype and a finiteness check). On a CUDA
    tensor the finiteness check costs a device sync, so device-tensor hot paths pass ``check_finite=False``.
    """
    shape = tuple(getattr(mel, "shape", ()))
    if len(shape) != 3 or shape[1] != MEL_BANDS:
        raise GsvTrtError(f"{name}: expected shape [B, {MEL_BANDS}, T], got {list(shape)}")
    dtype = str(getattr(mel, "dtype", type(mel)))
    if "float32" not in dtype:
        raise GsvTrtError(f"{name}: expected float32, got {dtype}")
    batch, _, frames = shape
    if batch < 1 or frames < 1:
        raise GsvTrtError(f"{name}: empty input (B={batch}, T={frames})")
    if frames < min_frames or (max_frames is not None and frames > max_frames):
        raise GsvTrtError(f"{name}: T={frames} frames is outside the supported range [{min_frames}, {max_frames}]")
    if max_batch is not None and batch > max_batch:
        raise GsvTrtError(f"{name}: batch {batch} exceeds the maximum {max_batch}")
    if not check_finite:
        return
    if isinstance(mel, np.ndarray):
        finite = bool(np.isfinite(mel).all())
    else:
        import torch

        finite = bool(torch.isfinite(mel).all())
    if not finite:
        raise GsvTrtError(f"{name}: contains NaN or Inf")
