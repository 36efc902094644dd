"""GPU probe: can the DiT step's kernels be faster at its own shapes than what the torch-fast CFM runs today?

docs/cfm-torch-fast.md: at B = 1 the N = 1024 GEMMs (attention output, second feed-forward) run at 265-530 TFLOP/s,
perhaps because cuBLAS's tiles leave half a wave of SMs idle. This times, at M = T·B of v4 B1 (1000), v3 B1 (934) and
v4 B4 (4000):

- each of the step's four projections with cuBLAS (what the runtime calls) against a Triton GEMM (below: fp32
  accumulation, bias and GELU in the epilogue) over a grid of tiles: 64- or 128-row tiles by 64 columns would
  fill one wave of 132 SMs at M = 1000, where cuBLAS's tiles may leave half of them idle;
- our attention kernel over more tiles than its autotuner tries, against the autotuner's pick, and (with
  ``--baseline-attention FILE``) against another version of ``kernels/attention.py``, autotuned, in the same process;
- the modulated-norm kernel at 1-8 warps.

Every candidate runs as the step does: 22 launches on 22 different weights (more than L2 holds), captured in one
CUDA graph and replayed; the time is per launch. GEMM results are checked against an fp32 matmul. Random data, no
model: speed does not depend on values. One JSON line per candidate, then the best per shape.

    python tools/probe_cfm_kernels.py --out probe.jsonl        # GPU machine, repository root
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEPTH = 22
ROWS = {"v4-B1": 1000, "v3-B1": 934, "v4-B4": 4000}
PROJECTIONS = {"qkv": (1024, 3072, False), "out": (1024, 1024, False), "ff1": (1024, 2048, True),
               "ff2": (2048, 1024, False)}  # name: (K, N, GELU)
GEMM_TILES = [(bm, bn, 64, w, s) for bm, bn, w, s in itertools.product((64, 128), (64, 128), (4, 8), (3, 4))] + [
    (64, 256, 64, 8, 3), (128, 256, 64, 8, 3)]
ATTENTION_TILES = [(64, 32, 4, 3), (64, 64, 4, 2), (64, 64, 4, 3), (64, 64, 4, 4), (64, 64, 8, 3), (64, 128, 4, 3),
                   (64, 128, 8, 3), (128, 32, 4, 4), (128, 64, 4, 3), (128, 64, 8, 3), (128, 64, 8, 4),
                   (128, 128, 8, 2), (128, 128, 8, 3), (32, 64, 4, 3), (32, 32, 2, 3)]


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


def per_launch_us(launches: list[Callable[[], object]], replays: int = 30) -> float:
    """Warm up, capture all launches in one graph, replay: microseconds per launch."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for f in launches:
            f()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for f in launches:
            f()
    for _ in range(3):
        graph.replay()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    best = float("inf")
    for _ in range(3):  # best of three batches of replays: the least disturbed
        start.record()
        for _ in range(replays):
            graph.replay()
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) * 1e3 / replays / len(launches))
    return best


def probe_gemms(shape: str, m: int, emit: Callable[[dict], None]) -> None:
    for name, (k, n, gelu) in PROJECTIONS.items():
        gen = torch.Generator(device="cuda").manual_seed(0)
        x = torch.randn(m, k, device="cuda", generator=gen).half()
        ws = [(torch.randn(n, k, device="cuda", generator=gen) / k ** 0.5).half() for _ in range(DEPTH)]
        bs = [torch.randn(n, device="cuda", generator=gen).half() for _ in range(DEPTH)]
        outs = [torch.empty(m, n, device="cuda", dtype=torch.half) for _ in range(DEPTH)]
        ref = x.float() @ ws[0].float().t() + bs[0].float()
        ref = F.gelu(ref, approximate="tanh") if gelu else ref
        flops = 2 * m * k * n

        def record(candidate: str, launches, check: Callable[[], torch.Tensor]) -> None:
            rec = {"kernel": "gemm", "shape": shape, "proj": name, "M": m, "K": k, "N": n, "candidate": candidate}
            try:
                rec["rel_err"] = float((check().float() - ref).abs().max() / ref.abs().max())
                rec["us"] = round(per_launch_us(launches), 2)
                rec["tflops"] = round(flops / rec["us"] / 1e6, 1)
            except Exception as e:  # a tile that does not compile here (shared memory) is recorded, not fatal
                rec["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
            emit(rec)

        if gelu:
            cublas = [lambda i=i: torch._addmm_activation(bs[i], x, ws[i].t(), use_gelu=True) for i in range(DEPTH)]
        else:
            cublas = [lambda i=i: F.linear(x, ws[i], bs[i]) for i in range(DEPTH)]
        record("cublas", cublas, cublas[0])
        for tile in GEMM_TILES:
            launches = [lambda i=i, t=tile: triton_linear(x, ws[i], bs[i], t, gelu, outs[i]) for i in range(DEPTH)]
            record("triton" + "x".join(map(str, tile)), launches, launches[0])


def load_attention(path: Path | None) -> Callable | None:
    """``fused_qkv_attention`` of another version of kernels/attention.py (e.g. ``git show REV:...`` saved to a
    file), to time against today's in one process."""
    if path is None:
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("baseline_attention", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fused_qkv_attention


def probe_attention(shape: str, m: int, emit: Callable[[dict], None], baseline: Callable | None = None) -> None:
    from gsv_trt.runtime.kernels.attention import fused_qkv_attention

    batch = m // 1000 if m % 1000 == 0 else 1
    frames = m // batch
    qkv = torch.randn(batch, frames, 3 * 1024, device="cuda").half()
    outs = [torch.empty(batch, frames, 1024, device="cuda", dtype=torch.half) for _ in range(DEPTH)]
    ref = fused_qkv_attention(qkv, 16, tile=(64, 64, 4, 3)).float()
    flops = 4 * batch * frames * frames * 1024
    runs = [("autotuned", fused_qkv_attention, None)] + [("x".join(map(str, t)), fused_qkv_attention, t)
                                                          for t in ATTENTION_TILES]
    if baseline is not None:
        runs.append(("baseline-autotuned", baseline, None))
    for name, attention, tile in runs:
        rec = {"kernel": "attention", "shape": shape, "B": batch, "T": frames, "candidate": name}
        try:
            launches = [lambda i=i, f=attention, t=tile: f(qkv, 16, outs[i], t) for i in range(DEPTH)]
            rec["max_abs_diff"] = float((launches[0]().float() - ref).abs().max())
            rec["us"] = round(per_launch_us(launches), 2)
            rec["tflops"] = round(flops / rec["us"] / 1e6, 1)
        except Exception as e:
            rec["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
        emit(rec)


def probe_norm(shape: str, m: int, emit: Callable[[dict], None]) -> None:
    from gsv_trt.runtime.kernels.dit import LN_EPS, _modulated_norm_kernel

    h = torch.randn(m, 1024, device="cuda").half()
    ys = [torch.randn(m, 1024, device="cuda").half() for _ in range(DEPTH)]
    mod = torch.randn(1, 3 * 1024, device="cuda")
    out = torch.empty(m, 1024, device="cuda", dtype=torch.half)
    for warps in (1, 2, 4, 8):
        launches = [lambda i=i, w=warps: _modulated_norm_kernel[(m,)](
            h, ys[i], mod, mod[:, 1024:], mod[:, 2048:], out, m, mod.stride(0), D=1024, HAS_RESIDUAL=True,
            EPS=LN_EPS, num_warps=w) for i in range(DEPTH)]
        emit({"kernel": "modulated_norm", "shape": shape, "M": m, "candidate": f"warps{warps}",
              "us": round(per_launch_us(launches), 2)})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default=",".join(ROWS))
    ap.add_argument("--kernels", default="gemm,attention,norm")
    ap.add_argument("--baseline-attention", type=Path, default=None, metavar="FILE",
                    help="another version of gsv_trt/runtime/kernels/attention.py to time beside today's")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    baseline = load_attention(args.baseline_attention)
    torch.backends.cuda.matmul.allow_tf32 = False
    lines: list[dict] = []

    def emit(rec: dict) -> None:
        print(json.dumps(rec), flush=True)
        lines.append(rec)

    probes = {"gemm": probe_gemms, "attention": lambda *a: probe_attention(*a, baseline=baseline), "norm": probe_norm}
    for shape in args.shapes.split(","):
        for kernel in args.kernels.split(","):
            probes[kernel](shape, ROWS[shape], emit)
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in lines))
    print(f"\nbest per shape ({torch.cuda.get_device_name()}, torch {torch.__version__}):")
    groups: dict[tuple, list[dict]] = {}
    for r in lines:
        if "us" in r:
            groups.setdefault((r["kernel"], r["shape"], r.get("proj", "")), []).append(r)
    for key, recs in groups.items():
        base = next((r for r in recs if r["candidate"] in ("cublas", "autotuned", "warps4")), recs[0])
        old = next((r for r in recs if r["candidate"] == "baseline-autotuned"), None)
        top = sorted(recs, key=lambda r: r["us"])[:3]
        print(" ".join(key), f"now {base['candidate']} {base['us']} us;",
              f"baseline {old['us']} us;" if old else "", "best:", ", ".join(f"{r['candidate']} {r['us']}" for r in top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
