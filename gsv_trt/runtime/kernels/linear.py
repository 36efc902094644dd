"""``y = x Wᵀ + b`` (optionally GELU-tanh) as a Triton GEMM whose tile fits the DiT's short M.

At B = 1 the DiT's projections have M = T ≈ 1000 rows. cuBLAS's large tiles leave the N = 1024 GEMMs (attention
output, second feed-forward) about half a wave on 132 SMs; a 64- or 128-row tile by 64 columns fills one wave.
fp32 accumulation, bias and GELU in the epilogue, fp16/bf16 in and out.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _linear_kernel(x_ptr, w_ptr, b_ptr, y_ptr, M, N, K, x_stride, y_stride, GELU: tl.constexpr,
                   BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    pid = tl.program_id(0)
    tiles_m, tiles_n = tl.cdiv(M, BLOCK_M), tl.cdiv(N, BLOCK_N)
    per_group = GROUP_M * tiles_n  # grouped order: neighbouring programs share W tiles in L2
    first_m = (pid // per_group) * GROUP_M
    group_m = min(tiles_m - first_m, GROUP_M)
    pid_m = first_m + (pid % per_group) % group_m
    pid_n = (pid % per_group) // group_m
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    ks = tl.arange(0, BLOCK_K)
    x_tile = x_ptr + rows[:, None] * x_stride + ks[None, :]
    w_tile = w_ptr + cols[None, :] * K + ks[:, None]  # W [N, K] row-major, read as Wᵀ tiles
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for _ in range(0, K, BLOCK_K):  # K % BLOCK_K == 0 and N % BLOCK_N == 0 (checked by the caller)
        a = tl.load(x_tile, mask=rows[:, None] < M, other=0.0)
        acc = tl.dot(a, tl.load(w_tile), acc)
        x_tile += BLOCK_K
        w_tile += BLOCK_K
    acc += tl.load(b_ptr + cols)[None, :].to(tl.float32)
    if GELU:  # tanh approximation, as torch's gelu(approximate="tanh"): tanh(u) = 1 - 2 / (exp(2u) + 1)
        u = 0.7978845608028654 * (acc + 0.044715 * acc * acc * acc)
        acc = 0.5 * acc * (2.0 - 2.0 / (tl.exp(2.0 * u) + 1.0))
    tl.store(y_ptr + rows[:, None] * y_stride + cols[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=rows[:, None] < M)


def triton_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, tile: tuple[int, int, int, int, int],
                  gelu: bool = False, out: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` [..., K] (rows contiguous), ``weight`` [N, K] contiguous, ``bias`` [N] -> [..., N] in x's dtype.
    ``tile``: (BLOCK_M, BLOCK_N, BLOCK_K, warps, stages)."""
    block_m, block_n, block_k, warps, stages = tile
    n, k = weight.shape
    if k % block_k or n % block_n or x.shape[-1] != k or x.stride(-1) != 1 or not weight.is_contiguous():
        raise ValueError(f"triton_linear: x {tuple(x.shape)}, weight {tuple(weight.shape)} do not fit tile {tile}")
    rows = x.reshape(-1, k)
    out = torch.empty(*x.shape[:-1], n, device=x.device, dtype=x.dtype) if out is None else out
    m = rows.shape[0]
    grid = (triton.cdiv(m, block_m) * (n // block_n),)
    _linear_kernel[grid](rows, weight, bias, out, m, n, k, rows.stride(0), n, GELU=gelu, BLOCK_M=block_m,
                         BLOCK_N=block_n, BLOCK_K=block_k, GROUP_M=8, num_warps=warps, num_stages=stages)
    return out
