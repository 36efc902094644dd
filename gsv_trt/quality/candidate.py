"""What ``gsv-trt quality`` compares against the reference: an exported ONNX, a built engine, or one of the PyTorch
modes (``eager-fp16``, ``torch-fast-bf16``...). Files say which vocoder and weights they hold; those must be the
ones the reference is built from, or the comparison would measure the weights, not the optimisation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import GsvTrtError
from ..runtime.base import Vocoder

MODES = {"eager": "torch-eager", "torch-fast": "torch-fast"}
PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class CandidateSpec:
    """A parsed CANDIDATE argument and what its file (if any) says it contains."""

    text: str
    kind: str  # "onnx" | "engine" | "torch-eager" | "torch-fast"
    precision: str
    path: Path | None = None
    version: str | None = None  # from the file's metadata
    weights_sha256: str | None = None
    weights: str | None = None


def parse_candidate(text: str) -> CandidateSpec:
    """``X.onnx``, ``X.plan``, ``eager-fp16`` or ``torch-fast-bf16``."""
    path = Path(text)
    if path.suffix == ".onnx":
        from ..export.metadata import read_metadata

        meta = read_metadata(path)
        return CandidateSpec(text, "onnx", meta["precision"], path, meta["vocoder"], meta["weights_sha256"],
                             meta["weights"])
    if path.suffix == ".plan":
        from ..build.sidecar import read_sidecar

        sidecar = read_sidecar(path)
        model = sidecar["model"]
        if "vocoder" not in model:
            raise GsvTrtError(f"{path}: a {model['component']} engine; gsv-trt quality compares vocoders")
        return CandidateSpec(text, "engine", sidecar["precision"], path, model["vocoder"], model["weights_sha256"],
                             sidecar["sources"]["weights"])
    mode, _, precision = text.rpartition("-")
    if mode in MODES and precision in PRECISIONS:
        return CandidateSpec(text, MODES[mode], precision)
    raise GsvTrtError(f"candidate {text!r}: expected an .onnx, a .plan, or one of "
                      + ", ".join(f"{m}-{p}" for m in MODES for p in PRECISIONS))


def check_matches(spec: CandidateSpec, version: str, weights_sha256: str | None = None) -> None:
    """Refuse a file made from another vocoder version or (when given) other weights than the reference's."""
    if spec.version is not None and spec.version != version:
        raise GsvTrtError(f"{spec.path}: holds the {spec.version} vocoder, but --version {version} was given")
    if weights_sha256 is not None and spec.weights_sha256 is not None and spec.weights_sha256 != weights_sha256:
        held = "random weights" if spec.weights_sha256 == "random" else f"weights {spec.weights}"
        raise GsvTrtError(f"{spec.path}: was made from {held} (sha256 {spec.weights_sha256[:12]}); pass the same "
                          "--weights so the reference uses them too")


def runtime_note(runtime: Vocoder) -> str:
    """What a score of ``runtime`` does not show: ONNX Runtime's CPU provider runs fp16 graphs largely in fp32."""
    from ..export.vocoder.check import cpu_half_caveat

    caveat = cpu_half_caveat(runtime.info.precision)
    if runtime.info.name == "onnxruntime" and runtime.info.device == "cpu" and caveat:
        return f"caution: {caveat}"
    return ""


def engine_cannot_run(plan: Path) -> str | None:
    """Why the engine at ``plan`` cannot run on this machine (the TensorRT runtime's own compatibility rules read
    against its sidecar: GPU compute capability, TensorRT flavour and version), or None when it can."""
    from ..build.sidecar import read_sidecar
    from ..runtime.vocoder.trt_engine import problems_here

    return "; ".join(problems_here(read_sidecar(plan))) or None


def open_candidate(spec: CandidateSpec, loaded, device: str) -> Vocoder:
    """The runtime for ``spec``; an engine that cannot run here is refused with the reason and the alternative."""
    if spec.kind == "onnx":
        from ..runtime.vocoder.onnx_runtime import OnnxRuntimeVocoder

        return OnnxRuntimeVocoder(spec.path)
    if spec.kind == "engine":
        from ..runtime.vocoder.trt_engine import TensorRTVocoder

        reason = engine_cannot_run(spec.path)
        if reason:
            raise GsvTrtError(f"{spec.path}: cannot run here ({reason}); score the ONNX it was built from instead")
        return TensorRTVocoder(spec.path)
    if spec.kind == "torch-fast":
        from ..runtime.vocoder.torch_fast import TorchFastVocoder

        return TorchFastVocoder(loaded, spec.precision, device)
    from .evaluate import eager

    return eager(loaded, spec.precision, device)
