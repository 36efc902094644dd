"""Triton kernels for the DiT's elementwise work, fused around the GEMMs and attention the fast CFM leaves to cuBLAS
and FlashAttention.

The residual stream stays fp32 (an fp32 island: a DiT's residual grows over 22 blocks, and LayerNorm statistics of
an fp16 stream overflow); each kernel reads it once, normalises in fp32 and writes the GEMM input in the compute
dtype. Modulation vectors are fp32 rows of a per-call table ([B, n] with a batch stride), so one launch serves every
row of a [B*T, D] activation.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

LN_EPS = 1e-6  # upstream's nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)


@triton.jit
def _modulated_norm_kernel(h_ptr, y_ptr, gate_ptr, shift_ptr, scale_ptr, out_ptr, rows_per_batch, mod_stride,
                           D: tl.constexpr, HAS_RESIDUAL: tl.constexpr, EPS: tl.constexpr):
    row = tl.program_id(0)
    batch = row // rows_per_batch
    cols = tl.arange(0, D)
    h = tl.load(h_ptr + row * D + cols).to(tl.float32)
    if HAS_RESIDUAL:
        gate = tl.load(gate_ptr + batch * mod_stride + cols)
        y = tl.load(y_ptr + row * D + cols).to(tl.float32)
        h = h + gate * y
        tl.store(h_ptr + row * D + cols, h.to(h_ptr.dtype.element_ty))
    mean = tl.sum(h, axis=0) / D
    centred = h - mean
    var = tl.sum(centred * centred, axis=0) / D
    normed = centred * tl.rsqrt(var + EPS)
    shift = tl.load(shift_ptr + batch * mod_stride + cols)
    scale = tl.load(scale_ptr + batch * mod_stride + cols)
    tl.store(out_ptr + row * D + cols, (normed * (1.0 + scale) + shift).to(out_ptr.dtype.element_ty))


def modulated_norm(h: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, out: torch.Tensor,
                   residual: torch.Tensor | None = None, gate: torch.Tensor | None = None) -> None:
    """``out = LayerNorm(h) * (1 + scale) + shift``, after ``h += gate * residual`` (in place) when given.

    ``h`` [B, T, D] contiguous, fp32 (or fp16/bf16: the sums still run in fp32); ``residual``/``out`` [B, T, D] in any
    float dtype; ``shift``/``scale``/``gate``
    fp32 [B, D] views with unit column stride and one common row stride (slices of the modulation table).
    """
    batch, frames, dim = h.shape
    mod_stride = shift.stride(0)
    for m in (scale, gate):
        if m is not None and m.stride(0) != mod_stride:
            raise ValueError("modulation vectors must share one batch stride")
    has_residual = residual is not None
    _modulated_norm_kernel[(batch * frames,)](
        h, residual if has_residual else h, gate if has_residual else shift, shift, scale, out, frames, mod_stride,
        D=dim, HAS_RESIDUAL=has_residual, EPS=LN_EPS, num_warps=4)


@triton.jit
def _rope_kernel(qkv_ptr, cos_ptr, sin_ptr, rows_per_batch, row_stride, k_offset, HALF: tl.constexpr):
    row = tl.program_id(0)
    pos = row % rows_per_batch
    pairs = tl.arange(0, HALF)
    cos = tl.load(cos_ptr + pos * HALF + pairs)
    sin = tl.load(sin_ptr + pos * HALF + pairs)
    for base in tl.static_range(2):
        ptr = qkv_ptr + row * row_stride + base * k_offset + 2 * pairs
        even = tl.load(ptr).to(tl.float32)
        odd = tl.load(ptr + 1).to(tl.float32)
        tl.store(ptr, (even * cos - odd * sin).to(qkv_ptr.dtype.element_ty))
        tl.store(ptr + 1, (odd * cos + even * sin).to(qkv_ptr.dtype.element_ty))


def rope_first_channels(qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, k_offset: int) -> None:
    """Rotate, in place, the first ``2 * cos.shape[1]`` channels of q (at column 0) and k (at ``k_offset``) of the
    fused projection ``qkv`` [B, T, 3 * inner], interleaved pairs, angles in fp32 (``cos``/``sin`` [T, half])."""
    batch, frames, width = qkv.shape
    _rope_kernel[(batch * frames,)](qkv, cos, sin, frames, width, k_offset, HALF=cos.shape[1], num_warps=1)


@triton.jit
def _grouped_conv_mish_kernel(x_ptr, w_ptr, b_ptr, res_ptr, y_ptr, frames, D: tl.constexpr, CG: tl.constexpr,
                              K: tl.constexpr, BLOCK_T: tl.constexpr, HAS_RESIDUAL: tl.constexpr,
                              DOT_PRECISION: tl.constexpr):
    tile, group, batch = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    rows = tile * BLOCK_T + tl.arange(0, BLOCK_T)
    chans = tl.arange(0, CG)
    x_base = x_ptr + batch * frames * D + group * CG
    acc = tl.zeros((BLOCK_T, CG), dtype=tl.float32)
    for k in range(K):
        src = rows + (k - K // 2)
        inside = (src >= 0) & (src < frames)
        xt = tl.load(x_base + src[:, None] * D + chans[None, :], mask=inside[:, None], other=0.0)
        wt = tl.load(w_ptr + ((group * K + k) * CG + chans[:, None]) * CG + chans[None, :])
        acc = tl.dot(xt, wt, acc, input_precision=DOT_PRECISION)
    acc += tl.load(b_ptr + group * CG + chans)[None, :].to(tl.float32)
    e = tl.exp(tl.minimum(acc, 20.0))
    y = tl.where(acc > 20.0, acc, acc * (e * e + 2.0 * e) / (e * e + 2.0 * e + 2.0))  # x * tanh(softplus(x))
    offsets = batch * frames * D + rows[:, None] * D + group * CG + chans[None, :]
    valid = (rows < frames)[:, None]
    if HAS_RESIDUAL:
        y += tl.load(res_ptr + offsets, mask=valid, other=0.0)
    tl.store(y_ptr + offsets, y.to(y_ptr.dtype.element_ty), mask=valid)


def conv_weight_for_kernel(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """Conv1d weight [D, D/groups, K] -> [groups, K, c_in, c_out], the layout the grouped-conv kernel reads."""
    dim, cg, k = weight.shape
    return weight.reshape(groups, cg, cg, k).permute(0, 3, 2, 1).contiguous()


def grouped_conv_mish(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, out: torch.Tensor,
                      residual: torch.Tensor | None = None, block_t: int = 64) -> None:
    """``out = Mish(Conv1d(x, groups, 'same' zero padding)) (+ residual)`` on time-major [B, T, D] tensors.

    One implicit GEMM per (time tile, group): the K taps are K accumulating [block_t, c] x [c, c] tensor-core dots
    over shifted windows of the input (L1/L2-resident), instead of cuDNN's per-group launches.
    ``weight`` comes from :func:`conv_weight_for_kernel`; ``residual``, when given, is fp32 and added after Mish.
    """
    batch, frames, dim = x.shape
    groups, k, cg, _ = weight.shape
    grid = (triton.cdiv(frames, block_t), groups, batch)
    _grouped_conv_mish_kernel[grid](x, weight, bias, residual if residual is not None else out, out, frames,
                                    D=dim, CG=cg, K=k, BLOCK_T=block_t, HAS_RESIDUAL=residual is not None,
                                    DOT_PRECISION="ieee" if x.dtype == torch.float32 else "tf32",  # fp32: no TF32
                                    num_warps=4, num_stages=3)
