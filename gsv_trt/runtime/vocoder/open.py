"""``open_vocoder``: the one way to open any vocoder runtime and call it, from Python and from ``gsv-trt vocode``.

    from gsv_trt import open_vocoder
    voc = open_vocoder("engines/gpt-sovits-v4-vocoder-fp16-random.plan")   # or X.onnx, "eager", "torch-fast"
    wav = voc(mel)        # numpy [B, 100, T] or [100, T] -> numpy [B, 1, hop*T]; a CUDA tensor -> a CUDA tensor

A file (``.onnx``, ``.plan``) says which vocoder and weights it holds; the PyTorch runtimes take ``version`` and
``weights``. Mels of another float dtype (float64 from numpy maths, float16 from an fp16 pipeline) are converted to
float32 with a warning rather than refused: every runtime computes from float32 input.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import GsvTrtError
from ..base import MEL_BANDS, RuntimeInfo

RUNTIMES = ("eager", "torch-fast", "onnxruntime", "tensorrt")
SUFFIX_RUNTIME = {".onnx": "onnxruntime", ".plan": "tensorrt"}
RUNTIME_ALIASES = {"torch-eager": "eager", "ort": "onnxruntime", "trt": "tensorrt"}
DEFAULT_PRECISION = {"eager": "fp32", "torch-fast": "fp16"}


@dataclass(frozen=True)
class Source:
    """What ``open_vocoder`` was asked to open, resolved: which runtime, file, vocoder version and weights."""

    runtime: str
    path: Path | None
    version: str
    weights: str  # "random" or where the weights came from
    weights_sha256: str
    precision: str
    hop: int
    sample_rate: int

    @property
    def is_random(self) -> bool:
        return self.weights_sha256 == "random"


def resolve(what: str | Path, version: str | None = None) -> tuple[str, Path | None]:
    """(runtime, file) for ``what``: a ``.onnx`` / ``.plan`` path or a runtime name; checks names and suffixes,
    reads nothing."""
    text = str(what)
    name = RUNTIME_ALIASES.get(text, text)
    if name in ("eager", "torch-fast"):
        if version is None:
            raise GsvTrtError(f"{name}: say which vocoder (version='v3' or 'v4'; --version on the command line)")
        return name, None
    path = Path(what)
    runtime = SUFFIX_RUNTIME.get(path.suffix)
    if runtime is None:
        raise GsvTrtError(f"{text}: expected an .onnx graph, a .plan engine, or one of {', '.join(RUNTIMES)}")
    if not path.is_file():
        raise GsvTrtError(f"{path}: no such file")
    return runtime, path


def describe_file(runtime: str, path: Path) -> dict[str, str]:
    """The vocoder fields an ``.onnx`` (its metadata) or ``.plan`` (its sidecar) records."""
    if runtime == "onnxruntime":
        from ...export.metadata import read_metadata

        meta = read_metadata(path)
        if meta.get("component", "vocoder") != "vocoder":
            raise GsvTrtError(f"{path}: holds the {meta['component']} graph, not a vocoder")
        return {k: meta[k] for k in ("vocoder", "weights", "weights_sha256", "precision", "hop", "sample_rate")}
    from ...build.sidecar import read_sidecar

    sidecar = read_sidecar(path)
    model = sidecar["model"]
    if "vocoder" not in model:
        raise GsvTrtError(f"{path}: its sidecar describes no vocoder engine")
    return {"vocoder": model["vocoder"], "weights": sidecar["sources"]["weights"],
            "weights_sha256": model["weights_sha256"], "precision": sidecar["precision"], "hop": model["hop"],
            "sample_rate": model["sample_rate"]}


class OpenedVocoder:
    """Any runtime behind one call: numpy in, numpy out; a torch tensor in, a torch tensor out on its device."""

    def __init__(self, runtime, source: Source):
        self.runtime = runtime
        self.source = source
        self.info: RuntimeInfo = runtime.info
        self.hop = source.hop
        self.sample_rate = source.sample_rate

    @property
    def provenance(self) -> str:
        """Which runtime and weights make this output; says RANDOM for random weights."""
        weights = ("RANDOM weights (not a trained vocoder: its output is not speech)" if self.source.is_random
                   else f"weights {self.source.weights} (sha256 {self.source.weights_sha256[:12]})")
        return f"{self.info.name} {self.info.precision} on {self.info.device}, {self.source.version}, {weights}"

    def __call__(self, mel):
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(mel, torch.Tensor):
            return self._call_tensor(torch, mel)
        return self.runtime(as_float32_mel(np.asarray(mel)))

    def _call_tensor(self, torch, mel):
        mel = as_float32_mel(mel)
        if mel.is_cuda and hasattr(self.runtime, "forward_tensor"):
            return self.runtime.forward_tensor(mel)
        if mel.is_cuda and hasattr(self.runtime, "infer"):  # TensorRT reads and writes CUDA tensors in place
            return self.runtime.infer(mel)
        out = self.runtime(mel.detach().cpu().numpy())
        return torch.from_numpy(out).to(mel.device)

    def close(self) -> None:
        close = getattr(self.runtime, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "OpenedVocoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def as_float32_mel(mel):
    """``mel`` as float32 [B, 100, T]: a single [100, T] mel gains its batch axis; another float dtype is converted
    with a warning (numpy arrays and torch tensors alike)."""
    shape = tuple(mel.shape)
    if len(shape) == 2 and shape[0] == MEL_BANDS:
        mel = mel[None]
    dtype = str(mel.dtype).replace("torch.", "")
    if dtype in ("float64", "float16", "bfloat16"):
        warnings.warn(f"mel: {dtype} converted to float32 (the vocoders compute from float32 input)", stacklevel=3)
        mel = mel.astype(np.float32) if isinstance(mel, np.ndarray) else mel.float()
    return mel


def open_vocoder(what: str | Path, version: str | None = None, weights: str | Path = "random",
                 precision: str | None = None, device: str = "auto",
                 gpt_sovits_root: str | Path | None = None, compile: str = "none") -> OpenedVocoder:
    """Open a vocoder runtime.

    ``what``: an ``.onnx`` graph (ONNX Runtime: CUDA when onnxruntime-gpu can, else CPU), a ``.plan`` engine
    (TensorRT, GPU), ``"eager"`` (upstream's PyTorch eager, any device) or ``"torch-fast"`` (fused PyTorch, CUDA).
    ``version``/``weights``/``gpt_sovits_root`` pick the PyTorch runtimes' vocoder (a file carries its own, and a
    ``version`` that disagrees with it is refused). ``precision``: the PyTorch runtimes' compute precision (default
    fp32 eager, fp16 torch-fast); a file has its own. ``device``: ``auto`` (the GPU if torch sees one), ``cpu``,
    ``cuda`` or ``cuda:N``. ``compile``: torch-fast's torch.compile mode. ``"none"`` (the default) keeps its
    hand-fused path: a new length bucket is captured in under 0.1 s and its Triton kernels are cached on disk, so a
    (re)started process serves its first output in seconds. ``"default"`` compiles each bucket (about 1 ms faster a
    call, 15-26 s per bucket on first use, ~12 s after a restart: docs/torch-fast.md, BENCHMARKS.md §6).
    """
    runtime, path = resolve(what, version)
    if compile != "none" and runtime != "torch-fast":
        raise GsvTrtError(f"compile mode {compile!r}: only the torch-fast runtime compiles, not {runtime}")
    if path is not None:
        fields = describe_file(runtime, path)
        if version is not None and version != fields["vocoder"]:
            raise GsvTrtError(f"{path}: holds the {fields['vocoder']} vocoder, but version {version} was asked for")
        if precision is not None and precision != fields["precision"]:
            raise GsvTrtError(f"{path}: computes in {fields['precision']}; its precision is fixed when it is "
                              f"exported or built, not {precision}")
        source = Source(runtime, path, fields["vocoder"], fields["weights"], fields["weights_sha256"],
                        fields["precision"], int(fields["hop"]), int(fields["sample_rate"]))
        return OpenedVocoder(_open_file(runtime, path, device), source)
    from ...models.vocoder import load_vocoder

    precision = precision or DEFAULT_PRECISION[runtime]
    loaded = load_vocoder(version, weights, gpt_sovits_root)
    source = Source(runtime, None, version, loaded.weights, loaded.weights_sha256, precision, loaded.spec.hop,
                    loaded.spec.sample_rate)
    return OpenedVocoder(_open_torch(runtime, loaded, precision, device, compile), source)


def torch_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; anything else as given."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _open_file(runtime: str, path: Path, device: str):
    if runtime == "onnxruntime":
        from .onnx_runtime import OnnxRuntimeVocoder

        providers = ["CPUExecutionProvider"] if device == "cpu" else None
        return OnnxRuntimeVocoder(path, providers)
    if device == "cpu":
        raise GsvTrtError(f"{path}: a TensorRT engine runs on a GPU, not on device cpu")
    from .trt_engine import TensorRTVocoder

    index = int(device.split(":")[1]) if device.startswith("cuda:") else 0
    return TensorRTVocoder(path, index)


def _open_torch(runtime: str, loaded, precision: str, device: str, compile: str):
    if runtime == "eager":
        from .torch_eager import TorchEagerVocoder

        return TorchEagerVocoder(loaded, precision, torch_device(device))
    from .torch_fast import TorchFastVocoder

    return TorchFastVocoder(loaded, precision, torch_device(device), use_compile=compile)
