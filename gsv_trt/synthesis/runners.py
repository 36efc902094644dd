"""The runtimes the synthesis stage runs its CFM and vocoder on, behind two small call signatures.

Both take and return float32 device tensors: ``cfm(mu [B, T, 512], prompt [1, 100, P], steps, noise [B, 100, T])
-> mel [B, 100, T]`` and ``vocoder(mel [B, 100, T]) -> wav [B, 1, hop*T]``. Whatever precision a runtime computes in,
the stage sees float32. "auto" picks the fastest runtime that runs here: TensorRT where an installed TensorRT runs
on the GPU, else torch-fast on CUDA, else eager. TensorRT and ONNX-Runtime run the files of the loaded weights in
``EngineOptions.out_dir``, exported and built there first when missing (``build.engines``).

Every runner holds a lock around each call, the copy of its output out of static buffers included, so threads
sharing one stage (api_v2 runs streaming requests in worker threads) never see each other's data.
``frontend_runner`` picks the SoVITS front end's path the same way (docs/sovits-front-end.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import torch

from ..errors import GsvTrtError
from ..runtime.base import RuntimeInfo

if TYPE_CHECKING:
    from ..build.engines import Recipe
    from ..models.cfm.loader import LoadedCFM
    from ..models.sovits.frontend import SovitsFrontEnd
    from ..models.vocoder.loader import LoadedVocoder
    from ..runtime.sovits.torch_fast import TorchFastFrontEnd

RUNTIMES = ("auto", "eager", "torch-fast", "tensorrt", "onnxruntime")


@dataclass(frozen=True)
class EngineOptions:
    """Where the TensorRT engines and ONNX graphs of the loaded weights live, and how missing engines are built
    (GPT-SoVITS's ``engine_dir``, ``tensorrt_workspace_size`` and ``tensorrt_max_batch_size`` map onto it).
    ``force``: rebuild, and replace files made from other weights."""

    out_dir: Path = Path("engines")
    workspace_bytes: int | None = None  # TensorRT builder workspace limit; None: TensorRT's default
    max_batch: int | None = None  # the CFM's "batched" profile and the vocoder's "short" one; None: 8
    force: bool = False


class CFMRunner(Protocol):
    info: RuntimeInfo

    def __call__(self, mu: torch.Tensor, prompt: torch.Tensor, steps: int, noise: torch.Tensor) -> torch.Tensor: ...


class VocoderRunner(Protocol):
    info: RuntimeInfo

    def __call__(self, mel: torch.Tensor) -> torch.Tensor: ...


def tensorrt_problem(device: torch.device) -> str | None:
    """Why no installed TensorRT can run engines on ``device``; None when one can (full TensorRT builds for and runs
    on any GPU it is on; TensorRT-RTX runs on the compute capabilities it supports, not Hopper)."""
    from ..build.flavour import RTX_RUNS_ON, Flavour, installed

    if device.type != "cuda":
        return f"needs a CUDA GPU (device is {device})"
    try:
        from ..runtime import cuda
    except ImportError as e:  # e.g. in a GPT-SoVITS environment with the project installed without its extras
        return f"cuda-python is not importable ({e}), and TensorRT runs through it"
    gpu = cuda.gpu_info(device.index or 0)
    if gpu is None:
        return f"needs a CUDA GPU ({cuda.no_gpu_reason() or 'none found'})"
    found = installed()
    if isinstance(found["tensorrt"], Flavour):
        return None
    if isinstance(found["rtx"], Flavour):
        if gpu.cc in RTX_RUNS_ON:
            return None
        return (f"no TensorRT runtime can run engines on this GPU ({gpu.name}, compute capability {gpu.cc}: "
                f"TensorRT-RTX runs on {'/'.join(RTX_RUNS_ON)} only, and full TensorRT is not installed)")
    return f"no TensorRT installed ({found['tensorrt']})"


def resolve_runtime(runtime: str, device: torch.device) -> str:
    """The runtime "auto" means on ``device``; a named one that cannot run there is refused in one line."""
    if runtime not in RUNTIMES:
        raise GsvTrtError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if runtime == "auto":
        if device.type == "cuda":
            return "tensorrt" if tensorrt_problem(device) is None else "torch-fast"
        return "eager"
    if runtime == "tensorrt":
        problem = tensorrt_problem(device)
        if problem:
            raise GsvTrtError(f"runtime tensorrt: {problem}")
    if runtime == "onnxruntime":
        try:
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise GsvTrtError(f"runtime onnxruntime: not importable here ({e})") from None
    if runtime == "torch-fast" and device.type != "cuda":
        raise GsvTrtError(f"runtime torch-fast: needs a CUDA GPU (device is {device})")
    return runtime


class Locked:
    """One runtime behind a lock: each call, the copy of its output included, runs alone."""

    def __init__(self, call: Callable, info: RuntimeInfo, runtime: object):
        self._call, self.info, self.runtime = call, info, runtime
        self._lock = threading.Lock()

    def __call__(self, *args) -> torch.Tensor:
        with self._lock:
            return self._call(*args)


def recipe_for(precision: str, device: torch.device, engines: EngineOptions) -> "Recipe":
    """How the runners make missing files: ``engines``' sizes, the default profiles, checked graphs."""
    from ..build.engines import Recipe, sized

    gpu = None
    if device.type == "cuda":
        from ..runtime.cuda import gpu_info

        gpu = gpu_info(device.index or 0)
    return Recipe(precision, sized(engines.workspace_bytes, engines.max_batch), force=engines.force, gpu=gpu)


def _compile_cache(engines: EngineOptions | None) -> Path:
    """torch-fast's compiled code lives beside the engines (runtime/compile_cache.py)."""
    return (engines or EngineOptions()).out_dir / "torch-fast-cache"


def cfm_runner(loaded: "LoadedCFM", runtime: str, precision: str, device: torch.device,
               engines: EngineOptions | None = None) -> CFMRunner:
    """The CFM of ``loaded`` on ``runtime`` ("auto": the fastest here) in ``precision``; float32 in and out."""
    device = torch.device(device)
    runtime = resolve_runtime(runtime, device)
    if runtime == "torch-fast":
        from ..runtime.cfm.torch_fast import FastOptions, TorchFastCFM

        # one graph per step: the same speed as whole-loop graphs (BENCHMARKS.md), and a last chunk or stream piece
        # of a new length costs a 0.02 s capture instead of 0.1-0.9 s
        options = FastOptions(precision=precision, graph_scope="step")
        fast = TorchFastCFM(loaded.model.estimator, options, device, loaded.provenance,
                            cache_dir=_compile_cache(engines))
        return Locked(fast.inference, fast.info, fast)  # inference returns a fresh tensor, not its static buffer
    from ..runtime.cfm import euler

    if runtime == "eager":
        from ..runtime.cfm.torch_eager import TorchEagerCFM

        estimator = TorchEagerCFM(loaded, precision, device)

        def run(mu, prompt, steps, noise):
            e = estimator
            return euler.inference(e, mu.to(e.device, e.dtype), prompt.to(e.device, e.dtype), steps,
                                   noise.to(e.device, e.dtype)).float()  # the loop in the compute precision

        return Locked(run, estimator.info, estimator)
    from ..build import engines as files

    engines = engines or EngineOptions()
    recipe = recipe_for(precision, device, engines)
    if runtime == "tensorrt":
        from ..build.profiles import DEFAULT_MAX_BATCH
        from ..runtime.cfm.trt_engine import TensorRTCFM

        (_, _), (step, _) = files.cfm_engines(loaded, engines.out_dir, recipe)
        estimator = TensorRTCFM(step, device=device.index or 0, weights_sha256=loaded.weights_sha256)
        most = engines.max_batch or DEFAULT_MAX_BATCH  # the engine's batch limit
    else:
        from ..runtime.cfm.onnx_runtime import OnnxRuntimeCFM

        _, step = files.cfm_onnx(loaded, engines.out_dir, recipe)
        providers = ["CPUExecutionProvider"] if device.type == "cpu" else None
        estimator = OnnxRuntimeCFM(step, providers, weights_sha256=loaded.weights_sha256)
        most = None

    def run_files(mu, prompt, steps, noise):
        """More chunks than the engine's largest batch run in groups (each chunk's Euler loop is its own)."""
        groups = [slice(None)] if most is None else [slice(i, i + most) for i in range(0, mu.shape[0], most)]
        mels = [euler.inference(estimator, mu[g].float(), prompt.float(), steps, noise[g].float()) for g in groups]
        return torch.cat(mels).to(device)

    return Locked(run_files, estimator.info, estimator)


def vocoder_runner(loaded: "LoadedVocoder", runtime: str, precision: str, device: torch.device,
                   engines: EngineOptions | None = None, compile: str = "none") -> VocoderRunner:
    """The vocoder of ``loaded`` on ``runtime`` ("auto": the fastest here) in ``precision``; float32 in and out.
    ``compile``: torch-fast's torch.compile mode. The stage meets new lengths at any time (segments, stream pieces),
    so it keeps the hand-fused path ("none"): a new length bucket is captured in under 0.1 s, where torch.compile
    stalls 16-19 s on each (45-90 s in a first synthesis call on the H200) for about 1 ms less a call
    (docs/torch-fast.md)."""
    device = torch.device(device)
    runtime = resolve_runtime(runtime, device)
    if runtime == "torch-fast":
        from ..runtime.vocoder.torch_fast import TorchFastVocoder

        fast = TorchFastVocoder(loaded, precision, device, use_compile=compile, cache_dir=_compile_cache(engines))
        return Locked(fast.forward_tensor, fast.info, fast)  # forward_tensor copies out of the graph's buffer
    if runtime == "eager":
        from ..runtime.vocoder.torch_eager import TorchEagerVocoder

        eager = TorchEagerVocoder(loaded, precision, device)
        return Locked(eager.forward_tensor, eager.info, eager)
    from ..build import engines as files

    engines = engines or EngineOptions()
    recipe = recipe_for(precision, device, engines)
    if runtime == "tensorrt":
        from ..runtime.vocoder.trt_engine import TensorRTVocoder

        plan, _ = files.vocoder_engine(loaded, engines.out_dir, recipe)
        engine = TensorRTVocoder(plan, device.index or 0)
        return Locked(lambda mel: engine.infer(mel.float().contiguous()), engine.info, engine)
    from ..runtime.vocoder.onnx_runtime import OnnxRuntimeVocoder

    onnx = files.vocoder_onnx(loaded, engines.out_dir, recipe)
    graph = OnnxRuntimeVocoder(onnx, ["CPUExecutionProvider"] if device.type == "cpu" else None)

    def run(mel: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(graph(mel.detach().float().cpu().numpy())).to(device)

    return Locked(run, graph.info, graph)


def frontend_runner(model: "SovitsFrontEnd", runtime: str, device: torch.device, provenance: str = "",
                    precision: str = "fp32") -> tuple["SovitsFrontEnd | TorchFastFrontEnd", RuntimeInfo]:
    """The SoVITS front end (fp32 tensors) and what runs it: torch-fast's CUDA graphs on a GPU when the runtime is
    torch-fast or TensorRT (no engine is made of the front end; torch-fast is its fastest path), with TF32 convs
    and matmuls unless ``precision`` is fp32 (the stage's fp16/bf16: upstream's ``is_half`` runs it in fp16);
    else the plain model eager. Thread-safe either way: the fast one locks its static buffers, the plain one keeps
    none."""
    device = torch.device(device)
    runtime = resolve_runtime(runtime, device)
    if device.type == "cuda" and runtime in ("torch-fast", "tensorrt"):
        from ..runtime.sovits.torch_fast import TorchFastFrontEnd

        fast = TorchFastFrontEnd(model.to(device), provenance, tf32=precision != "fp32")
        return fast, fast.info
    from ..runtime.cfm.torch_eager import device_name

    return model, RuntimeInfo("torch-eager", "fp32", device_name(device), provenance)
