"""BigVGAN's anti-aliased SnakeBeta in one Triton kernel: one read of x, one write of y, everything else in registers.

The PyTorch form (models/activation.py) runs five memory passes per activation (pad, transposed conv, snake,
pad, strided conv) over a signal twice as long as its input. Here each program owns ``R`` consecutive outputs per
lane; it loads the ``R + 10`` inputs those need, forms the ``2R + 10`` upsampled samples (polyphase: even and odd
phase, six taps each), applies SnakeBeta once per sample and sums the 12-tap downsampling FIR. Arithmetic is fp32
whatever the I/O dtype.

Edges follow upstream exactly: the input is replicate-padded before upsampling and the *upsampled, activated*
signal is replicate-padded before downsampling. An optional ``valid`` length (a device tensor, so a CUDA graph can
be replayed for any length) moves the right edge inside the buffer: samples past it are ignored on input and
written as zeros, which is what the next zero-padded conv must see to reproduce an un-padded run.

Without Triton (CPU-only PyTorch) this module still imports; calling the kernel then raises GsvTrtError.
"""

from __future__ import annotations

import torch
from torch import nn

from ...errors import GsvTrtError
from ...models.vocoder.activation import Activation1d

TAPS = 12  # both FIRs; the kernel's index arithmetic assumes 12 taps, ratio 2 and upstream's paddings


def needs_gpu_reason(x: torch.Tensor | None = None) -> str | None:
    """Why the fused kernel cannot run here (no CUDA tensor / no Triton), or None."""
    if x is not None and x.device.type != "cuda":
        return f"tensor on {x.device}: the fused activation needs a CUDA GPU"
    if not torch.cuda.is_available():
        return "the fused activation needs a CUDA GPU (torch.cuda.is_available() is False)"
    try:
        import triton  # noqa: F401
    except ImportError:
        return "the fused activation needs Triton (pip install triton; it ships with CUDA builds of PyTorch)"
    return None


try:
    import triton
    import triton.language as tl
    from triton.language.extra import libdevice
except ImportError:  # CPU-only installs: this module imports, fused_activation() says what is missing
    triton = None

if triton is not None:

    @triton.jit
    def _sin(v, FAST_SIN: tl.constexpr):
        if FAST_SIN:
            return libdevice.fast_sinf(v)
        else:
            return tl.sin(v)

    @triton.jit
    def _snake(y, a, inv_b, FAST_SIN: tl.constexpr):
        s = _sin(y * a, FAST_SIN)
        return y + inv_b * s * s

    @triton.jit
    def _tile(x_row, y_row, c_x, c_y, cm, base, up, dn, a, inv_b, xb, L, L_buf, sxt, syt,
              R: tl.constexpr, EDGE: tl.constexpr, FAST_SIN: tl.constexpr):
        # xs[t] = x[base + t - 5]: the inputs outputs base..base+R-1 need (clamped to [0, L) near the edges)
        xs = ()
        for t in tl.static_range(R + 2 * 5):
            idx = base + (t - 5)
            if EDGE:
                idx = tl.minimum(tl.maximum(idx, 0), L - 1)
            v = tl.load(x_row + idx[:, None] * sxt + c_x[None, :], mask=cm[None, :], other=0.0)
            xs = xs + (v.to(tl.float32) + xb,)
        if EDGE:
            # upstream pads the activated 2x signal by replication: z[m<0] = z[0], z[m>2L-1] = z[2L-1]
            zl = tl.zeros_like(xs[0])
            zr = tl.zeros_like(xs[0])
            for q in tl.static_range(6):
                il = tl.maximum(tl.minimum(L - 1, 2 - q), 0)
                ir = tl.maximum(tl.minimum(L + 2 - q, L - 1), 0)
                vl = tl.load(x_row + il * sxt + c_x[None, :], mask=cm[None, :], other=0.0).to(tl.float32) + xb
                vr = tl.load(x_row + ir * sxt + c_x[None, :], mask=cm[None, :], other=0.0).to(tl.float32) + xb
                zl += up[2 * q + 1] * vl
                zr += up[2 * q] * vr
            zl = _snake(zl, a, inv_b, FAST_SIN)
            zr = _snake(zr, a, inv_b, FAST_SIN)
        # even phase z[2j], j = base-2 .. base+R+2 ; odd phase z[2j+1], j = base-3 .. base+R+1
        # both phases read xs[u+5-q]: x[j+2-q] for j = base+u-2 (even), x[j+3-q] for j = base+u-3 (odd)
        z0 = ()
        for u in tl.static_range(R + 5):
            acc = up[1] * xs[u + 5]
            for q in tl.static_range(1, 6):
                acc += up[2 * q + 1] * xs[u + 5 - q]
            z = _snake(acc, a, inv_b, FAST_SIN)
            if EDGE:
                m = 2 * (base + (u - 2))
                z = tl.where((m < 0)[:, None], zl, tl.where((m > 2 * L - 1)[:, None], zr, z))
            z0 = z0 + (z,)
        z1 = ()
        for u in tl.static_range(R + 5):
            acc = up[0] * xs[u + 5]
            for q in tl.static_range(1, 6):
                acc += up[2 * q] * xs[u + 5 - q]
            z = _snake(acc, a, inv_b, FAST_SIN)
            if EDGE:
                m = 2 * (base + (u - 3)) + 1
                z = tl.where((m < 0)[:, None], zl, tl.where((m > 2 * L - 1)[:, None], zr, z))
            z1 = z1 + (z,)
        for r in tl.static_range(R):
            # out[n] = sum_k dn[k] z[2n + k - 5]; k-5 = 2s+p with s = (k+1)//2 - 3, p = (k+1) % 2
            out = dn[0] * z1[r]
            for k in tl.static_range(1, 12):
                if (k + 1) % 2 == 0:
                    out += dn[k] * z0[r + (k + 1) // 2 - 1]
                else:
                    out += dn[k] * z1[r + (k + 1) // 2]
            n = base + r
            if EDGE:
                out = tl.where((n < L)[:, None], out, 0.0)
            smask = (n < L_buf)[:, None] & cm[None, :]
            tl.store(y_row + n[:, None] * syt + c_y[None, :], out.to(y_row.dtype.element_ty), mask=smask)

    @triton.jit(do_not_specialize=["C", "L_buf", "rate", "sxb", "syb"])
    def aa_snake_kernel(x_ptr, y_ptr, up_ptr, dn_ptr, alpha_ptr, beta_ptr, bias_ptr, valid_ptr, C, L_buf, rate,
                        sxb, sxc, sxt, syb, syc, syt,
                        BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr, R: tl.constexpr, FAST_SIN: tl.constexpr):
        pid_t = tl.program_id(0)
        pid_c = tl.program_id(1)
        b = tl.program_id(2).to(tl.int64)
        c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
        cm = c < C
        a = tl.exp(tl.load(alpha_ptr + c, mask=cm, other=0.0).to(tl.float32))[None, :]
        xb = tl.load(bias_ptr + c, mask=cm, other=0.0).to(tl.float32)[None, :]  # the previous conv's bias
        # 1e-9: models.activation.SNAKE_EPS
        inv_b = (1.0 / (tl.exp(tl.load(beta_ptr + c, mask=cm, other=0.0).to(tl.float32)) + 1e-9))[None, :]
        up = ()
        dn = ()
        for k in tl.static_range(12):
            up = up + (2.0 * tl.load(up_ptr + k).to(tl.float32),)  # the upsampler's gain 2 folded in
            dn = dn + (tl.load(dn_ptr + k).to(tl.float32),)
        L = tl.minimum(tl.load(valid_ptr) * rate, L_buf)
        n0 = pid_t * (BLOCK_T * R)
        base = n0 + tl.arange(0, BLOCK_T) * R
        x_row = x_ptr + b * sxb
        y_row = y_ptr + b * syb
        c_x = c.to(tl.int64) * sxc
        c_y = c.to(tl.int64) * syc
        if (n0 >= 5) & (n0 + BLOCK_T * R + 5 <= L):
            _tile(x_row, y_row, c_x, c_y, cm, base, up, dn, a, inv_b, xb, L, L_buf, sxt, syt, R, False, FAST_SIN)
        else:
            _tile(x_row, y_row, c_x, c_y, cm, base, up, dn, a, inv_b, xb, L, L_buf, sxt, syt, R, True, FAST_SIN)

    @triton.jit
    def zero_tail_kernel(x_ptr, valid_ptr, C, L_buf, rate, sxb, sxc, sxt, BLOCK: tl.constexpr):
        row = tl.program_id(1).to(tl.int64)
        n = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        start = tl.load(valid_ptr) * rate
        if tl.program_id(0) * BLOCK + BLOCK > start:
            b = row // C
            c = row % C
            ptrs = x_ptr + b * sxb + c * sxc + n * sxt
            tl.store(ptrs, tl.zeros([BLOCK], dtype=x_ptr.dtype.element_ty), mask=(n >= start) & (n < L_buf))


# (BLOCK_T, BLOCK_C, R, num_warps) per memory layout; measured on an H100 (docs/torch-fast.md)
TILES = {"ncl": (128, 1, 8, 4), "nlc": (8, 32, 8, 4)}


def layout_of(x: torch.Tensor) -> str:
    """``ncl`` when time is the contiguous axis, ``nlc`` when channels are (channels-last)."""
    if x.stride(2) == 1 or x.shape[2] == 1:
        return "ncl"
    if x.stride(1) == 1:
        return "nlc"
    raise GsvTrtError(f"fused activation: input strides {tuple(x.stride())} are neither [B,C,T] nor channels-last")


def _as_bct(x: torch.Tensor) -> torch.Tensor:
    """[B, C, T] view of a [B, C, T] or [B, C, 1, T] (conv2d-shaped) tensor."""
    if x.dim() == 4 and x.shape[2] == 1:
        return x[:, :, 0, :]
    if x.dim() != 3:
        raise GsvTrtError(f"fused activation: expected [B, C, T] or [B, C, 1, T], got {list(x.shape)}")
    return x


def fused_activation(x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, up_filter: torch.Tensor,
                     down_filter: torch.Tensor, valid: torch.Tensor | None = None, rate: int = 1,
                     bias: torch.Tensor | None = None,
                     tile: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """Anti-aliased SnakeBeta of ``x + bias`` (fp16/bf16/fp32, [B,C,T] or [B,C,1,T], time- or channel-contiguous).

    ``alpha``/``beta`` are the log-scale per-channel parameters, the filters the 12-tap FIRs of the module's
    buffers. ``bias`` (per channel, optional) is the bias of the conv that produced ``x``, added here instead of
    in a pass of its own. With ``valid`` (int32 device tensor [1] holding a frame count) only the first
    ``valid*rate`` samples are real: they are computed as if the signal ended there and the rest of the output
    is zero.
    Returns a new tensor with the shape, dtype and strides of ``x``.
    """
    reason = needs_gpu_reason(x)
    if reason:
        raise GsvTrtError(reason)
    xv = _as_bct(x)
    batch, channels, length = xv.shape
    if up_filter.numel() != TAPS or down_filter.numel() != TAPS:
        raise GsvTrtError(f"fused activation: filters must have {TAPS} taps, got {up_filter.numel()} and "
                          f"{down_filter.numel()}")
    if alpha.numel() != channels or beta.numel() != channels:
        raise GsvTrtError(f"fused activation: {channels} channels but alpha/beta have {alpha.numel()}/{beta.numel()}")
    if valid is None:
        valid, rate = torch.full((1,), length, dtype=torch.int32, device=x.device), 1
    if bias is None:
        bias = torch.zeros(channels, dtype=torch.float32, device=x.device)
    if xv[0].numel() >= 2**31:
        raise GsvTrtError(f"fused activation: {channels}x{length} samples per batch item exceed int32 indexing")
    y = torch.empty_like(x)
    yv = _as_bct(y)
    layout = layout_of(xv)
    block_t, block_c, r, warps = tile or TILES[layout]
    if layout == "nlc":
        block_c = min(block_c, 1 << (channels - 1).bit_length())
    grid = (-(-length // (block_t * r)), -(-channels // block_c), batch)
    with torch.cuda.device(x.device):
        aa_snake_kernel[grid](xv, yv, up_filter, down_filter, alpha, beta, bias, valid, channels, length, rate,
                              *xv.stride(), *yv.stride(), BLOCK_T=block_t, BLOCK_C=block_c, R=r,
                              FAST_SIN=x.dtype != torch.float32, num_warps=warps)
    return y


def zero_tail_(x: torch.Tensor, valid: torch.Tensor, rate: int) -> torch.Tensor:
    """Zero ``x[..., valid*rate:]`` in place (``valid`` a device int32 [1]); programs before the edge exit at once,
    so the cost is one launch plus the tail, whatever the length."""
    reason = needs_gpu_reason(x)
    if reason:
        raise GsvTrtError(reason)
    xv = _as_bct(x)
    batch, channels, length = xv.shape
    block = 1024
    with torch.cuda.device(x.device):
        zero_tail_kernel[(-(-length // block), batch * channels)](xv, valid, channels, length, rate, *xv.stride(),
                                                                  BLOCK=block, num_warps=4)
    return x


# Custom ops, so torch.compile treats the kernels as opaque calls and CUDA graphs capture them like any other.
def _aa_snake_impl(x, alpha, beta, up, down, valid, rate, bias):
    return fused_activation(x, alpha, beta, up, down, valid, rate, bias)


def _zero_tail_impl(x, valid, rate):
    zero_tail_(x, valid, rate)


aa_snake_op = torch.library.custom_op(
    "gsv_trt::aa_snake", _aa_snake_impl, mutates_args=(),
    schema="(Tensor x, Tensor alpha, Tensor beta, Tensor up, Tensor down, Tensor valid, int rate, Tensor bias) "
           "-> Tensor")
aa_snake_op.register_fake(lambda x, alpha, beta, up, down, valid, rate, bias: torch.empty_like(x))
zero_tail_op = torch.library.custom_op("gsv_trt::zero_tail_", _zero_tail_impl, mutates_args=("x",),
                                       schema="(Tensor(a!) x, Tensor valid, int rate) -> ()")
zero_tail_op.register_fake(lambda x, valid, rate: None)


class FusedActivation1d(nn.Module):
    """Drop-in for models.activation.Activation1d: same parameters, one kernel.

    ``valid`` is shared with the runtime that owns this module: a device int32 [1] frame count; ``rate`` is this
    activation's samples per frame, so the kernel knows where the real signal ends inside a padded buffer.
    ``input_bias``: the bias of the conv feeding this activation, when that conv runs without it.
    """

    def __init__(self, act: Activation1d, rate: int, valid: torch.Tensor, input_bias: torch.Tensor | None = None):
        super().__init__()
        self.rate = rate
        channels = act.act.alpha.numel()
        bias = torch.zeros(channels) if input_bias is None else input_bias.detach().float().clone()
        self.register_buffer("input_bias", bias)
        self.register_buffer("alpha", act.act.alpha.detach().float().clone())
        self.register_buffer("beta", act.act.beta.detach().float().clone())
        self.register_buffer("up", act.upsample.filter.detach().float().reshape(-1).clone())
        self.register_buffer("down", act.downsample.lowpass.filter.detach().float().reshape(-1).clone())
        self.valid = valid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return aa_snake_op(x, self.alpha, self.beta, self.up, self.down, self.valid, self.rate, self.input_bias)
