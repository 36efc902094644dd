"""torch-fast CFM: the whole Euler loop of the DiT as one CUDA graph per (batch, frames, steps), on any CUDA GPU.

Upstream's DiT is launch-bound (~700 kernels a step from Python). Here the per-call work is hoisted out of the step
loop, the rest is a short fixed kernel sequence, and all steps replay as one graph:

- once per step count (outside the graph; it does not depend on the input): the time and step-size embeddings and
  from them every block's AdaLN modulation for every step (one fp32 GEMM);
- once per call (inside the graph): the conditioner (the model's own text embedding with its ConvNeXt/GRN stack),
  the prompt/text part of the input projection, and the RoPE table of this T;
- per step and block: fused LayerNorm + modulation (Triton, fp32 statistics), one q/k/v GEMM, RoPE on the first
  64 channels (Triton, fp32 angles), mask-free attention (our Triton kernel straight from the q/k/v projection,
  kernels/attention.py; SDPA backends as options), the output GEMM, fused gated residual + LayerNorm + modulation
  (Triton), the two feed-forward GEMMs (GELU in the first one's cuBLASLt epilogue); the grouped-conv position
  embedding is a Triton implicit GEMM with Mish and the residual fused. The modulation table, the time
  embeddings, LayerNorm statistics and the Euler state stay fp32 (the fp32 islands), and so does the residual
  stream in bf16 (fp16 keeps it in fp16: ``residual_half``); GEMM inputs and attention run in fp16 or bf16.

Graph scope ``step`` (the synthesis stage's choice): one graph of a single step per (B, T), replayed once per
step, so a new length costs a one-step capture and any step count reuses it.

Exactness over padding: padding T would change attention and GRN, so every input runs in a graph of its exact
(B, T, steps); a shape that misses the cache is captured on first use (an LRU keeps the newest ``max_graphs``).
The prompt length is data, not shape: the prompt goes in as a zero-padded [B, T, 100] buffer with a 0/1 frame mask.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import GsvTrtError
from .. import compile_cache
from ..base import RuntimeInfo

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
CONV_IMPLS = ("triton", "cudnn", "cudnn-nlc", "unfold")
GRAPH_SCOPES = ("loop", "step")
SCOPE_TEXT = {"loop": "CUDA graph per (B, T, steps)", "step": "CUDA graph of one step per (B, T)"}
TRITON_MIN_GROUP_CHANNELS = 16
MEL = 100
FALLBACK = {"fp16": "bf16", "bf16": "fp32"}  # where a non-finite result sends the runtime next


@dataclass(frozen=True)
class FastOptions:
    """Choices measured in docs/cfm-torch-fast.md; the defaults are the fastest that kept their quality on an H200."""

    precision: str = "fp16"
    conv: str = "triton"  # grouped conv position embedding: Triton implicit GEMM, cuDNN (NCL / channels-last), unfold
    # "triton": our kernel reading the fused q/k/v projection and writing the output projection's layout
    # (kernels/attention.py; fp16/bf16 only, fp32 takes flash's order): the fastest at B = 1, same SNR as flash; at
    # B = 4 cuDNN's was 3 % faster before our kernel's rework took 14 % off it (BENCHMARKS.md §5, not rerun side by
    # side). Else the preferred SDPA backend: flash | cudnn | efficient (the others follow as fallbacks)
    attention: str = "triton"
    gelu_epilogue: bool = True  # feed-forward GELU in cuBLASLt's GEMM epilogue (tanh approximation)
    # q/k/v copied to contiguous [B, H, T, D] before attention (the step's views are strided): a diagnostic for the
    # cuDNN SNR loss once seen at T = 934 (log 9), at the cost of three copies a block
    contiguous_qkv: bool = False
    # the residual stream in the compute dtype instead of fp32: halves the traffic of the ~45 LayerNorm passes a
    # step (0.6-1.1 ms less at v4 B1 32 steps, SNR 75 -> 72 dB against upstream fp16's 55 dB). None: fp16 only, as
    # bf16's 8-bit mantissa already sits near the gate
    residual_half: bool | None = None
    graphs: bool = True  # replay CUDA graphs (False: run the same kernels eagerly)
    # "loop": one graph per (B, T, steps) holds every Euler step (a new shape costs a capture of the whole loop,
    # 0.1-0.9 s). "step": one graph of one step per (B, T), replayed per step: as fast on the H200 (BENCHMARKS.md
    # §5), captured in 0.02 s and serving any step count; the synthesis stage uses it (new lengths per request)
    graph_scope: str = "loop"
    max_graphs: int = 16


class _Packed(nn.Module):
    """The estimator's weights regrouped for the fast step: fused q/k/v, the input projection split by what changes
    per step, every AdaLN linear stacked into one fp32 GEMM."""

    def __init__(self, estimator: nn.Module, dtype: torch.dtype):
        super().__init__()
        sd = {k: v.detach().float() for k, v in estimator.state_dict().items()}
        cfg = estimator.cfg
        self.depth, self.heads, self.inner, self.dim = cfg.depth, cfg.heads, cfg.heads * cfg.dim_head, cfg.dim
        self.register_buffer("inv_freq", sd["rotary_embed.inv_freq"].clone())

        def cast(t: torch.Tensor) -> torch.Tensor:
            return t.to(dtype).contiguous()

        qkv_w, qkv_b, out_w, out_b, ff1_w, ff1_b, ff2_w, ff2_b, ada_w, ada_b = ([] for _ in range(10))
        for i in range(self.depth):
            p = f"transformer_blocks.{i}."
            qkv_w.append(torch.cat([sd[p + f"attn.to_{n}.weight"] for n in "qkv"]))
            qkv_b.append(torch.cat([sd[p + f"attn.to_{n}.bias"] for n in "qkv"]))
            out_w.append(sd[p + "attn.to_out.0.weight"])
            out_b.append(sd[p + "attn.to_out.0.bias"])
            ff1_w.append(sd[p + "ff.ff.0.0.weight"])
            ff1_b.append(sd[p + "ff.ff.0.0.bias"])
            ff2_w.append(sd[p + "ff.ff.2.weight"])
            ff2_b.append(sd[p + "ff.ff.2.bias"])
            ada_w.append(sd[p + "attn_norm.linear.weight"])
            ada_b.append(sd[p + "attn_norm.linear.bias"])
        ada_w.append(sd["norm_out.linear.weight"])
        ada_b.append(sd["norm_out.linear.bias"])
        self.qkv_w = nn.ParameterList([cast(w) for w in qkv_w])
        self.qkv_b = nn.ParameterList([cast(b) for b in qkv_b])
        self.out_w = nn.ParameterList([cast(w) for w in out_w])
        self.out_b = nn.ParameterList([cast(b) for b in out_b])
        self.ff1_w = nn.ParameterList([cast(w) for w in ff1_w])
        self.ff1_b = nn.ParameterList([cast(b) for b in ff1_b])
        self.ff2_w = nn.ParameterList([cast(w) for w in ff2_w])
        self.ff2_b = nn.ParameterList([cast(b) for b in ff2_b])
        self.ada_w = nn.Parameter(torch.cat(ada_w))  # fp32 island: AdaLN modulation
        self.ada_b = nn.Parameter(torch.cat(ada_b))
        proj = sd["input_embed.proj.weight"]  # [dim, mel + mel + text]: x | cond | text
        self.in_x_w = nn.Parameter(proj[:, :MEL].contiguous())
        self.in_cond_w = nn.Parameter(proj[:, MEL:2 * MEL].contiguous())
        self.in_text_w = nn.Parameter(proj[:, 2 * MEL:].contiguous())
        self.in_b = nn.Parameter(sd["input_embed.proj.bias"])
        conv = "input_embed.conv_pos_embed.conv1d."
        self.conv_w = nn.ParameterList([cast(sd[conv + f"{i}.weight"]) for i in (0, 2)])
        self.conv_b = nn.ParameterList([cast(sd[conv + f"{i}.bias"]) for i in (0, 2)])
        self.groups = self.dim // sd[conv + "0.weight"].shape[1]
        self.conv_w_taps = nn.ParameterList(  # [groups, K, c_in, c_out]: the Triton kernel's layout
            [w.reshape(self.groups, -1, w.shape[1], w.shape[2]).permute(0, 3, 2, 1).contiguous() for w in self.conv_w])
        self.out_w_final = nn.Parameter(cast(sd["proj_out.weight"]))
        self.out_b_final = nn.Parameter(cast(sd["proj_out.bias"]))
        for p in self.parameters():
            p.requires_grad_(False)


class _Statics:
    """A graph entry's static inputs and output; ``_run`` copies a call's data in and the output out."""

    def __init__(self, runner: "TorchFastCFM", batch: int, frames: int):
        dev = runner.device
        self.x0 = torch.zeros(batch, frames, MEL, device=dev)
        self.prompt = torch.zeros(batch, frames, MEL, device=dev)
        self.mu = torch.zeros(batch, frames, runner.text_dim, device=dev)
        self.keep = torch.ones(frames, 1, device=dev)  # 0 on prompt frames: the Euler state is re-zeroed there
        self.out = torch.zeros(batch, frames, MEL, device=dev)
        self.dt = torch.full((batch,), 1.0, device=dev)  # the conditioner's dt embedding is not used here

    def _text(self, runner: "TorchFastCFM") -> torch.Tensor:
        return runner.conditioner.condition(self.mu, self.dt)[0]


def _capture(device: torch.device, body: Callable[[], None]) -> torch.cuda.CUDAGraph:
    """Warm ``body`` up on a side stream (Triton JIT, cuBLAS handles and workspaces), then capture it."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side), torch.inference_mode():
        body()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.inference_mode():
        body()
    return graph


class _Loop(_Statics):
    """Graph scope ``loop``: one (batch, frames, steps) graph holds the conditioner and every Euler step."""

    def __init__(self, runner: "TorchFastCFM", batch: int, frames: int, steps: int):
        super().__init__(runner, batch, frames)
        self.mods = runner._mods(steps)
        self.graph: torch.cuda.CUDAGraph | None = None

    def body(self, runner: "TorchFastCFM") -> None:
        self.out.copy_(runner._loop(self.x0, self.prompt, self._text(runner), self.mods, self.keep))

    def capture(self, runner: "TorchFastCFM") -> None:
        self.graph = _capture(runner.device, lambda: self.body(runner))

    def run(self, runner: "TorchFastCFM", mods: torch.Tensor) -> None:
        """One call (``mods`` is this entry's own table: its steps are part of its key)."""
        if self.graph is not None:
            self.graph.replay()
        else:
            self.body(runner)


class _OneStep(_Statics):
    """Graph scope ``step``: per (batch, frames), a prologue graph (conditioner, input projection, RoPE tables) and
    a graph of ONE Euler step, replayed ``steps`` times with that step's modulation row copied in. A new shape costs
    a one-step capture instead of the whole loop's; any step count reuses it."""

    def __init__(self, runner: "TorchFastCFM", batch: int, frames: int):
        super().__init__(runner, batch, frames)
        self.x = torch.zeros(batch, frames, MEL, device=runner.device)  # the Euler state
        self.mod = torch.zeros(1, runner.packed.ada_w.shape[0], device=runner.device)
        self.d = torch.zeros((), device=runner.device)  # 1 / steps
        self.cond = self.cos = self.sin = None
        self.scratch = runner._buffers(batch, frames)
        self.graphs: tuple[torch.cuda.CUDAGraph, torch.cuda.CUDAGraph] | None = None

    def prologue(self, runner: "TorchFastCFM") -> None:
        self.cond, self.cos, self.sin = runner._prologue(self.prompt, self._text(runner))
        self.x.copy_(self.x0)

    def step(self, runner: "TorchFastCFM") -> None:
        v = runner._velocity(self.x, self.cond, self.cos, self.sin, self.mod, *self.scratch)
        self.x.copy_((self.x + self.d * v) * self.keep)

    def capture(self, runner: "TorchFastCFM") -> None:
        self.graphs = (_capture(runner.device, lambda: self.prologue(runner)),
                       _capture(runner.device, lambda: self.step(runner)))

    def run(self, runner: "TorchFastCFM", mods: torch.Tensor) -> None:
        self.d.fill_(1.0 / mods.shape[0])
        if self.graphs is None:
            self.prologue(runner)
        else:
            self.graphs[0].replay()
        for s in range(mods.shape[0]):
            self.mod.copy_(mods[s])
            if self.graphs is None:
                self.step(runner)
            else:
                self.graphs[1].replay()
        self.out.copy_(self.x)


class TorchFastCFM:
    """``inference(mu [B,T,512], prompt [1|B,100,Tp], steps, noise=None) -> mel [B,100,T]`` on a CUDA GPU.

    ``estimator`` is our DiT (gsv_trt.models.cfm.dit.DiT); its fp32 weights are copied and regrouped, the module
    itself is not changed. Non-finite output is never returned: the call is rerun one precision wider
    (fp16 -> bf16 -> fp32) with a message, and the runtime stays there.
    """

    def __init__(self, estimator: nn.Module, options: FastOptions = FastOptions(), device: str | torch.device = "cuda",
                 weights: str = "", log=None, cache_dir: str | Path | None = None):
        if not torch.cuda.is_available():
            raise GsvTrtError("torch-fast CFM needs a CUDA GPU (torch.cuda.is_available() is False)")
        if options.precision not in DTYPES:
            raise GsvTrtError(f"precision {options.precision!r}: expected one of {', '.join(DTYPES)}")
        if options.conv not in CONV_IMPLS:
            raise GsvTrtError(f"conv {options.conv!r}: expected one of {', '.join(CONV_IMPLS)}")
        if options.graph_scope not in GRAPH_SCOPES:
            raise GsvTrtError(f"graph scope {options.graph_scope!r}: expected one of {', '.join(GRAPH_SCOPES)}")
        self.device = torch.device(device)
        self.cache = compile_cache.enable(cache_dir, self.device.index or 0)  # Triton kernels survive restarts
        self.estimator = estimator
        self.weights = weights
        self.log = log or (lambda message: print(message, file=sys.stderr))
        self.conditioner = _Conditioner(estimator).to(self.device).eval()
        self.lock = threading.Lock()
        self.capture_seconds: dict[tuple[int, ...], float] = {}  # per graph key: (B, T, steps) or (B, T)
        self._configure(options)

    def _configure(self, options: FastOptions) -> None:
        """(Re)build everything that depends on the precision; drops captured graphs."""
        self.options = options
        self.dtype = DTYPES[options.precision]
        self.packed = _Packed(self.estimator, self.dtype).to(self.device)
        # the Triton conv's tl.dot needs >= 16 channels a group (the full DiT has 64); narrower test configs: cuDNN
        narrow = self.packed.dim // self.packed.groups < TRITON_MIN_GROUP_CHANNELS
        self.conv = "cudnn" if options.conv == "triton" and narrow else options.conv
        self.text_dim = self.packed.in_text_w.shape[1]
        self.fused_attention = options.attention == "triton" and self.dtype != torch.float32
        half = options.residual_half
        self.residual_dtype = self.dtype if (self.dtype == torch.float16 if half is None else half) else torch.float32
        self.attention = self._pick_attention("flash" if options.attention == "triton" else options.attention)
        self.graphs: OrderedDict[tuple[int, ...], _Loop | _OneStep] = OrderedDict()
        self._mod_tables: dict[int, torch.Tensor] = {}
        self.info = RuntimeInfo("torch-fast", options.precision, torch.cuda.get_device_name(self.device),
                                f"conv {self.conv}, attention "
                                f"{'triton fused q/k/v' if self.fused_attention else self.attention.name}, "
                                f"residual {str(self.residual_dtype).removeprefix('torch.')}, "
                                f"{SCOPE_TEXT[options.graph_scope] if options.graphs else 'no graphs'}; {self.weights}")

    def _pick_attention(self, preferred: str):
        """The preferred SDPA backend if it takes this dtype and layout here, else the next that does."""
        from torch.nn.attention import SDPBackend, sdpa_kernel

        order = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
                 "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
        qkv = torch.zeros(1, 256, 3, self.packed.heads, self.packed.inner // self.packed.heads, device=self.device,
                          dtype=self.dtype)
        q, k, v = (qkv[:, :, j].transpose(1, 2) for j in range(3))  # the strided layout the step uses
        for backend in [order[preferred]] + [b for n, b in order.items() if n != preferred]:
            try:
                with sdpa_kernel(backend):
                    F.scaled_dot_product_attention(q, k, v)
                return backend
            except RuntimeError:
                continue
        raise GsvTrtError("no scaled-dot-product-attention backend runs here")

    # -- the computation -------------------------------------------------------------------------------------------
    def _modulations(self, steps: int) -> torch.Tensor:
        """Every block's AdaLN shift/scale/gate for every step, [steps, 1, depth*6*dim + 2*dim] fp32.

        They depend on the step's t and on the step size only (not on the input), so they are computed once per
        step count, outside the graph, in fp32 (an fp32 island)."""
        p = self.packed
        t_values, t = [], 0.0
        for _ in range(steps):  # t accumulates in Python floats, as upstream's loop does
            t_values.append(t)
            t += 1.0 / steps
        with torch.inference_mode():
            times = torch.tensor(t_values, device=self.device, dtype=torch.float32)
            dt_emb = self.conditioner.estimator.d_embed(torch.full((1,), 1.0 / steps, device=self.device))
            t_emb = self.conditioner.estimator.time_embed(times)[:, None, :] + dt_emb[None]
            return F.linear(F.silu(t_emb), p.ada_w, p.ada_b).contiguous()

    def _rope_table(self, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        pos = torch.arange(frames, device=self.device, dtype=torch.float32)
        angles = torch.outer(pos, self.packed.inv_freq)  # fp32 island: RoPE angles
        return angles.cos().contiguous(), angles.sin().contiguous()

    def _position_embedding(self, h0: torch.Tensor, h: torch.Tensor) -> None:
        """``h = h0 + ConvPositionEmbedding(h0)`` (2 x grouped Conv1d k=31 + Mish), time-major [B, T, D]."""
        p, dtype = self.packed, self.dtype
        if self.conv == "triton":
            from ..kernels.dit import grouped_conv_mish

            first = torch.empty(h.shape, device=self.device, dtype=dtype)
            grouped_conv_mish(h0.to(dtype), p.conv_w_taps[0], p.conv_b[0], first)
            grouped_conv_mish(first, p.conv_w_taps[1], p.conv_b[1], h, residual=h0)
            return
        x = h0.to(dtype)
        for w, b in zip(p.conv_w, p.conv_b):
            x = F.mish(self._grouped_conv(x, w, b))
        h.copy_(x.float() + h0)

    def _grouped_conv(self, h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        kind, groups, k = self.conv, self.packed.groups, w.shape[-1]
        if kind == "cudnn":
            return F.conv1d(h.transpose(1, 2), w, b, padding=k // 2, groups=groups).transpose(1, 2)
        if kind == "cudnn-nlc":
            x = h.transpose(1, 2).unsqueeze(2)  # [B, C, 1, T] view, channels-last in memory
            y = F.conv2d(x, w.unsqueeze(2).contiguous(memory_format=torch.channels_last), b,
                         padding=(0, k // 2), groups=groups)
            return y.squeeze(2).transpose(1, 2)
        batch, frames, dim = h.shape
        cg = dim // groups
        padded = F.pad(h, (0, 0, k // 2, k // 2))  # [B, T + k - 1, D]
        windows = padded.unfold(1, k, 1)  # [B, T, D, k]
        windows = windows.reshape(batch * frames, groups, cg * k).transpose(0, 1)  # [G, B*T, cg*k]
        weight = w.reshape(groups, cg, cg * k).transpose(1, 2)  # [G, cg*k, cg]
        y = torch.bmm(windows, weight)  # [G, B*T, cg]
        return y.transpose(0, 1).reshape(batch, frames, dim) + b

    def _prologue(self, prompt: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Once per call: the prompt/text part of the input projection [B, T, dim] fp32 and the RoPE tables."""
        p = self.packed
        cond = F.linear(prompt, p.in_cond_w) + F.linear(text, p.in_text_w, p.in_b)
        return (cond, *self._rope_table(prompt.shape[1]))

    def _buffers(self, batch: int, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The residual stream (fp32, or the compute dtype: ``residual_half``) and a step's normalised GEMM input."""
        return (torch.empty(batch, frames, self.packed.dim, device=self.device, dtype=self.residual_dtype),
                torch.empty(batch, frames, self.packed.dim, device=self.device, dtype=self.dtype))

    def _velocity(self, x: torch.Tensor, cond: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                  mod: torch.Tensor, h: torch.Tensor, normed: torch.Tensor) -> torch.Tensor:
        """One estimator call at the Euler state ``x`` [B, T, mel] with the step's modulation row ``mod`` [1, n]
        -> v [B, T, mel] fp32. ``h`` and ``normed`` are scratch (``_buffers``)."""
        from torch.nn.attention import sdpa_kernel

        from ..kernels.attention import fused_qkv_attention
        from ..kernels.dit import modulated_norm, rope_first_channels

        p = self.packed
        batch, frames, _ = x.shape
        dim, inner, heads = p.dim, p.inner, p.heads
        h0 = F.linear(x, p.in_x_w) + cond
        self._position_embedding(h0, h)
        m = mod.expand(batch, -1)  # batch stride 0: one modulation row serves every item
        for i in range(p.depth):
            base = i * 6 * dim
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = (
                m[:, base + j * dim: base + (j + 1) * dim] for j in range(6))
            if i == 0:
                modulated_norm(h, shift_msa, scale_msa, normed)
            qkv = F.linear(normed, p.qkv_w[i], p.qkv_b[i])  # [B, T, 3 * inner]
            rope_first_channels(qkv, cos, sin, inner)
            if self.fused_attention:
                attn = fused_qkv_attention(qkv, heads)  # [B, T, inner] straight from the projection
            else:
                q, k, v = (qkv[..., j * inner:(j + 1) * inner].view(batch, frames, heads, -1).transpose(1, 2)
                           for j in range(3))
                if self.options.contiguous_qkv:
                    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
                with sdpa_kernel(self.attention):
                    attn = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, frames, inner)
            attn = F.linear(attn, p.out_w[i], p.out_b[i])
            modulated_norm(h, shift_mlp, scale_mlp, normed, residual=attn, gate=gate_msa)
            if self.options.gelu_epilogue:
                hidden = torch._addmm_activation(p.ff1_b[i], normed.view(batch * frames, dim), p.ff1_w[i].t(),
                                                 use_gelu=True).view(batch, frames, -1)
            else:
                hidden = F.gelu(F.linear(normed, p.ff1_w[i], p.ff1_b[i]), approximate="tanh")
            ff = F.linear(hidden, p.ff2_w[i], p.ff2_b[i])
            if i + 1 < p.depth:
                nxt = (i + 1) * 6 * dim
                modulated_norm(h, m[:, nxt:nxt + dim], m[:, nxt + dim:nxt + 2 * dim], normed, residual=ff,
                               gate=gate_mlp)
            else:  # norm_out: AdaLayerNormZero_Final chunks (scale, shift)
                fin = p.depth * 6 * dim
                modulated_norm(h, m[:, fin + dim:fin + 2 * dim], m[:, fin:fin + dim], normed, residual=ff,
                               gate=gate_mlp)
        return F.linear(normed, p.out_w_final, p.out_b_final).float()  # [B, T, mel]

    def _loop(self, x0: torch.Tensor, prompt: torch.Tensor, text: torch.Tensor, mods: torch.Tensor,
              keep: torch.Tensor) -> torch.Tensor:
        """All Euler steps from ``x0`` (the ``loop`` graph scope: one graph holds them)."""
        cond, cos, sin = self._prologue(prompt, text)
        h, normed = self._buffers(*x0.shape[:2])
        d = 1.0 / mods.shape[0]
        x = x0
        for s in range(mods.shape[0]):
            x = (x + d * self._velocity(x, cond, cos, sin, mods[s], h, normed)) * keep
        return x

    # -- graphs and calls ------------------------------------------------------------------------------------------
    def _graph_for(self, batch: int, frames: int, steps: int) -> "_Loop | _OneStep":
        per_step = self.options.graph_scope == "step"
        key = (batch, frames) if per_step else (batch, frames, steps)
        if key in self.graphs:
            self.graphs.move_to_end(key)
            return self.graphs[key]
        start = time.perf_counter()
        entry = _OneStep(self, batch, frames) if per_step else _Loop(self, batch, frames, steps)
        if self.options.graphs:
            entry.capture(self)
        torch.cuda.synchronize(self.device)
        self.capture_seconds[key] = time.perf_counter() - start
        self.graphs[key] = entry
        while len(self.graphs) > self.options.max_graphs:
            self.graphs.popitem(last=False)
        return entry

    def _mods(self, steps: int) -> torch.Tensor:
        if steps not in self._mod_tables:
            self._mod_tables[steps] = self._modulations(steps)
        return self._mod_tables[steps]

    def _run(self, mu: torch.Tensor, prompt: torch.Tensor, steps: int, noise: torch.Tensor,
             temperature: float) -> torch.Tensor:
        batch, frames, _ = mu.shape
        prompt_len = prompt.shape[-1]
        entry = self._graph_for(batch, frames, steps)
        entry.mu.copy_(mu)
        entry.x0.copy_(noise.transpose(1, 2))
        entry.x0.mul_(temperature)
        entry.x0[:, :prompt_len] = 0
        entry.prompt.zero_()
        entry.prompt[:, :prompt_len] = prompt.transpose(1, 2)
        entry.keep.fill_(1.0)
        entry.keep[:prompt_len] = 0
        entry.run(self, self._mods(steps))
        return entry.out.transpose(1, 2).clone()

    @torch.inference_mode()
    def inference(self, mu: torch.Tensor, prompt: torch.Tensor, steps: int, noise: torch.Tensor | None = None,
                  temperature: float = 1.0) -> torch.Tensor:
        """Upstream's ``CFM.inference(mu, x_lens=[T], prompt, steps, inference_cfg_rate=0)`` -> fp32 [B, 100, T].

        One device sync per call (the finiteness check). Thread-safe: calls share the graphs' static buffers, so
        they run one at a time."""
        batch, frames, _ = mu.shape
        mu = mu.to(self.device, torch.float32)
        prompt = prompt.to(self.device, torch.float32)
        if noise is None:
            noise = torch.randn([batch, MEL, frames], device=self.device, dtype=torch.float32)
        noise = noise.to(self.device, torch.float32)
        with self.lock:
            while True:
                mel = self._run(mu, prompt, steps, noise, temperature)
                if bool(torch.isfinite(mel).all()):
                    return mel
                wider = FALLBACK.get(self.options.precision)
                if wider is None:
                    raise GsvTrtError("torch-fast CFM: non-finite mel even in fp32 (check the weights and inputs)")
                self.log(f"torch-fast CFM: {self.options.precision} gave non-finite values; "
                         f"falling back to {wider} for this and later calls")
                self._configure(dataclasses.replace(self.options, precision=wider))


class _Conditioner(nn.Module):
    """The once-per-call fp32 parts of the estimator: its own ``condition`` and time embedding (plain modules)."""

    def __init__(self, estimator: nn.Module):
        super().__init__()
        blocks = estimator.transformer_blocks  # the blocks run from _Packed; copy everything else
        self.estimator = copy.deepcopy(estimator, memo={id(blocks): nn.ModuleList()})

    def condition(self, mu: torch.Tensor, dt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.estimator.condition(mu, dt)

    def time(self, t: torch.Tensor) -> torch.Tensor:
        return self.estimator.time_embed(t)

