"""What every TensorRT runtime (vocoder, CFM) shares: opening a ``.plan`` after its sidecar says it can run on this
machine, and one execution context per optimization profile.

Before TensorRT sees the plan, the sidecar is checked against this machine: the GPU's compute capability against
the engine's targets (TensorRT-RTX does not run on Hopper), and the installed TensorRT flavour and version against
the one that built it. A mismatch is one clear line instead of a deserialization failure deep in TensorRT.

Each optimization profile gets its own execution context and stream, so a small call never pays for a large
profile's activation memory. numpy input goes through pinned host buffers with async copies (grown to the largest
call seen); torch CUDA tensors are read and written in place on torch's current stream. Importing this module does
not import torch or TensorRT.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np

from ..build.flavour import LABELS, RTX_RUNS_ON, Flavour, import_flavour
from ..build.profiles import Profile, pick
from ..build.progress import BuildConsole
from ..build.sidecar import read_sidecar
from ..errors import GsvTrtError
from . import cuda

Shape = tuple[int, ...]


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


def open_sidecar(plan: str | Path, device: int = 0, sidecar: dict | None = None) -> dict:
    """The sidecar of ``plan`` (read here unless given) once it says the engine runs here (GPU, TensorRT flavour and
    version)."""
    sidecar = sidecar or read_sidecar(plan)
    problems = problems_here(sidecar, device)
    if problems:
        raise GsvTrtError(f"{plan}: cannot run here: {'; '.join(problems)}")
    return sidecar


class _HostDevice:
    """A pinned host buffer and a device buffer of one tensor, grown to the largest call seen."""

    def __init__(self):
        self.host: cuda.PinnedHostBuffer | None = None
        self.device: cuda.DeviceBuffer | None = None

    def ensure(self, nbytes: int) -> "_HostDevice":
        if self.device is None or self.device.nbytes < nbytes:
            self.close()
            self.host, self.device = cuda.PinnedHostBuffer(nbytes), cuda.DeviceBuffer(nbytes)
        return self

    def close(self) -> None:
        for buffer in (self.host, self.device):
            if buffer is not None:
                buffer.close()
        self.host = self.device = None


class ProfileSlot:
    """One optimization profile's execution context and stream, and (on first numpy call) its buffers."""

    def __init__(self, trt, engine, index: int, profile: Profile):
        self.profile = profile
        self.context = engine.create_execution_context(trt.ExecutionContextAllocationStrategy.ON_PROFILE_CHANGE)
        if self.context is None:
            raise GsvTrtError(f"TensorRT could not create an execution context for profile {profile.name} "
                              "(out of GPU memory?)")
        self.stream = cuda.Stream()
        self.context.set_optimization_profile_async(index, self.stream.handle)
        self.stream.synchronize()
        self.buffers: dict[str, _HostDevice] = {}
        self.last_stream: int | None = None

    def run(self, inputs: dict[str, tuple[Shape, int]], outputs: dict[str, tuple[Shape, int]], stream: int) -> None:
        """Enqueue one inference on ``stream``: ``inputs`` and ``outputs`` map tensor names to (shape, device
        address); the output shapes TensorRT infers must be the ones given."""
        if self.last_stream not in (None, stream):  # the context's scratch memory may still be in use there
            cuda.synchronize_stream(self.last_stream)
        self.last_stream = stream
        for name, (shape, ptr) in inputs.items():
            if not self.context.set_input_shape(name, shape):
                raise GsvTrtError(f"{name}: TensorRT refused shape {list(shape)} for profile "
                                  f"{self.profile.describe()}")
            self.context.set_tensor_address(name, ptr)
        for name, (shape, ptr) in outputs.items():
            inferred = tuple(self.context.get_tensor_shape(name))
            if inferred != tuple(shape):
                raise GsvTrtError(f"engine output {name} has shape {list(inferred)}, expected {list(shape)}")
            self.context.set_tensor_address(name, ptr)
        if not self.context.execute_async_v3(stream):
            shapes = ", ".join(f"{n} {list(s)}" for n, (s, _) in inputs.items())
            raise GsvTrtError(f"TensorRT execution failed for {shapes}")

    def run_numpy(self, inputs: dict[str, np.ndarray], output_shapes: dict[str, Shape]) -> dict[str, np.ndarray]:
        """Copy float32 ``inputs`` in through pinned buffers, run on this slot's stream, copy the outputs back."""
        ins, outs = {}, {}
        for name, array in inputs.items():
            buf = self.buffers.setdefault(name, _HostDevice()).ensure(max(array.nbytes, 4))
            np.copyto(buf.host.array(array.shape), array)
            buf.device.copy_from_host_async(buf.host, array.nbytes, self.stream)
            ins[name] = (tuple(array.shape), buf.device.ptr)
        for name, shape in output_shapes.items():
            buf = self.buffers.setdefault(name, _HostDevice()).ensure(max(math.prod(shape) * 4, 4))
            outs[name] = (tuple(shape), buf.device.ptr)
        self.run(ins, outs, self.stream.handle)
        for name, shape in output_shapes.items():
            buf = self.buffers[name]
            buf.device.copy_to_host_async(buf.host, math.prod(shape) * 4, self.stream)
        self.stream.synchronize()
        return {name: self.buffers[name].host.array(shape).copy() for name, shape in output_shapes.items()}

    def close(self) -> None:
        for buffer in self.buffers.values():
            buffer.close()
        self.buffers = {}
        self.context = None
        self.stream.close()


class EngineFile:
    """A deserialized ``.plan`` whose sidecar says it runs here, with I/O ``io_names`` (inputs, outputs) and one
    ``ProfileSlot`` per optimization profile. ``sidecar``: the plan's, when the caller has read it already."""

    def __init__(self, plan: str | Path, io_names: tuple[tuple[str, ...], tuple[str, ...]], device: int = 0,
                 sidecar: dict | None = None):
        self.plan = Path(plan)
        sidecar = sidecar or read_sidecar(self.plan)
        held = tuple(tuple(t["name"] for t in sidecar["io"][side]) for side in ("inputs", "outputs"))
        if held != io_names:
            component = sidecar["model"].get("component", "vocoder")
            raise GsvTrtError(f"{self.plan}: a {component} engine ({' -> '.join(map(', '.join, held))}), not one "
                              f"of {' -> '.join(map(', '.join, io_names))}")
        self.sidecar = open_sidecar(self.plan, device, sidecar)
        self.flavour = import_flavour(self.sidecar["tensorrt"]["flavour"])
        self.gpu = cuda.gpu_info(device)
        cuda.set_device(device)
        self.device = device
        self.profiles = [Profile.from_dict(p) for p in self.sidecar["profiles"]]
        self.lock = threading.Lock()
        trt = self.flavour.trt
        self._logger = BuildConsole().trt_logger(trt)
        self._runtime = trt.Runtime(self._logger)
        blob = self.plan.read_bytes()
        if self.flavour.name == "rtx":
            self._check_rtx_validity(trt, blob)
        self._engine = self._runtime.deserialize_cuda_engine(blob)
        if self._engine is None:
            raise GsvTrtError(f"{self.plan}: {self.flavour.label} cannot deserialize it: "
                              f"{self._logger.last_error() or 'see log above'}")
        names = sorted(self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors))
        if names != sorted(io_names[0] + io_names[1]) or self._engine.num_optimization_profiles != len(self.profiles):
            raise GsvTrtError(f"{self.plan}: engine has I/O {names} and {self._engine.num_optimization_profiles} "
                              f"profiles, its sidecar says {', '.join(io_names[0] + io_names[1])} and "
                              f"{len(self.profiles)}; rebuild")
        self.slots = [ProfileSlot(trt, self._engine, i, p) for i, p in enumerate(self.profiles)]

    @property
    def runtime_name(self) -> str:
        return "tensorrt-rtx" if self.flavour.name == "rtx" else "tensorrt"

    def _check_rtx_validity(self, trt, blob: bytes) -> None:
        """TensorRT-RTX reads the plan's header and says whether it can run here, and why not."""
        header = blob[: self._runtime.engine_header_size]
        validity, diagnostics = self._runtime.get_engine_validity(header)
        if validity == trt.EngineValidity.INVALID:
            reasons = [name for name, flag in trt.EngineInvalidityDiagnostics.__members__.items()
                       if int(diagnostics) & int(flag)] or ["no diagnostics given"]
            raise GsvTrtError(f"{self.plan}: TensorRT-RTX says this engine is invalid here: {', '.join(reasons)}")

    def slot(self, batch: int, frames: int, name: str) -> ProfileSlot:
        """The slot of the first profile covering ``batch`` x ``frames`` (``name`` is the input the error names)."""
        return self.slots[pick(self.profiles, batch, frames, name)]

    def check_device(self, tensor, name: str) -> None:
        if tensor.device.index != self.device:
            raise GsvTrtError(f"{name}: on {tensor.device}, but this engine runs on cuda:{self.device}")

    def close(self) -> None:
        """Free buffers, contexts and streams now rather than at garbage collection."""
        for slot in getattr(self, "slots", ()):
            slot.close()
        self.slots = []
        self._engine = None
