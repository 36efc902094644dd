"""A TensorRT engine (``.plan`` + sidecar) as a Vocoder: mel float32 [B, 100, T] -> waveform float32 [B, 1, hop*T].

Before TensorRT sees the plan, the sidecar is checked against this machine: the GPU's compute capability against
the engine's targets (TensorRT-RTX does not run on Hopper), and the installed TensorRT flavour and version against
the one that built it. A mismatch is one clear line instead of a deserialization failure deep in TensorRT.

Each optimization profile gets its own execution context and stream, so a short call never pays for the long
profile's activation memory. numpy input goes through pinned host buffers with async copies; a torch CUDA tensor
is read and written in place on torch's current stream (no host round trip). Importing this module does not
import torch: torch tensors are recognised only when torch is already loaded.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np

from ...build.flavour import LABELS, RTX_RUNS_ON, Flavour, import_flavour
from ...build.profiles import MEL_BANDS, Profile, pick
from ...build.progress import BuildConsole
from ...build.sidecar import read_sidecar
from ...errors import GsvTrtError
from .. import cuda
from ..base import RuntimeInfo, validate_mel

INPUT, OUTPUT = "mel", "wav"
FLOAT32 = 4  # bytes


def compatibility_problems(sidecar: dict, gpu: cuda.GpuInfo | None, flavour: Flavour | str,
                           no_gpu: str = "no CUDA GPU") -> list[str]:
    """Why the engine ``sidecar`` describes cannot run here; empty when it can.

    ``gpu`` is this machine's GPU (None: none, ``no_gpu`` says why); ``flavour`` the installed TensorRT of the
    engine's flavour, or the reason it is not importable.
    """
    built = sidecar["tensorrt"]
    built_label = f"{LABELS[built['flavour']]} {built['version']}"
    targets = sidecar["targets"]["compute_capabilities"]
    problems = []
    if gpu is None:
        problems.append(f"{no_gpu}; TensorRT engines run on an NVIDIA GPU")
    elif gpu.cc not in targets:
        here = f"this GPU ({gpu.name}, compute capability {gpu.cc})"
        if built["flavour"] == "rtx" and gpu.cc not in RTX_RUNS_ON:
            problems.append(f"TensorRT-RTX engines run on compute capability {'/'.join(RTX_RUNS_ON)} only; {here} "
                            "is not supported: build with full TensorRT on this GPU (--trt tensorrt) or use the "
                            "PyTorch runtime")
        elif built["flavour"] == "rtx":
            problems.append(f"engine targets compute capability {', '.join(targets)}, not {here}; rebuild with "
                            f"--target-cc {gpu.cc}")
        else:
            problems.append(f"engine was built by full TensorRT for {sidecar['targets']['gpu']} (compute capability "
                            f"{', '.join(targets)}) and does not run on {here}; rebuild it on this GPU")
    if isinstance(flavour, str):
        problems.append(f"engine needs {built_label}: {flavour}")
    elif flavour.version != built["version"]:
        problems.append(f"engine was built with {built_label} but {flavour.label} is installed; an engine loads only "
                        "in the TensorRT version that built it: rebuild it here")
    return problems


def problems_here(sidecar: dict, device: int = 0) -> list[str]:
    """``compatibility_problems`` for this machine's GPU ``device`` and installed TensorRT."""
    try:
        flavour: Flavour | str = import_flavour(sidecar["tensorrt"]["flavour"])
    except GsvTrtError as e:
        flavour = str(e)
    return compatibility_problems(sidecar, cuda.gpu_info(device), flavour, cuda.no_gpu_reason() or "")


def check_mel(mel: object, profiles: list[Profile]) -> int:
    """Refuse what an engine with ``profiles`` cannot take (rank, bands, dtype, T range, batch, NaN/Inf) before any
    GPU work; return the index of the profile that runs it."""
    validate_mel(mel, min_frames=min(p.frames[0] for p in profiles), max_frames=max(p.frames[2] for p in profiles),
                 max_batch=max(p.batch[2] for p in profiles))
    batch, _, frames = mel.shape  # type: ignore[attr-defined]
    return pick(profiles, batch, frames)


class _ProfileSlot:
    """One optimization profile's execution context and stream, and (on first numpy call) its buffers."""

    def __init__(self, trt, engine, index: int, profile: Profile, hop: int):
        self.profile = profile
        self.hop = hop
        self.context = engine.create_execution_context(trt.ExecutionContextAllocationStrategy.ON_PROFILE_CHANGE)
        if self.context is None:
            raise GsvTrtError(f"TensorRT could not create an execution context for profile {profile.name} "
                              "(out of GPU memory?)")
        self.stream = cuda.Stream()
        self.context.set_optimization_profile_async(index, self.stream.handle)
        self.stream.synchronize()
        self.buffers: tuple | None = None  # pinned in, device in, pinned out, device out
        self.last_stream: int | None = None

    def ensure_buffers(self):
        """Pinned and device buffers for this profile's largest input and output, allocated once."""
        if self.buffers is None:
            batch, frames = self.profile.batch[2], self.profile.frames[2]
            in_bytes = batch * MEL_BANDS * frames * FLOAT32
            out_bytes = batch * self.hop * frames * FLOAT32
            self.buffers = (cuda.PinnedHostBuffer(in_bytes), cuda.DeviceBuffer(in_bytes),
                            cuda.PinnedHostBuffer(out_bytes), cuda.DeviceBuffer(out_bytes))
        return self.buffers

    def run(self, shape: tuple[int, int, int], mel_ptr: int, wav_ptr: int, stream: int) -> None:
        """Enqueue one inference on ``stream`` reading ``mel_ptr`` and writing ``wav_ptr`` (device addresses)."""
        batch, _, frames = shape
        if self.last_stream not in (None, stream):  # the context's scratch memory may still be in use there
            cuda.synchronize_stream(self.last_stream)
        self.last_stream = stream
        if not self.context.set_input_shape(INPUT, shape):
            raise GsvTrtError(f"mel: TensorRT refused shape {list(shape)} for profile {self.profile.describe()}")
        out_shape = tuple(self.context.get_tensor_shape(OUTPUT))
        if out_shape != (batch, 1, self.hop * frames):
            raise GsvTrtError(f"engine output shape {list(out_shape)} is not [{batch}, 1, {self.hop * frames}]")
        self.context.set_tensor_address(INPUT, mel_ptr)
        self.context.set_tensor_address(OUTPUT, wav_ptr)
        if not self.context.execute_async_v3(stream):
            raise GsvTrtError(f"TensorRT execution failed for mel {list(shape)}")

    def close(self) -> None:
        for buffer in self.buffers or ():
            buffer.close()
        self.buffers = None
        self.context = None
        self.stream.close()


class TensorRTVocoder:
    """A ``.plan`` built by ``gsv-trt build``/``engine``, run on GPU ``device``."""

    def __init__(self, plan: str | Path, device: int = 0):
        self.plan = Path(plan)
        self.sidecar = read_sidecar(self.plan)
        problems = problems_here(self.sidecar, device)
        if problems:
            raise GsvTrtError(f"{self.plan}: cannot run here: {'; '.join(problems)}")
        flavour = import_flavour(self.sidecar["tensorrt"]["flavour"])
        gpu = cuda.gpu_info(device)
        cuda.set_device(device)
        self.device = device
        self.hop = int(self.sidecar["model"]["hop"])
        self.profiles = [Profile.from_dict(p) for p in self.sidecar["profiles"]]
        self._lock = threading.Lock()
        trt = flavour.trt
        self._logger = BuildConsole().trt_logger(trt)
        self._runtime = trt.Runtime(self._logger)
        blob = self.plan.read_bytes()
        if flavour.name == "rtx":
            self._check_rtx_validity(trt, blob)
        self._engine = self._runtime.deserialize_cuda_engine(blob)
        if self._engine is None:
            raise GsvTrtError(f"{self.plan}: {flavour.label} cannot deserialize it: "
                              f"{self._logger.last_error() or 'see log above'}")
        self._check_engine_io()
        self._slots = [_ProfileSlot(trt, self._engine, i, p, self.hop) for i, p in enumerate(self.profiles)]
        model = self.sidecar["model"]
        weights = ("RANDOM weights (not a trained vocoder)" if model["weights_sha256"] == "random"
                   else f"weights sha256 {model['weights_sha256'][:12]}")
        self.info = RuntimeInfo("tensorrt-rtx" if flavour.name == "rtx" else "tensorrt", self.sidecar["precision"],
                                gpu.name, f"{self.plan.name}, {flavour.label}, {model['vocoder']}, {weights}")

    def _check_rtx_validity(self, trt, blob: bytes) -> None:
        """TensorRT-RTX reads the plan's header and says whether it can run here, and why not."""
        header = blob[: self._runtime.engine_header_size]
        validity, diagnostics = self._runtime.get_engine_validity(header)
        if validity == trt.EngineValidity.INVALID:
            reasons = [name for name, flag in trt.EngineInvalidityDiagnostics.__members__.items()
                       if int(diagnostics) & int(flag)] or ["no diagnostics given"]
            raise GsvTrtError(f"{self.plan}: TensorRT-RTX says this engine is invalid here: {', '.join(reasons)}")

    def _check_engine_io(self) -> None:
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        if sorted(names) != [INPUT, OUTPUT] or self._engine.num_optimization_profiles != len(self.profiles):
            raise GsvTrtError(f"{self.plan}: engine has I/O {names} and {self._engine.num_optimization_profiles} "
                              f"profiles, its sidecar says mel/wav and {len(self.profiles)}; rebuild")

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
        with self._lock:
            return self._infer_numpy(self._slots[index], mel)

    def _infer_numpy(self, slot: _ProfileSlot, mel: np.ndarray) -> np.ndarray:
        host_in, dev_in, host_out, dev_out = slot.ensure_buffers()
        batch, _, frames = mel.shape
        out_shape = (batch, 1, self.hop * frames)
        np.copyto(host_in.array(mel.shape), mel)
        dev_in.copy_from_host_async(host_in, mel.nbytes, slot.stream)
        slot.run(mel.shape, dev_in.ptr, dev_out.ptr, slot.stream.handle)
        dev_out.copy_to_host_async(host_out, batch * self.hop * frames * FLOAT32, slot.stream)
        slot.stream.synchronize()
        return host_out.array(out_shape).copy()

    def _infer_torch(self, torch, mel):
        if not mel.is_cuda:
            return torch.from_numpy(self.infer(mel.detach().numpy()))
        if mel.device.index != self.device:
            raise GsvTrtError(f"mel: on {mel.device}, but this engine runs on cuda:{self.device}")
        index = self.validate(mel)
        mel = mel.detach().contiguous()
        batch, _, frames = mel.shape
        wav = torch.empty((batch, 1, self.hop * frames), dtype=torch.float32, device=mel.device)
        with self._lock:
            self._slots[index].run(tuple(mel.shape), mel.data_ptr(), wav.data_ptr(),
                                   torch.cuda.current_stream(mel.device).cuda_stream)
        return wav

    def close(self) -> None:
        """Free buffers, contexts and streams now rather than at garbage collection."""
        for slot in getattr(self, "_slots", ()):
            slot.close()
        self._slots = []
        self._engine = None

    def __enter__(self) -> "TensorRTVocoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
