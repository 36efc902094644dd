"""``gsv-trt info``: this machine's GPU, driver and CUDA, the TensorRT flavours importable here, and so which
engines can be built and which can run here."""

from __future__ import annotations

import argparse

from ._common import add_command


def describe(gpu, found: dict, no_gpu: str = "no CUDA GPU") -> list[str]:
    """The report as lines, from a GpuInfo (None: none, ``no_gpu`` says why) and ``flavour.installed()``'s answer."""
    from ..build.flavour import LABELS, RTX_RUNS_ON, Flavour

    lines = []
    if gpu is None:
        lines.append(f"GPU: {no_gpu}")
    else:
        lines.append(f"GPU {gpu.index}: {gpu.name}, compute capability {gpu.cc}, {gpu.total_memory / 2**30:.1f} GiB")
        lines.append(f"CUDA: driver supports {gpu.driver}, runtime (cuda-python) {gpu.runtime}")
    for name, value in found.items():
        lines.append(f"{LABELS[name]}: {value.version} ({value.trt.__name__})" if isinstance(value, Flavour)
                     else f"{LABELS[name]}: not available ({value})")
    tensorrt, rtx = (found[n] if isinstance(found[n], Flavour) else None for n in ("tensorrt", "rtx"))
    can_build, can_run = [], []
    if rtx is not None:
        can_build.append(f"{rtx.label} engines ahead of time for compute capability {', '.join(rtx.supported_ccs())}"
                         + (" (no GPU needed)" if gpu is None else ""))
    if tensorrt is not None and gpu is not None:
        can_build.append(f"{tensorrt.label} engines for this GPU ({gpu.cc})")
    elif tensorrt is not None:
        can_build.append(f"nothing with {tensorrt.label}: it builds only on the GPU the engine is for")
    if gpu is not None and tensorrt is not None:
        can_run.append(f"{tensorrt.label} engines built on a {gpu.cc} GPU with this version")
    if gpu is not None and rtx is not None:
        can_run.append(f"{rtx.label} engines that target {gpu.cc}" if gpu.cc in RTX_RUNS_ON
                       else f"no {rtx.label} engines: it does not run on compute capability {gpu.cc}")
    if gpu is None:
        can_run.append("no TensorRT engine (no GPU); the PyTorch and ONNX-Runtime CPU runtimes work")
    lines.append("can build: " + ("; ".join(can_build) or "nothing (no TensorRT installed)"))
    lines.append("can run: " + ("; ".join(can_run) or "no TensorRT engine (no TensorRT installed)"))
    return lines


def run(args: argparse.Namespace) -> int:
    from ..build.flavour import installed
    from ..runtime.cuda import gpu_info, no_gpu_reason

    for line in describe(gpu_info(args.device), installed(), no_gpu_reason() or ""):
        print(line)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_command(sub, "info", "GPU, CUDA and TensorRT here; what can build and what can run here", run)
    parser.add_argument("--device", type=int, default=0, help="GPU index to describe")
