"""What machine the numbers come from: the device every figure is tagged with, and the software around it."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Environment:
    device: str  # "cuda" | "cpu": where torch runtimes run
    device_name: str  # "NVIDIA H100 80GB HBM3" | CPU model
    label: str  # the phrase printed with every number
    compute_capability: str | None
    cpu: str
    torch: str
    onnxruntime: str
    onnxruntime_providers: list[str]
    tensorrt: dict[str, str]  # flavour -> version, or why it is not importable
    cuda_driver: str | None

    @property
    def has_gpu(self) -> bool:
        return self.device == "cuda"

    def to_dict(self) -> dict:
        return asdict(self)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def detect(device: str = "auto") -> Environment:
    """The environment, with ``device`` "auto" meaning the first CUDA GPU if torch sees one, else the CPU."""
    import os

    import onnxruntime
    import torch

    from ..build import flavour
    from ..errors import GsvTrtError

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise GsvTrtError("--device cuda: torch sees no CUDA GPU here")
    cpu = f"{cpu_name()}, {os.cpu_count()} cores"
    trt = {name: (f.label if isinstance(f, flavour.Flavour) else f) for name, f in flavour.installed().items()}
    if device == "cuda":
        from ..runtime import cuda

        gpu = cuda.gpu_info(torch.cuda.current_device())
        name, cc, driver = gpu.name, gpu.cc, gpu.driver
        label = f"GPU {gpu.describe()}"
    else:
        name, cc, driver = cpu, None, None
        label = f"CPU (no GPU found): numbers are CPU numbers ({cpu})" if not torch.cuda.is_available() \
            else f"CPU ({cpu}; --device cpu chosen although a GPU is present)"
    return Environment(device, name, label, cc, cpu, torch.__version__, onnxruntime.__version__,
                       onnxruntime.get_available_providers(), trt, driver)
