"""Latency, throughput and memory of one runtime, measured the same way for every runtime.

On a GPU each call is bracketed by CUDA events on the current stream (what the GPU timeline says, launch gaps
included); on a CPU by ``time.perf_counter``. Warm-up calls (first-call compilation, allocator growth, TensorRT-RTX
JIT) are timed too but kept apart from the statistics. Memory: torch runtimes report
``torch.cuda.max_memory_allocated`` above what was allocated before loading (weights + activations); everything else (TensorRT, ONNX Runtime) the drop in
free device memory (``cudaMemGetInfo``) from before loading to after running, which is what the process took.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Timing:
    """Milliseconds per call; ``method`` says how they were taken."""

    method: str  # "cuda-events" | "perf_counter"
    samples_ms: list[float]
    warmup_ms: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return float(np.percentile(self.samples_ms, 50))

    @property
    def p95(self) -> float:
        return float(np.percentile(self.samples_ms, 95))

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples_ms))

    def to_dict(self) -> dict:
        return asdict(self) | {"p50_ms": self.p50, "p95_ms": self.p95, "mean_ms": self.mean}


def time_calls(call: Callable[[], object], repeats: int, warmup: int, cuda: bool) -> Timing:
    """Run ``call`` ``warmup`` + ``repeats`` times; statistics cover the last ``repeats`` only."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if cuda:
        import torch

        def once() -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            call()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))

        torch.cuda.synchronize()
    else:
        def once() -> float:
            t0 = time.perf_counter()
            call()
            return (time.perf_counter() - t0) * 1e3

    warm = [once() for _ in range(warmup)]
    return Timing("cuda-events" if cuda else "perf_counter", [once() for _ in range(repeats)], warm)


@dataclass
class Throughput:
    """Batched calls of one length: requests (mels) per second and seconds of audio per second."""

    batch: int
    p50_ms: float
    requests_per_s: float
    audio_s_per_s: float

    def to_dict(self) -> dict:
        return asdict(self)


def throughput(batch: int, timing: Timing, audio_seconds: float) -> Throughput:
    seconds = timing.p50 / 1e3
    return Throughput(batch, timing.p50, batch / seconds, batch * audio_seconds / seconds)


def batch_sizes(max_batch: int) -> list[int]:
    """1, 2, 4, ... up to and including ``max_batch``."""
    sizes, b = [], 1
    while b < max_batch:
        sizes.append(b)
        b *= 2
    return sizes + [max_batch]


class MemoryProbe:
    """Peak GPU memory of one runtime, from before it is loaded until it is done; inert on a CPU."""

    def __init__(self, cuda: bool, torch_runtime: bool):
        self.cuda = cuda
        self.torch_runtime = torch_runtime
        self._free_before = 0
        self._allocated_before = 0

    def start(self) -> None:
        if not self.cuda:
            return
        import gc

        import torch

        gc.collect()
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        self._free_before = torch.cuda.mem_get_info()[0]
        self._allocated_before = torch.cuda.memory_allocated()

    def stop(self) -> tuple[float | None, str]:
        """(peak MiB, how it was measured); (None, reason) on a CPU."""
        if not self.cuda:
            return None, "no GPU"
        import torch

        torch.cuda.synchronize()
        if self.torch_runtime:
            peak = torch.cuda.max_memory_allocated() - self._allocated_before
            return peak / 2**20, "torch.cuda.max_memory_allocated, minus what was allocated before loading"
        taken = self._free_before - torch.cuda.mem_get_info()[0]
        return max(taken, 0) / 2**20, "cudaMemGetInfo: free before load - free after runs"
