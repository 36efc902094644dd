"""ONNX-Runtime on an exported graph: the portable runtime, and what ``gsv-trt check`` compares against PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...export.metadata import read_metadata
from ..base import RuntimeInfo, validate_mel


class OnnxRuntimeVocoder:
    """Runs a graph written by ``gsv-trt export``; CUDA provider when onnxruntime-gpu can use it, else CPU."""

    def __init__(self, onnx_path: str | Path, providers: list[str] | None = None):
        import onnxruntime as ort

        meta = read_metadata(onnx_path)
        available = ort.get_available_providers()
        wanted = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self.session = ort.InferenceSession(str(onnx_path), providers=wanted)
        self.hop = int(meta["hop"])
        provider = self.session.get_providers()[0]
        device = "cuda" if provider == "CUDAExecutionProvider" else "cpu"
        self.info = RuntimeInfo("onnxruntime", meta["precision"], device,
                                f"{provider}, {Path(onnx_path).name}, weights {meta['weights']}")

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        validate_mel(mel)
        return self.session.run(["wav"], {"mel": mel})[0]
