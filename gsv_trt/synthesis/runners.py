"""The runtimes the synthesis stage runs its CFM and vocoder on, behind two small call signatures.

Both take and return float32 device tensors (no host round trip): ``cfm(mu [B, T, 512], prompt [1, 100, P], steps,
noise [B, 100, T]) -> mel [B, 100, T]`` and ``vocoder(mel [B, 100, T]) -> wav [B, 1, hop*T]``. Whatever precision a
runtime computes in, the stage sees float32. "auto" picks the fastest runtime present: torch-fast on CUDA, else
eager. (TensorRT and ONNX-Runtime are not wired into the stage yet and are refused in one line.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import torch

from ..errors import GsvTrtError
from ..runtime.base import RuntimeInfo

if TYPE_CHECKING:
    from ..models.cfm.loader import LoadedCFM
    from ..models.vocoder.loader import LoadedVocoder

RUNTIMES = ("auto", "eager", "torch-fast", "tensorrt", "onnxruntime")


class CFMRunner(Protocol):
    info: RuntimeInfo

    def __call__(self, mu: torch.Tensor, prompt: torch.Tensor, steps: int, noise: torch.Tensor) -> torch.Tensor: ...


class VocoderRunner(Protocol):
    info: RuntimeInfo

    def __call__(self, mel: torch.Tensor) -> torch.Tensor: ...


def resolve_runtime(runtime: str, device: torch.device) -> str:
    """The runtime "auto" means on ``device``; a named one that cannot run there is refused."""
    if runtime not in RUNTIMES:
        raise GsvTrtError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if runtime == "auto":
        return "torch-fast" if device.type == "cuda" else "eager"
    if runtime in ("tensorrt", "onnxruntime"):
        raise GsvTrtError(f"runtime {runtime}: not wired into the synthesis stage yet (use eager or torch-fast)")
    if runtime == "torch-fast" and device.type != "cuda":
        raise GsvTrtError(f"runtime torch-fast: needs a CUDA GPU (device is {device})")
    return runtime


class EagerCFM:
    """Our CFM in PyTorch eager; the Euler loop runs in the compute precision, as upstream's ``is_half`` does."""

    def __init__(self, loaded: "LoadedCFM", precision: str, device: torch.device):
        from ..runtime.cfm.torch_eager import TorchEagerCFM

        self.estimator = TorchEagerCFM(loaded, precision, device)
        self.info = self.estimator.info

    def __call__(self, mu: torch.Tensor, prompt: torch.Tensor, steps: int, noise: torch.Tensor) -> torch.Tensor:
        from ..runtime.cfm import euler

        e = self.estimator
        mel = euler.inference(e, mu.to(e.device, e.dtype), prompt.to(e.device, e.dtype), steps,
                              noise.to(e.device, e.dtype))
        return mel.float()


class FastCFM:
    """torch-fast: the whole Euler loop as one CUDA graph per shape."""

    def __init__(self, loaded: "LoadedCFM", precision: str, device: torch.device):
        from ..runtime.cfm.torch_fast import FastOptions, TorchFastCFM

        self.runner = TorchFastCFM(loaded.model.estimator, FastOptions(precision=precision), device,
                                   loaded.provenance)
        self.info = self.runner.info

    def __call__(self, mu: torch.Tensor, prompt: torch.Tensor, steps: int, noise: torch.Tensor) -> torch.Tensor:
        return self.runner.inference(mu, prompt, steps, noise)


class TensorVocoder:
    """Any vocoder runtime with ``forward_tensor`` (eager, torch-fast): device tensors in and out."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.info = runtime.info

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        return self.runtime.forward_tensor(mel)


def cfm_runner(loaded: "LoadedCFM", runtime: str, precision: str, device: torch.device) -> CFMRunner:
    runtime = resolve_runtime(runtime, device)
    return FastCFM(loaded, precision, device) if runtime == "torch-fast" else EagerCFM(loaded, precision, device)


def vocoder_runner(loaded: "LoadedVocoder", runtime: str, precision: str, device: torch.device) -> VocoderRunner:
    runtime = resolve_runtime(runtime, device)
    if runtime == "torch-fast":
        from ..runtime.vocoder.torch_fast import TorchFastVocoder

        return TensorVocoder(TorchFastVocoder(loaded, precision, device))
    from ..runtime.vocoder.torch_eager import TorchEagerVocoder

    return TensorVocoder(TorchEagerVocoder(loaded, precision, device))
