"""One v4 Generator stage after its upsampler (three ``ResBlock1`` and their mean) as one Triton kernel.

Why: at 16-32 channels each of the stage's 18 convs is memory-bound, and run one at a time each also reads and
writes the whole signal (plus leaky-ReLU, residual and mean passes). Here a program takes a tile of ``M`` rows
(time steps), reads it once, runs all 18 convs on it with the intermediate signals in its own small scratch
(L2-resident) and writes the stage output once: ``V = M - 2H`` rows per tile, where ``H`` is the stage's
receptive-field halo (the longest resblock's six paddings summed). Each conv is an implicit GEMM over its taps
(``tl.dot`` on the tensor cores, fp32 accumulation) computed in ``CHUNK``-row pieces over only the rows later
convs still read. Programs are persistent (a few per SM, each owning one scratch slot), so scratch memory does
not grow with the input.

Zero padding is exact: every conv output at positions outside ``[0, valid*rate)`` is set to zero, so each conv
sees what it sees in an un-padded run, and the graph buckets' zero tails come out for free.

Without Triton this module still imports; calling the kernel then raises GsvTrtError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ...errors import GsvTrtError
from .fused_activation import needs_gpu_reason

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only installs
    triton = None

if triton is not None:

    @triton.jit
    def _conv_pass(src, s_stride, res, r_stride, w_ptr, b_ptr, dst, dst2, y_row, sy, pos0, lv, L,
                   LO: tl.constexpr, HI: tl.constexpr, M: tl.constexpr, H: tl.constexpr,
                   K: tl.constexpr, DIL: tl.constexpr, C: tl.constexpr, CHUNK: tl.constexpr,
                   SLOPE: tl.constexpr, FROM_INPUT: tl.constexpr, HAS_RES: tl.constexpr, OUT: tl.constexpr,
                   SCALE: tl.constexpr, DOT_PRECISION: tl.constexpr):
        # rows LO..HI of: conv(src) + bias (+ residual), zero outside [0, lv); OUT 0: lrelu -> dst;
        # 1: -> dst (residual for the next pair) and lrelu -> dst2; 2/3/4: y = v | y + v | (y + v) * SCALE.
        # FROM_INPUT: src is the stage input (masked at the signal's edges, leaky ReLU on load); otherwise src
        # is scratch, read unmasked: rows a pass reads beyond what the previous pass computed only feed rows
        # no later pass keeps, and the slot's guard rows keep those reads inside the allocation
        PAD: tl.constexpr = (K - 1) // 2 * DIL
        ch = tl.arange(0, C)
        bias = tl.load(b_ptr + ch).to(tl.float32)
        for c0 in range(LO // CHUNK * CHUNK, HI, CHUNK):
            rows = c0 + tl.arange(0, CHUNK)
            acc = tl.zeros([CHUNK, C], dtype=tl.float32)
            for tap in range(K):  # implicit GEMM: one [CHUNK, C] x [C, C] product per tap
                r = rows + (tap * DIL - PAD)
                if FROM_INPUT:
                    at = pos0 + r
                    a = tl.load(src + r[:, None] * s_stride + ch[None, :], mask=((at >= 0) & (at < lv))[:, None],
                                other=0.0)
                    a = tl.where(a > 0, a, a * SLOPE)
                else:
                    a = tl.load(src + r[:, None] * C + ch[None, :])
                wk = tl.load(w_ptr + (tap * C + ch[:, None]) * C + ch[None, :])
                acc = tl.dot(a, wk, acc, input_precision=DOT_PRECISION)
            acc += bias[None, :]
            pos = pos0 + rows
            inside = (pos >= 0) & (pos < lv)
            if HAS_RES:
                acc += tl.load(res + rows[:, None] * r_stride + ch[None, :], mask=inside[:, None],
                               other=0.0).to(tl.float32)
            acc = tl.where(inside[:, None], acc, 0.0)
            if OUT == 0:
                acc = tl.where(acc > 0, acc, acc * SLOPE)
                tl.store(dst + rows[:, None] * C + ch[None, :], acc.to(dst.dtype.element_ty))
            elif OUT == 1:
                tl.store(dst + rows[:, None] * C + ch[None, :], acc.to(dst.dtype.element_ty))
                acc = tl.where(acc > 0, acc, acc * SLOPE)
                tl.store(dst2 + rows[:, None] * C + ch[None, :], acc.to(dst2.dtype.element_ty))
            else:
                keep = ((rows >= H) & (rows < M - H) & (pos < L))[:, None]
                yp = y_row + rows[:, None] * sy + ch[None, :]
                if OUT == 3:
                    acc += tl.load(yp, mask=keep, other=0.0).to(tl.float32)
                elif OUT == 4:
                    acc = (acc + tl.load(yp, mask=keep, other=0.0).to(tl.float32)) * SCALE
                tl.store(yp, acc.to(y_row.dtype.element_ty), mask=keep)
        tl.debug_barrier()  # the next pass reads rows other threads wrote

    @triton.jit
    def _resblock(x_row, sx, y_row, sy, rbuf, abuf, bbuf, w_ptr, b_ptr, pos0, lv, L,
                  M: tl.constexpr, H: tl.constexpr, K: tl.constexpr,
                  D0: tl.constexpr, D1: tl.constexpr, D2: tl.constexpr, C: tl.constexpr, CHUNK: tl.constexpr,
                  SLOPE: tl.constexpr, OUT: tl.constexpr, SCALE: tl.constexpr, DOT_PRECISION: tl.constexpr):
        # per dilation d: x = conv2(lrelu(conv1_d(lrelu(x)))) + x; rows each pass computes shrink by what the
        # passes after it still read
        P: tl.constexpr = (K - 1) // 2
        KK: tl.constexpr = K * C * C
        R5: tl.constexpr = 0
        R4: tl.constexpr = P
        R3: tl.constexpr = R4 + P * D2
        R2: tl.constexpr = R3 + P
        R1: tl.constexpr = R2 + P * D1
        R0: tl.constexpr = R1 + P
        _conv_pass(x_row, sx, x_row, sx, w_ptr, b_ptr, bbuf, bbuf, y_row, sy, pos0, lv, L, H - R0, M - H + R0,
                   M, H, K, D0, C, CHUNK, SLOPE, True, False, 0, SCALE, DOT_PRECISION)
        _conv_pass(bbuf, C, x_row, sx, w_ptr + KK, b_ptr + C, rbuf, abuf, y_row, sy, pos0, lv, L, H - R1,
                   M - H + R1, M, H, K, 1, C, CHUNK, SLOPE, False, True, 1, SCALE, DOT_PRECISION)
        _conv_pass(abuf, C, x_row, sx, w_ptr + 2 * KK, b_ptr + 2 * C, bbuf, bbuf, y_row, sy, pos0, lv, L, H - R2,
                   M - H + R2, M, H, K, D1, C, CHUNK, SLOPE, False, False, 0, SCALE, DOT_PRECISION)
        _conv_pass(bbuf, C, rbuf, C, w_ptr + 3 * KK, b_ptr + 3 * C, rbuf, abuf, y_row, sy, pos0, lv, L, H - R3,
                   M - H + R3, M, H, K, 1, C, CHUNK, SLOPE, False, True, 1, SCALE, DOT_PRECISION)
        _conv_pass(abuf, C, x_row, sx, w_ptr + 4 * KK, b_ptr + 4 * C, bbuf, bbuf, y_row, sy, pos0, lv, L, H - R4,
                   M - H + R4, M, H, K, D2, C, CHUNK, SLOPE, False, False, 0, SCALE, DOT_PRECISION)
        _conv_pass(bbuf, C, rbuf, C, w_ptr + 5 * KK, b_ptr + 5 * C, rbuf, abuf, y_row, sy, pos0, lv, L, H - R5,
                   M - H + R5, M, H, K, 1, C, CHUNK, SLOPE, False, True, OUT, SCALE, DOT_PRECISION)

    @triton.jit
    def v4_stage_kernel(x_ptr, w_ptr, b_ptr, y_ptr, scratch_ptr, valid_ptr, L, rate, tiles_per_item, tiles,
                        sxb, sxl, syb, syl,
                        C: tl.constexpr, M: tl.constexpr, H: tl.constexpr, G: tl.constexpr, CHUNK: tl.constexpr,
                        K0: tl.constexpr, K1: tl.constexpr, K2: tl.constexpr,
                        D0: tl.constexpr, D1: tl.constexpr, D2: tl.constexpr, SLOPE: tl.constexpr,
                        DOT_PRECISION: tl.constexpr):
        # persistent programs: each owns one scratch slot (3 buffers of M x C between G guard rows on each side)
        # and walks tiles pid, pid + n, ...
        pid = tl.program_id(0)
        lv = tl.minimum(tl.load(valid_ptr) * rate, L)
        buf = scratch_ptr + pid.to(tl.int64) * ((3 * M + 2 * G) * C) + G * C
        W1: tl.constexpr = 6 * K0 * C * C
        W2: tl.constexpr = W1 + 6 * K1 * C * C
        for t in range(pid, tiles, tl.num_programs(0)):
            b = (t // tiles_per_item).to(tl.int64)
            pos0 = (t % tiles_per_item) * (M - 2 * H) - H  # signal position of the tile's row 0
            x_row = x_ptr + b * sxb + pos0 * sxl
            y_row = y_ptr + b * syb + pos0 * syl
            _resblock(x_row, sxl, y_row, syl, buf, buf + M * C, buf + 2 * M * C, w_ptr, b_ptr, pos0, lv, L,
                      M, H, K0, D0, D1, D2, C, CHUNK, SLOPE, 2, 1.0, DOT_PRECISION)
            _resblock(x_row, sxl, y_row, syl, buf, buf + M * C, buf + 2 * M * C, w_ptr + W1, b_ptr + 6 * C,
                      pos0, lv, L, M, H, K1, D0, D1, D2, C, CHUNK, SLOPE, 3, 1.0, DOT_PRECISION)
            _resblock(x_row, sxl, y_row, syl, buf, buf + M * C, buf + 2 * M * C, w_ptr + W2, b_ptr + 12 * C,
                      pos0, lv, L, M, H, K2, D0, D1, D2, C, CHUNK, SLOPE, 4, 1.0 / 3.0, DOT_PRECISION)


@dataclass(frozen=True)
class StageTile:
    """Launch shape: ``rows`` per tile (M, a multiple of ``chunk``), ``chunk`` rows per GEMM,
    ``programs_per_sm`` persistent programs (and scratch slots) per SM."""

    rows: int
    chunk: int = 128
    warps: int = 4
    stages: int = 3
    programs_per_sm: int = 4


# measured on an H100 at v4's stage shapes, 1024 frames (docs/torch-fast.md, measurement log 11)
DEFAULT_TILES = {16: StageTile(768, stages=4, programs_per_sm=8), 32: StageTile(768, stages=4, programs_per_sm=8),
                 64: StageTile(640, stages=4)}


def stage_halo(kernel_sizes: Sequence[int], dilations: Sequence[int]) -> int:
    """Rows of context a stage output needs on each side: the longest resblock's six paddings summed."""
    return max((k - 1) // 2 * (sum(dilations) + len(dilations)) for k in kernel_sizes)


def fused_stage_fits(blocks: Sequence[nn.Module]) -> bool:
    """Whether ``v4_stage`` can run this stage: three resblocks sharing three dilations, 16/32/64 channels and
    a halo the channel count's tile can hold (true for GPT-SoVITS v4's 16-64-channel stages)."""
    dilations = {tuple(c.dilation[0] for c in b.convs1) for b in blocks}
    if len(blocks) != 3 or len(dilations) != 1 or len(next(iter(dilations))) != 3:
        return False
    channels = blocks[0].convs1[0].in_channels
    kernel_sizes = [b.convs1[0].kernel_size[0] for b in blocks]
    return channels in DEFAULT_TILES and DEFAULT_TILES[channels].rows > 2 * stage_halo(kernel_sizes,
                                                                                        *dilations)


def v4_stage(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, kernel_sizes: Sequence[int],
             dilations: Sequence[int], slope: float, valid: torch.Tensor, rate: int,
             tile: StageTile | None = None) -> torch.Tensor:
    """Mean of three ResBlock1 (kernel sizes ``kernel_sizes``, each with ``dilations``) over channels-last
    ``x`` [B, C, L] (channel stride 1).

    ``weight``: the 18 convs' weights, each laid out [K, Cin, Cout], concatenated flat in resblock order
    (convs1[0], convs2[0], convs1[1], ...; see ``pack_stage``); ``bias``: their biases, [18 * C]. Only the first
    ``valid*rate`` samples are real (the rest reads as zero and is written as zero). Returns channels-last
    [B, C, L].
    """
    reason = needs_gpu_reason(x)
    if reason:
        raise GsvTrtError(reason)
    batch, channels, length = x.shape
    if x.stride(1) != 1 or channels not in DEFAULT_TILES:
        raise GsvTrtError(f"fused stage: expected channels-last input with 16, 32 or 64 channels, got "
                          f"{list(x.shape)} strides {tuple(x.stride())}")
    if len(kernel_sizes) != 3 or len(dilations) != 3:
        raise GsvTrtError(f"fused stage: built for 3 resblocks of 3 dilations, got {kernel_sizes} x {dilations}")
    tile = tile or DEFAULT_TILES[channels]
    halo = stage_halo(kernel_sizes, dilations)
    if tile.rows <= 2 * halo or tile.rows % tile.chunk:
        raise GsvTrtError(f"fused stage: tiles of {tile.rows} rows must exceed twice the halo ({halo}) and be a "
                          f"multiple of the {tile.chunk}-row chunk")
    guard = max((k - 1) // 2 for k in kernel_sizes) * max(dilations)  # the widest conv's reach past a row range
    per_item = triton.cdiv(length, tile.rows - 2 * halo)
    sms = torch.cuda.get_device_properties(x.device).multi_processor_count
    programs = min(batch * per_item, sms * tile.programs_per_sm)
    y = torch.empty((batch, length, channels), device=x.device, dtype=x.dtype).transpose(1, 2)
    scratch = torch.empty(programs * (3 * tile.rows + 2 * guard) * channels, device=x.device, dtype=x.dtype)
    with torch.cuda.device(x.device):
        v4_stage_kernel[(programs,)](
            x, weight, bias, y, scratch, valid, length, rate, per_item, batch * per_item,
            x.stride(0), x.stride(2), y.stride(0), y.stride(2),
            C=channels, M=tile.rows, H=halo, G=guard, CHUNK=tile.chunk,
            K0=kernel_sizes[0], K1=kernel_sizes[1], K2=kernel_sizes[2], D0=dilations[0], D1=dilations[1],
            D2=dilations[2], SLOPE=slope, DOT_PRECISION="ieee" if x.dtype == torch.float32 else "tf32",
            num_warps=tile.warps, num_stages=tile.stages)
    return y


def pack_stage(blocks: Sequence[nn.Module], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The flat weight and bias buffers ``v4_stage`` reads, from a stage's three ResBlock1."""
    weights, biases = [], []
    for block in blocks:
        for c1, c2 in zip(block.convs1, block.convs2):
            for conv in (c1, c2):
                weights.append(conv.weight.detach().permute(2, 1, 0).reshape(-1))
                biases.append(conv.bias.detach())
    return torch.cat(weights).to(dtype).contiguous(), torch.cat(biases).to(dtype).contiguous()


def _stage_impl(x, weight, bias, kernel_sizes, dilations, slope, valid, rate):
    return v4_stage(x, weight, bias, kernel_sizes, dilations, slope, valid, rate)


def _stage_fake(x, weight, bias, kernel_sizes, dilations, slope, valid, rate):
    return torch.empty((x.shape[0], x.shape[2], x.shape[1]), device=x.device, dtype=x.dtype).transpose(1, 2)


# a custom op, so torch.compile treats the kernel as an opaque call and CUDA graphs capture it like any other
v4_stage_op = torch.library.custom_op(
    "gsv_trt::v4_stage", _stage_impl, mutates_args=(),
    schema="(Tensor x, Tensor weight, Tensor bias, int[] kernel_sizes, int[] dilations, float slope, Tensor valid, "
           "int rate) -> Tensor")
v4_stage_op.register_fake(_stage_fake)


class FusedStage(nn.Module):
    """Drop-in for a v4 stage's multi-receptive-field block: ``mean(resblock(x) for the stage's resblocks)``.

    ``valid`` is shared with the runtime that owns this module (device int32 [1] frame count); ``rate`` is the
    stage's samples per frame.
    """

    def __init__(self, blocks: Sequence[nn.Module], dtype: torch.dtype, slope: float, rate: int,
                 valid: torch.Tensor):
        super().__init__()
        if not fused_stage_fits(blocks):
            raise GsvTrtError("fused stage: built for 3 resblocks sharing 3 dilations, 16/32/64 channels")
        self.kernel_sizes = [b.convs1[0].kernel_size[0] for b in blocks]
        self.dilations = [c.dilation[0] for c in blocks[0].convs1]
        self.slope, self.rate, self.valid = slope, rate, valid
        weight, bias = pack_stage(blocks, dtype)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return v4_stage_op(x, self.weight, self.bias, self.kernel_sizes, self.dilations, self.slope, self.valid,
                           self.rate)
