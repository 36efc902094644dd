"""Mask-free attention for the DiT straight from its fused q/k/v projection, as a Triton kernel (FlashAttention-2's
online softmax).

PyTorch's SDPA backends take q/k/v as [B, H, T, D] views of the fused [B, T, 3·H·D] projection and return a
[B, H, T, D] result that the output projection needs back as [B, T, H·D]. This kernel reads the heads where the
projection wrote them and writes its result where the output projection reads it, and its tile sizes are tuned for
the DiT's few heads and short sequences (16 heads, T ≈ 1000: PyTorch's FlashAttention-2 fills one wave of SMs at
B = 1). Softmax statistics and the accumulator are fp32; P·V runs in the input dtype, as FlashAttention does. At
D = 64 the softmax's per-element work is comparable to the two dots', so the logit scale rides in the max-subtraction
and only the last, partial K/V tile is masked (10-14 % faster on an H200, docs/cfm-torch-fast.md log 16).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

# (BLOCK_M, BLOCK_N, warps, pipeline stages): the autotuner times each once per size class (T rounded up to a power
# of two, and B·H), so a new length of the same class costs no tuning
TILES = ((64, 64, 4, 3), (64, 128, 4, 3), (128, 64, 4, 3), (128, 64, 8, 3), (128, 128, 8, 3), (64, 64, 4, 4),
         (128, 32, 4, 4), (32, 64, 4, 3), (64, 128, 8, 3), (64, 128, 4, 4), (64, 64, 8, 3))


@triton.jit
def _kv_tile(q, k_ptrs, v_ptrs, cols, frames, top, total, acc, scale_log2e, MASKED: tl.constexpr):
    """One K/V tile of the online softmax; only the last (partial) tile of a row needs the frame mask."""
    if MASKED:
        k = tl.load(k_ptrs, mask=(cols < frames)[:, None], other=0.0)
        v = tl.load(v_ptrs, mask=(cols < frames)[:, None], other=0.0)
    else:
        k = tl.load(k_ptrs)
        v = tl.load(v_ptrs)
    s = tl.dot(q, tl.trans(k))  # [BLOCK_M, BLOCK_N] logits, fp32, not yet scaled
    if MASKED:
        s = tl.where((cols < frames)[None, :], s, float("-inf"))
    new_top = tl.maximum(top, tl.max(s, 1) * scale_log2e)
    p = tl.exp2(s * scale_log2e - new_top[:, None])  # the scale rides in the subtraction's FMA
    rescale = tl.exp2(top - new_top)
    total = total * rescale + tl.sum(p, 1)
    acc = tl.dot(p.to(v.dtype), v, acc * rescale[:, None])
    return new_top, total, acc


@triton.jit
def _attention_kernel(qkv_ptr, out_ptr, frames, size_class, row_stride, out_stride, inner, scale_log2e,
                      HEADS: tl.constexpr, D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    tile, bh = tl.program_id(0), tl.program_id(1)
    batch, head = bh // HEADS, bh % HEADS
    base = qkv_ptr + batch * frames * row_stride + head * D
    rows = tile * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, D)
    q = tl.load(base + rows[:, None] * row_stride + dims[None, :], mask=rows[:, None] < frames, other=0.0)
    top = tl.full([BLOCK_M], float("-inf"), tl.float32)  # running max, log2 units
    total = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, D], tl.float32)
    cols = tl.arange(0, BLOCK_N)
    k_ptrs = base + inner + cols[:, None] * row_stride + dims[None, :]  # K and V tiles as [BLOCK_N, D] rows
    v_ptrs = k_ptrs + inner
    full = frames // BLOCK_N * BLOCK_N
    for _ in range(0, full, BLOCK_N):
        top, total, acc = _kv_tile(q, k_ptrs, v_ptrs, cols, frames, top, total, acc, scale_log2e, False)
        k_ptrs += BLOCK_N * row_stride
        v_ptrs += BLOCK_N * row_stride
        cols += BLOCK_N
    if full < frames:
        top, total, acc = _kv_tile(q, k_ptrs, v_ptrs, cols, frames, top, total, acc, scale_log2e, True)
    out = acc / total[:, None]
    target = out_ptr + batch * frames * out_stride + rows[:, None] * out_stride + head * D + dims[None, :]
    tl.store(target, out.to(out_ptr.dtype.element_ty), mask=rows[:, None] < frames)


_tuned = triton.autotune(configs=[triton.Config({"BLOCK_M": m, "BLOCK_N": n}, num_warps=w, num_stages=s)
                                  for m, n, w, s in TILES], key=["size_class"])(_attention_kernel)


def fused_qkv_attention(qkv: torch.Tensor, heads: int, out: torch.Tensor | None = None,
                        tile: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """softmax(q kᵀ / √d) v per head, no mask. ``qkv`` [B, T, 3·inner] (q | k | v, heads of ``inner / heads``
    channels each, rows contiguous) -> [B, T, inner] in qkv's dtype (``out`` if given). ``tile``: one of
    ``TILES`` instead of the autotuner's choice (tests check each)."""
    batch, frames, width = qkv.shape
    inner = width // 3
    d = inner // heads
    if qkv.stride(2) != 1 or qkv.stride(0) != frames * qkv.stride(1):
        raise ValueError("qkv: rows must be contiguous and batches back to back")
    out = torch.empty(batch, frames, inner, device=qkv.device, dtype=qkv.dtype) if out is None else out
    scale_log2e = (1.0 / math.sqrt(d)) * 1.4426950408889634  # exp(x) = exp2(x · log2 e)

    size_class = triton.next_power_of_2(frames) * 100_000 + batch * heads  # the autotuner's key, unused inside
    args = (qkv, out, frames, size_class, qkv.stride(1), out.stride(1), inner, scale_log2e)
    if tile is None:
        _tuned[lambda meta: (triton.cdiv(frames, meta["BLOCK_M"]), batch * heads)](*args, HEADS=heads, D=d)
    else:
        block_m, block_n, warps, stages = tile
        _attention_kernel[(triton.cdiv(frames, block_m), batch * heads)](
            *args, HEADS=heads, D=d, BLOCK_M=block_m, BLOCK_N=block_n, num_warps=warps, num_stages=stages)
    return out
