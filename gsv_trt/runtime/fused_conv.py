"""A channels-last Conv1d in Triton with the v4 resblock's elementwise work folded in: leaky ReLU on the input,
bias and residual add on the output, and the valid-length contract of the graph buckets (input past the real
signal reads as zero, output past it is written as zero).

Why: cuDNN runs the v4 Generator's 16-64-channel convs at a fraction of memory bandwidth, and each conv there is
surrounded by a leaky-ReLU pass and an add pass over the same tensor. One implicit-GEMM kernel per conv (taps x
input-channel blocks as the reduction, ``tl.dot`` on the tensor cores, fp32 accumulation) reads the input and the
residual once and writes the output once.

Without Triton this module still imports; calling the kernel then raises GsvTrtError.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GsvTrtError
from .fused_activation import needs_gpu_reason

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only installs
    triton = None

if triton is not None:

    @triton.jit(do_not_specialize=["L", "rate", "sxb", "srb", "syb", "K", "DIL", "PAD"])
    def conv1d_nlc_kernel(x_ptr, w_ptr, b_ptr, res_ptr, y_ptr, valid_ptr, L, rate,
                          sxb, sxl, srb, srl, syb, syl, K, DIL, PAD,
                          CIN: tl.constexpr, COUT: tl.constexpr,
                          SLOPE: tl.constexpr, PRE_LRELU: tl.constexpr, HAS_RES: tl.constexpr,
                          BLOCK_L: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                          DOT_PRECISION: tl.constexpr):
        pid_l = tl.program_id(0)
        pid_n = tl.program_id(1)
        b = tl.program_id(2).to(tl.int64)
        lv = tl.minimum(tl.load(valid_ptr) * rate, L)
        rows = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)
        cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        ck = tl.arange(0, BLOCK_K)
        x_base = x_ptr + b * sxb
        acc = tl.zeros([BLOCK_L, BLOCK_N], dtype=tl.float32)
        n_cblk: tl.constexpr = CIN // BLOCK_K
        for it in range(K * n_cblk):  # taps x input-channel blocks: one pipelined reduction loop
            k = it // n_cblk
            c0 = (it % n_cblk) * BLOCK_K
            pos = rows + k * DIL - PAD
            inside = (pos >= 0) & (pos < lv)  # zero padding at both ends of the real signal
            xt = tl.load(x_base + pos[:, None] * sxl + (c0 + ck)[None, :], mask=inside[:, None], other=0.0)
            if PRE_LRELU:
                xt = tl.where(xt > 0, xt, xt * SLOPE)
            wt = tl.load(w_ptr + (k * CIN + c0 + ck)[:, None] * COUT + cols[None, :])
            acc = tl.dot(xt, wt, acc, input_precision=DOT_PRECISION)
        acc += tl.load(b_ptr + cols).to(tl.float32)[None, :]
        out_mask = (rows < L)[:, None]
        if HAS_RES:
            acc += tl.load(res_ptr + b * srb + rows[:, None] * srl + cols[None, :], mask=out_mask,
                           other=0.0).to(tl.float32)
        acc = tl.where((rows < lv)[:, None], acc, 0.0)
        tl.store(y_ptr + b * syb + rows[:, None] * syl + cols[None, :], acc.to(y_ptr.dtype.element_ty),
                 mask=out_mask)


def default_tile(cin: int, cout: int) -> tuple[int, int, int, int, int]:
    """(BLOCK_L, BLOCK_N, BLOCK_K, num_warps, num_stages) for a channel count; see docs/torch-fast.md."""
    if cout <= 16:
        return 128, cout, min(cin, 64), 4, 3
    return 64, min(cout, 128), min(cin, 64), 4, 3


def conv1d_nlc(x: torch.Tensor, weight_kcn: torch.Tensor, bias: torch.Tensor, dilation: int, padding: int,
               valid: torch.Tensor, rate: int, pre_lrelu: float | None = None,
               residual: torch.Tensor | None = None,
               tile: tuple[int, int, int, int, int] | None = None) -> torch.Tensor:
    """``conv1d(lrelu(x)) + bias (+ residual)`` for a channels-last [B, Cin, L] ``x`` (channel stride 1).

    ``weight_kcn`` is the conv weight laid out [K, Cin, Cout]. Only the first ``valid*rate`` samples are real:
    the input beyond reads as zero and the output beyond is zero. Returns channels-last [B, Cout, L].
    """
    reason = needs_gpu_reason(x)
    if reason:
        raise GsvTrtError(reason)
    batch, cin, length = x.shape
    taps, wcin, cout = weight_kcn.shape
    if wcin != cin or x.stride(1) != 1 or (residual is not None and residual.stride(1) != 1):
        raise GsvTrtError(f"fused conv: expected channels-last input with {wcin} channels, got {list(x.shape)} "
                          f"strides {tuple(x.stride())}")
    block_l, block_n, block_k, warps, stages = tile or default_tile(cin, cout)
    if cin % block_k or cout % block_n or cin < 16 or cout < 16:
        raise GsvTrtError(f"fused conv: channel counts {cin}->{cout} must be multiples of 16")
    y = torch.empty((batch, length, cout), device=x.device, dtype=x.dtype).transpose(1, 2)
    res = residual if residual is not None else y
    grid = (triton.cdiv(length, block_l), cout // block_n, batch)
    with torch.cuda.device(x.device):
        conv1d_nlc_kernel[grid](x, weight_kcn, bias, res, y, valid, length, rate,
                                x.stride(0), x.stride(2), res.stride(0), res.stride(2), y.stride(0), y.stride(2),
                                taps, dilation, padding, CIN=cin, COUT=cout,
                                SLOPE=0.0 if pre_lrelu is None else pre_lrelu, PRE_LRELU=pre_lrelu is not None,
                                HAS_RES=residual is not None, BLOCK_L=block_l, BLOCK_N=block_n, BLOCK_K=block_k,
                                DOT_PRECISION="ieee" if x.dtype == torch.float32 else "tf32",
                                num_warps=warps, num_stages=stages)
    return y


def _conv_impl(x, weight, bias, dilation, padding, valid, rate, slope, residual):
    return conv1d_nlc(x, weight, bias, dilation, padding, valid, rate, slope, residual)


def _conv_fake(x, weight, bias, dilation, padding, valid, rate, slope, residual):
    return torch.empty((x.shape[0], x.shape[2], weight.shape[2]), device=x.device, dtype=x.dtype).transpose(1, 2)


conv1d_nlc_op = torch.library.custom_op(
    "gsv_trt::conv1d_nlc", _conv_impl, mutates_args=(),
    schema="(Tensor x, Tensor weight, Tensor bias, int dilation, int padding, Tensor valid, int rate, "
           "float? slope, Tensor? residual) -> Tensor")
conv1d_nlc_op.register_fake(_conv_fake)


class FusedResBlock1(nn.Module):
    """Drop-in for the v4 ``ResBlock1``: per dilation ``x = conv2(lrelu(conv1(lrelu(x)))) + x`` as two kernels."""

    def __init__(self, block: nn.Module, dtype: torch.dtype, slope: float, rate: int, valid: torch.Tensor):
        super().__init__()
        self.slope, self.rate, self.valid = slope, rate, valid
        self.specs = []  # (dilation, padding) per conv, convs1 then convs2 interleaved
        for i, (c1, c2) in enumerate(zip(block.convs1, block.convs2)):
            for name, conv in (("w1", c1), ("w2", c2)):
                self.register_buffer(f"{name}_{i}", conv.weight.detach().permute(2, 1, 0).contiguous().to(dtype))
                self.register_buffer(f"{name.replace('w', 'b')}_{i}", conv.bias.detach().to(dtype))
            self.specs.append(((c1.dilation[0], c1.padding[0]), (c2.dilation[0], c2.padding[0])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, ((d1, p1), (d2, p2)) in enumerate(self.specs):
            xt = conv1d_nlc_op(x, getattr(self, f"w1_{i}"), getattr(self, f"b1_{i}"), d1, p1, self.valid, self.rate,
                               self.slope, None)
            x = conv1d_nlc_op(xt, getattr(self, f"w2_{i}"), getattr(self, f"b2_{i}"), d2, p2, self.valid, self.rate,
                              self.slope, x)
        return x
