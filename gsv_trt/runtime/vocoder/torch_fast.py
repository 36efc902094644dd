"""The fastest PyTorch path on any CUDA GPU: fused activations, fp16/bf16 weights in a cuDNN-friendly layout, and
CUDA graphs captured per shape bucket. Runs where TensorRT cannot (e.g. TensorRT-RTX on compute capability 9.0).

Same models as everywhere else: a private copy of the loaded model with its modules swapped in place (each
``Activation1d`` for the Triton kernel, each conv for a layout-aware one, v4's narrow stages for one fused Triton
kernel each and its wide stages' resblocks for the same resblocks side by side on CUDA streams), so the model's own
``forward`` runs.

Buckets: an input of T frames runs in the graph of the smallest bucket >= T. The mel is zero-padded to the
bucket and a device-side frame count tells every layer where the real signal ends: the fused activations clamp
their replicate padding there and write zeros past it; convs whose inputs do not pass through an activation get
the tail of their input (v3 upsamplers) or output (v4 cuDNN convs) zeroed; the fused v4 stages read past the
edge as zero and write zero tails themselves. Every conv therefore sees what it would see in an
un-padded run, and the trimmed output equals eager's up to rounding (tests/test_torch_fast.py checks it).
Inputs longer than the largest bucket run the same model uncaptured at their exact length.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import GsvTrtError
from ...models.uninitialised import uninitialised
from ...models.vocoder import LoadedVocoder
from ...models.vocoder.activation import Activation1d
from ...models.vocoder.bigvgan import BigVGAN
from ...models.vocoder.config import GeneratorConfig
from ...models.vocoder.generator import LRELU_SLOPE, Generator
from ..base import MEL_BANDS, RuntimeInfo, validate_mel
from .concurrent_stage import ConcurrentStage
from .torch_eager import DTYPES, device_name

DEFAULT_BUCKETS = (32, 64, 128, 256, 512, 768, 1024, 1536, 2048)
LAYOUTS = ("nlc", "ncl")  # channels-last ([B,C,1,T] conv2d, cuDNN's preferred fp16 layout) or time-contiguous
COMPILE_MODES = ("none", "default", "max-autotune-no-cudagraphs")
# v4 stages this narrow (16, 32 channels) run as one fused Triton kernel each at fp16/bf16; wider ones, and every
# stage at fp32, run cuDNN convs with inductor-fused elementwise work, which measured faster there (docs/torch-fast.md)
FUSED_STAGE_CHANNELS = 32


def parse_buckets(text: str) -> tuple[int, ...]:
    """``"64,128,256"`` -> (64, 128, 256); empty -> () (no graphs). Sorted, unique, each >= 1."""
    try:
        values = sorted({int(v) for v in text.replace(" ", "").split(",") if v})
    except ValueError:
        raise GsvTrtError(f"buckets {text!r}: expected comma-separated frame counts, e.g. 128,256,512") from None
    if any(v < 1 for v in values):
        raise GsvTrtError(f"buckets {text!r}: frame counts must be >= 1")
    return tuple(values)


def pick_bucket(frames: int, buckets: Sequence[int]) -> int | None:
    """The smallest bucket that holds ``frames``, or None when the input is longer than every bucket."""
    fitting = [b for b in buckets if b >= frames]
    return min(fitting) if fitting else None


class FastConv(nn.Module):
    """A Conv1d or ConvTranspose1d in the runtime's dtype and layout, optionally zeroing the padded tail.

    ``zero="input"`` clears the input past the real signal before the conv (the input must be a temporary nobody
    else reads, as the upsamplers' are in BigVGAN); ``zero="output"`` clears its own output's tail.
    """

    def __init__(self, conv: nn.Conv1d | nn.ConvTranspose1d, dtype: torch.dtype, layout: str,
                 valid: torch.Tensor | None = None, zero: str | None = None, rate: int = 1, bias: bool = True):
        super().__init__()
        self.transposed = isinstance(conv, nn.ConvTranspose1d)
        self.layout = layout
        self.stride, self.padding, self.dilation = conv.stride[0], conv.padding[0], conv.dilation[0]
        self.output_padding = conv.output_padding[0] if self.transposed else 0
        if conv.groups != 1:
            raise GsvTrtError("torch-fast: grouped convs are not part of the v3/v4 vocoders")
        weight = conv.weight.detach().to(dtype)
        if layout == "nlc":
            weight = weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", None if conv.bias is None or not bias else conv.bias.detach().to(dtype))
        self.valid, self.zero, self.rate = valid, zero, rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.zero == "input":
            x = _zero_tail(x, self.valid, self.rate)
        if self.layout == "nlc":
            x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
            if self.transposed:
                y = F.conv_transpose2d(x4, self.weight, self.bias, (1, self.stride), (0, self.padding),
                                       (0, self.output_padding), 1, (1, self.dilation))
            else:
                y = F.conv2d(x4, self.weight, self.bias, (1, self.stride), (0, self.padding), (1, self.dilation))
            y = y.squeeze(2)
        elif self.transposed:
            y = F.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding, 1,
                                   self.dilation)
        else:
            y = F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
        if self.zero == "output":
            y = _zero_tail(y, self.valid, self.rate)
        return y


def _zero_tail(x: torch.Tensor, valid: torch.Tensor, rate: int) -> torch.Tensor:
    """``x`` with samples past ``valid*rate`` zeroed: in place by a kernel that touches only the tail when eager,
    as a mask torch.compile can fuse into the neighbouring elementwise ops when compiling."""
    if torch.compiler.is_compiling():
        keep = torch.arange(x.shape[-1], device=x.device) < valid * rate
        return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))
    torch.ops.gsv_trt.zero_tail_(x, valid, rate)
    return x


class FastGenerator(Generator):
    """The v4 Generator with each stage's resblocks (and their mean) replaced by one module: a fused kernel
    (FusedStage) or the resblocks side by side on their own streams (ConcurrentStage)."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__(cfg)
        self.stages = nn.ModuleList(nn.Identity() for _ in self.ups)  # Identity: the upstream mean of resblocks

    def mrf(self, stage: int, x: torch.Tensor) -> torch.Tensor:
        module = self.stages[stage]
        return super().mrf(stage, x) if isinstance(module, nn.Identity) else module(x)


def build_fast_model(loaded: LoadedVocoder, dtype: torch.dtype, layout: str, valid: torch.Tensor,
                     fused_stage_channels: int | None = None) -> nn.Module:
    """A private copy of ``loaded.model`` with fused activations and FastConvs, on ``valid``'s device.

    ``valid`` (int32 [1] on the GPU) is the frame count every swapped module reads at run time.
    ``fused_stage_channels``: v4 stages up to this width run as one fused Triton kernel (0: none; default
    FUSED_STAGE_CHANNELS at fp16/bf16, 0 at fp32, where cuDNN is faster). The other v4 stages run their resblocks
    side by side (ConcurrentStage).
    """
    from ..kernels.fused_activation import FusedActivation1d
    from ..kernels.fused_stage import FusedStage, fused_stage_fits

    if layout not in LAYOUTS:
        raise GsvTrtError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    src = loaded.model
    if fused_stage_channels is None:
        fused_stage_channels = 0 if dtype == torch.float32 else FUSED_STAGE_CHANNELS
    model = uninitialised(lambda: (FastGenerator if isinstance(src, Generator) else type(src))(src.cfg)).eval()
    model.load_state_dict(src.state_dict())
    cfg = model.cfg
    rates = [math.prod(cfg.upsample_rates[: i + 1]) for i in range(len(cfg.upsample_rates))]  # after stage i

    def conv(module: nn.Module, zero: str | None = None, rate: int = 1, bias: bool = True) -> FastConv:
        return FastConv(module, dtype, layout, valid, zero, rate, bias)

    if isinstance(model, BigVGAN):
        # activations clamp at the edge and zero the tail, so only the upsamplers' inputs (a stage's mean of
        # resblock outputs, conv biases past the edge) need clearing
        model.conv_pre = conv(model.conv_pre)
        for i, up in enumerate(model.ups):
            up[0] = conv(up[0], "input", rates[i - 1] if i else 1)
        for j, block in enumerate(model.resblocks):
            rate = rates[j // model.num_kernels]
            # convs1 feed an activation only: their bias is added inside the activation kernel
            acts = [FusedActivation1d(a, rate, valid, block.convs1[i // 2].bias if i % 2 else None)
                    for i, a in enumerate(block.activations)]
            block.convs1 = nn.ModuleList(conv(c, bias=False) for c in block.convs1)
            block.convs2 = nn.ModuleList(conv(c) for c in block.convs2)
            block.activations = nn.ModuleList(acts)
        model.activation_post = FusedActivation1d(model.activation_post, rates[-1], valid)
        model.conv_post = conv(model.conv_post)
    elif isinstance(model, Generator) and layout == "nlc":
        # stages of at most `fused_stage_channels` channels run as one fused kernel (it reads past-the-edge input
        # as zero and writes a zero tail); other stages keep cuDNN, where clearing every conv output's tail keeps
        # every conv input clean (lrelu(0) = 0)
        model.conv_pre = conv(model.conv_pre, "output", 1)
        nk = model.num_kernels
        fused = [u.out_channels <= fused_stage_channels and fused_stage_fits(model.resblocks[i * nk:(i + 1) * nk])
                 for i, u in enumerate(model.ups)]
        model.ups = nn.ModuleList(conv(u, None if fused[i] else "output", rates[i]) for i, u in enumerate(model.ups))
        for stage, rate in enumerate(rates):
            blocks = list(model.resblocks[stage * nk:(stage + 1) * nk])
            if fused[stage]:
                model.stages[stage] = FusedStage(blocks, dtype, LRELU_SLOPE, rate, valid)
            else:
                for block in blocks:
                    block.convs1 = nn.ModuleList(conv(c, "output", rate) for c in block.convs1)
                    block.convs2 = nn.ModuleList(conv(c, "output", rate) for c in block.convs2)
                model.stages[stage] = ConcurrentStage(blocks)
            for j in range(stage * nk, (stage + 1) * nk):
                model.resblocks[j] = nn.Identity()  # weights live in the stage module now
        model.conv_post = conv(model.conv_post)
    elif isinstance(model, Generator):
        # leaky ReLU keeps zeros zero: clearing every conv's output tail keeps every conv input clean
        model.conv_pre = conv(model.conv_pre, "output", 1)
        model.ups = nn.ModuleList(conv(u, "output", rates[i]) for i, u in enumerate(model.ups))
        for j, block in enumerate(model.resblocks):
            rate = rates[j // model.num_kernels]
            block.convs1 = nn.ModuleList(conv(c, "output", rate) for c in block.convs1)
            block.convs2 = nn.ModuleList(conv(c, "output", rate) for c in block.convs2)
        model.conv_post = conv(model.conv_post)
    else:
        raise GsvTrtError(f"torch-fast: no fast plan for {type(model).__name__}")
    leftover = [n for n, m in model.named_modules() if isinstance(m, (Activation1d, nn.Conv1d, nn.ConvTranspose1d))]
    if leftover:
        raise AssertionError(f"modules left unswapped: {leftover[:3]}")
    return model.to(valid.device)


@dataclass
class _Captured:
    """One CUDA graph: static input (zero-padded mel in the model dtype) and static output."""

    graph: torch.cuda.CUDAGraph
    mel: torch.Tensor
    out: torch.Tensor
    seconds: float


class TorchFastVocoder:
    """mel float32 [B, 100, T] -> wav float32 [B, 1, hop*T] through the fused, graph-captured model.

    ``use_compile="default"`` (the default) runs torch.compile over the swapped model before capture: it fuses
    the remaining elementwise work (bias adds, residual sums, tail masks) and was faster than the hand path alone
    on every measured row (docs/torch-fast.md), at ~15-20 s of compile per bucket on first use. ``"none"`` keeps
    the hand path: a few seconds per bucket. Compiled code is cached in ``cache_dir`` (default
    ``engines/torch-fast-cache``, see gsv_trt/runtime/compile_cache.py), so a restarted process skips compiling.
    ``cudnn_benchmark``: cuDNN times its algorithms for every conv shape before capture (True, the default), or
    takes its heuristics' pick (False). The search is not kept across processes; skipping it cut v3's warm restart
    from 7.3 to 3.5 s on the H200, but the heuristics' algorithms made the stage's vocoder calls up to 6x slower
    (v4 sequential 4.6 -> 29 ms; BENCHMARKS.md §6), so the search stays the default. ``cudnn_benchmark_limit``: how
    many of the heuristics' candidates the search times per shape (torch's ``benchmark_limit``; 0: all); 3 starts
    v3 0.6-1.2 s sooner after a restart but its graphs run 3-6 % slower, so 10 stays the default. The search
    runs on the calling thread: PyTorch keeps cuDNN's chosen plans per thread, so searching ahead on other threads
    does not help (BENCHMARKS.md §6, fifth run).
    """

    def __init__(self, loaded: LoadedVocoder, precision: str = "fp16", device: str | torch.device = "cuda",
                 buckets: Sequence[int] = DEFAULT_BUCKETS, use_compile: str = "default", layout: str = "nlc",
                 fused_stage_channels: int | None = None, cache_dir: str | Path | None = None,
                 cudnn_benchmark: bool = True, cudnn_benchmark_limit: int = 10):
        from .. import compile_cache
        from ..kernels.fused_activation import needs_gpu_reason

        self.device = torch.device(device)
        if self.device.type != "cuda":
            raise GsvTrtError(f"torch-fast runtime: device {self.device} is not a GPU; it needs a CUDA GPU")
        reason = needs_gpu_reason()
        if reason:
            raise GsvTrtError(f"torch-fast runtime: {reason}")
        if precision not in DTYPES:
            raise GsvTrtError(f"precision {precision!r}: expected one of {', '.join(DTYPES)}")
        if use_compile not in COMPILE_MODES:
            raise GsvTrtError(f"compile mode {use_compile!r}: expected one of {', '.join(COMPILE_MODES)}")
        self.cache = compile_cache.enable(cache_dir, self.device.index or 0)  # before anything compiles
        self.dtype = DTYPES[precision]
        self.hop = loaded.spec.hop
        self.buckets = tuple(sorted({int(b) for b in buckets}))
        self.layout, self.use_compile, self.cudnn_benchmark = layout, use_compile, cudnn_benchmark
        if cudnn_benchmark_limit < 0:
            raise GsvTrtError(f"cudnn_benchmark_limit {cudnn_benchmark_limit}: expected 0 (all) or more")
        self.cudnn_benchmark_limit = cudnn_benchmark_limit
        self._valid = torch.ones(1, dtype=torch.int32, device=self.device)
        self.model = build_fast_model(loaded, self.dtype, layout, self._valid, fused_stage_channels)
        self._forward = self.model
        self._concurrent = [m for m in self.model.modules() if isinstance(m, ConcurrentStage)]
        if use_compile != "none":
            mode = None if use_compile == "default" else use_compile
            # one graph per (batch, bucket) shape, and per resblock where stages run side by side
            _raise_recompile_limit((len(self.buckets) + 8) * (1 + sum(len(m.blocks) for m in self._concurrent)))
            self._forward = torch.compile(self.model, mode=mode, dynamic=False)
            for stage in self._concurrent:
                stage.compile_parts(mode)
        self._pool = torch.cuda.graph_pool_handle()
        self._graphs: dict[tuple[int, int], _Captured] = {}
        self._provenance = loaded.provenance
        self.info = RuntimeInfo("torch-fast", precision, device_name(self.device), self._detail())

    @property
    def capture_seconds(self) -> dict[tuple[int, int], float]:
        """Seconds each (batch, bucket) graph took to warm up (incl. compile, cuDNN autotune) and capture."""
        return {key: g.seconds for key, g in self._graphs.items()}

    def _detail(self) -> str:
        parts = [self._provenance, f"layout {self.layout}", f"compile {self.use_compile}",
                 "cuDNN " + (f"benchmark (limit {self.cudnn_benchmark_limit})" if self.cudnn_benchmark
                             else "heuristics"),
                 f"buckets {','.join(map(str, self.buckets)) or 'none'}"]
        if self._graphs:
            parts.append("captured " + ", ".join(f"b{b}x{t} {g.seconds:.2f}s" for (b, t), g in self._graphs.items()))
        return "; ".join(parts)

    def _run(self, mel: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), _cudnn_flags(self.cudnn_benchmark, self.cudnn_benchmark_limit):
            return self._forward(mel)

    def capture(self, batch: int, bucket: int) -> float:
        """Warm up and capture the graph for ``batch`` x ``bucket`` frames now; returns the seconds it took."""
        key = (batch, bucket)
        if key in self._graphs:
            return self._graphs[key].seconds
        t0 = time.perf_counter()
        mel = torch.randn(batch, MEL_BANDS, bucket, device=self.device).to(self.dtype)
        self._valid.fill_(bucket)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(2):  # Triton/cuDNN autotuning and (with use_compile) compilation happen here
                self._run(mel)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        flags = _cudnn_flags(self.cudnn_benchmark, self.cudnn_benchmark_limit)
        with torch.inference_mode(), flags, torch.cuda.graph(graph, pool=self._pool):
            out = self._forward(mel)
        torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - t0
        self._graphs[key] = _Captured(graph, mel, out, seconds)
        self.info = dataclasses.replace(self.info, detail=self._detail())
        return seconds

    def forward_tensor(self, mel: torch.Tensor) -> torch.Tensor:
        """Device tensor in, device tensor out (float32, a fresh tensor), no host round-trip and no sync."""
        validate_mel(mel, check_finite=False)  # __call__ checks finiteness on the host
        batch, _, frames = mel.shape
        mel = mel.to(self.device)
        bucket = pick_bucket(frames, self.buckets)
        if bucket is None:
            self._valid.fill_(frames)
            with torch.inference_mode():
                return self._run_uncaptured(mel.to(self.dtype)).float()
        if (batch, bucket) not in self._graphs:
            self.capture(batch, bucket)
        g = self._graphs[(batch, bucket)]
        with torch.inference_mode():
            g.mel[..., :frames].copy_(mel)
            g.mel[..., frames:].zero_()
            self._valid.fill_(frames)
            g.graph.replay()
            return g.out[..., : self.hop * frames].to(torch.float32, copy=True)

    def _run_uncaptured(self, mel: torch.Tensor) -> torch.Tensor:
        # compiled code is specialised to the bucket shapes; other lengths run the (same) model uncompiled
        for stage in self._concurrent:
            stage.use_compiled = False
        try:
            with _cudnn_flags(self.cudnn_benchmark, self.cudnn_benchmark_limit):
                return self.model(mel)
        finally:
            for stage in self._concurrent:
                stage.use_compiled = True

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        validate_mel(mel)
        return self.forward_tensor(torch.from_numpy(np.ascontiguousarray(mel))).cpu().numpy()


def _cudnn_flags(benchmark: bool, limit: int) -> contextlib.AbstractContextManager:
    """cuDNN benchmark mode (each conv shape gets the fastest of ``limit`` candidate algorithms once, before
    capture) or its heuristics."""
    return torch.backends.cudnn.flags(enabled=True, benchmark=benchmark, benchmark_limit=limit, deterministic=False,
                                      allow_tf32=torch.backends.cudnn.allow_tf32)


def _raise_recompile_limit(n: int) -> None:
    """One compiled graph per shape and module: let dynamo keep ``n`` per function (and all of them in total)
    instead of falling back to eager."""
    import torch._dynamo

    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), n))
            break
    if hasattr(torch._dynamo.config, "accumulated_recompile_limit"):
        torch._dynamo.config.accumulated_recompile_limit = max(torch._dynamo.config.accumulated_recompile_limit, 2 * n)
