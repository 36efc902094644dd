"""Side-by-side CFM timings and quality on one CUDA GPU, in one process: upstream eager fp16 (is_half), torch.compile of
upstream's DiT, and the torch-fast runtime's variants. One JSON line per (row, mode) on stdout and in --out.

Every mode runs the same weights (random, spread so the output depends on the input; loaded into upstream's classes
where the mode is upstream code) on the same conditioning and noise; quality is mel SNR / L1 against upstream's fp32
eager CFM with TF32 off (our eager CFM equals it to 1e-4: tests/test_cfm_model.py).

usage (repository root, GPU machine; .ref/reference = a copy of ../shared/reference):
  python tools/bench_cfm.py --ref .ref/reference --rows v4:1:1000:32,v3:1:934:32,v4:1:1000:8,v4:4:1000:32 \
      --modes upstream-fp16,compile-bf16,fast-bf16,fast-fp16 --out cfm.jsonl
modes: upstream-fp16 | upstream-fp32 (eager), compile-bf16 (torch.compile of upstream's DiT, mask dropped as in
../shared/reference/bench/cfm.py), fast-<bf16|fp16|fp32>[-triton|-cudnn|-cudnn-nlc|-unfold][-cudnnattn|-efficient (default: Flash attention)]
[-noepi: GELU as its own kernel][-nograph][-fp8w: block
GEMM weights through FP8 e4m3 first, a quality probe for FP8 GEMMs].
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gsv_trt.models.cfm.loader import load_cfm  # noqa: E402
from gsv_trt.runtime.cfm.torch_fast import FastOptions, TorchFastCFM  # noqa: E402

SHAPES = {"v3": 468, "v4": 500}  # T_ref: the prompt part of a chunk


def cuda_ms(fn, n: int, warm: int = 1) -> list[float]:
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(n):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        out.append(a.elapsed_time(b))
    return out


def quality(mel: torch.Tensor, ref: torch.Tensor, prompt_len: int) -> dict:
    a, b = mel[..., prompt_len:].double(), ref[..., prompt_len:].double()
    err = (a - b).pow(2).mean()
    return {"snr_db": round(float(10 * torch.log10(b.pow(2).mean() / err.clamp_min(1e-30))), 2),
            "l1": float((a - b).abs().mean()), "finite": bool(torch.isfinite(mel).all())}


def fp8_weights(estimator):
    """A copy whose transformer-block GEMM weights went through FP8 e4m3 with per-output-channel scales: the
    weight error an FP8-GEMM runtime would add (activations not quantized), to see whether FP8 can pass the bar."""
    import copy

    quantized = copy.deepcopy(estimator)
    with torch.no_grad():
        for name, module in quantized.transformer_blocks.named_modules():
            if isinstance(module, torch.nn.Linear) and "attn_norm" not in name:
                w = module.weight
                scale = w.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 448.0
                module.weight.copy_((w / scale).to(torch.float8_e4m3fn).float() * scale)
    return quantized


def profile_kernels(estimator, opts: FastOptions, mu, prompt, steps: int, noise) -> None:
    """Top kernels of one call without the graph (the same kernels the graph replays), to stderr."""
    import dataclasses

    from torch.profiler import ProfilerActivity, profile

    fast = TorchFastCFM(estimator, dataclasses.replace(opts, graphs=False))
    fast.inference(mu, prompt, steps, noise=noise)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fast.inference(mu, prompt, steps, noise=noise)
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=22, max_name_column_width=70),
          file=sys.stderr)


def reference_classes(ref: Path):
    sys.path.insert(0, str(ref))
    from gpt_sovits.cfm import CFM  # noqa: E402
    from gpt_sovits.f5_dit.dit import DiT  # noqa: E402

    class ConditionedDiT(DiT):
        """Upstream's DiT plus the conditioner entry point the fast runtime calls (upstream's own sub-modules)."""

        def condition(self, mu, dt):
            return self.text_embed(mu, mu.shape[1]), self.d_embed(dt)

    return CFM, ConditionedDiT


def build(ref: Path):
    """(our CFM with the project's random weights, upstream's CFM holding the same weights)."""
    CFM, DiT = reference_classes(ref)
    ours = load_cfm("v4", "random")
    upstream = CFM(100, DiT(dim=1024, depth=22, heads=16, ff_mult=2, text_dim=512, conv_layers=4))
    upstream.load_state_dict(ours.model.state_dict(), strict=True)
    return ours, upstream.eval()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", type=Path, required=True, help="a copy of ../shared/reference")
    ap.add_argument("--rows", default="v4:1:1000:32", help="version:batch:frames:steps, comma separated")
    ap.add_argument("--modes", default="upstream-fp16,fast-bf16", help="comma list, see the module docstring")
    ap.add_argument("--iters", type=int, default=5, help="timed calls per mode")
    ap.add_argument("--out", type=Path, default=None, help="also append the JSON lines here")
    ap.add_argument("--profile", action="store_true",
                    help="per fast mode, also print the top CUDA kernels of one un-graphed call (torch.profiler)")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # upstream's set_seed
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    ours, cfm = build(args.ref)
    cfm = cfm.to(dev)
    estimator = ours.model.estimator.to(dev)
    speech_prompt = torch.load(REPO / "tests" / "fixtures" / "cfm_speech_prompt.pt") if (
        REPO / "tests" / "fixtures" / "cfm_speech_prompt.pt").exists() else None
    fast_cache: dict[str, TorchFastCFM] = {}
    for row in args.rows.split(","):
        version, batch, frames, steps = row.split(":")
        batch, frames, steps = int(batch), int(frames), int(steps)
        prompt_len = SHAPES[version]
        g = torch.Generator(device="cpu").manual_seed(1)
        mu = torch.randn(batch, frames, 512, generator=g).to(dev)
        prompt = (speech_prompt[..., :prompt_len] if speech_prompt is not None
                  else torch.randn(1, 100, prompt_len, generator=g)).to(dev)
        noise = torch.randn(batch, 100, frames, generator=g).to(dev)
        x_lens = torch.tensor([frames], device=dev)

        def upstream(dtype, model=cfm):
            torch.manual_seed(0)
            torch.cuda.manual_seed(0)
            return model.inference(mu.to(dtype), x_lens, prompt.to(dtype), steps)

        # fp32 reference with the fixed noise: upstream draws torch.randn first, so seed and substitute
        torch.cuda.manual_seed(0)
        ref_noise = torch.randn([batch, 100, frames], device=dev)
        ref = upstream(torch.float32).float()
        for mode in args.modes.split(","):
            rec = {"row": row, "mode": mode, "gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                   "weights": ours.provenance}
            try:
                if mode.startswith("upstream-") or mode.startswith("compile-"):
                    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[mode.split("-")[1]]
                    model = cfm.to(dtype)
                    if mode.startswith("compile-"):
                        model.estimator = torch.compile(model.estimator, dynamic=False)
                    start = time.perf_counter()
                    mel = upstream(dtype, model).float()
                    torch.cuda.synchronize()
                    rec["first_call_s"] = round(time.perf_counter() - start, 2)
                    times = cuda_ms(lambda: upstream(dtype, model), args.iters)
                    if mode.startswith("compile-"):
                        model.estimator = model.estimator._orig_mod
                    cfm.float()
                else:
                    parts = mode.split("-")
                    precision = parts[1]
                    conv = next((c for c in ("cudnn-nlc", "cudnn", "unfold", "triton") if f"-{c}" in mode and
                                 not (c == "cudnn" and "-cudnn-nlc" in mode)), "triton")
                    attention = ("cudnn" if "-cudnnattn" in mode else "efficient"
                                 if "-efficient" in mode or precision == "fp32" else "flash")
                    opts = FastOptions(precision=precision, conv=conv, attention=attention,
                                       graphs="-nograph" not in mode, gelu_epilogue="-noepi" not in mode)
                    key = repr(opts) + ("fp8w" if "-fp8w" in mode else "")
                    if key not in fast_cache:
                        fast_cache.clear()
                        torch.cuda.empty_cache()
                        source = fp8_weights(estimator) if "-fp8w" in mode else estimator
                        fast_cache[key] = TorchFastCFM(source, opts)
                    fast = fast_cache[key]
                    start = time.perf_counter()
                    mel = fast.inference(mu, prompt, steps, noise=ref_noise)
                    torch.cuda.synchronize()
                    rec["first_call_s"] = round(time.perf_counter() - start, 2)
                    rec["capture_s"] = round(fast.capture_seconds[(batch, frames, steps)], 2)
                    rec["runtime"] = fast.info.detail.split(";")[0]
                    times = cuda_ms(lambda: fast.inference(mu, prompt, steps, noise=ref_noise), args.iters)
                    if args.profile:
                        profile_kernels(estimator, opts, mu, prompt, steps, ref_noise)
                rec.update(quality(mel, ref, prompt_len))
                rec.update(median_ms=round(statistics.median(times), 2), min_ms=round(min(times), 2),
                           max_ms=round(max(times), 2), per_step_ms=round(statistics.median(times) / steps, 3))
            except Exception as e:  # a failing mode is a result too
                rec["error"] = f"{type(e).__name__}: {e}"[:400]
                cfm.float()
            line = json.dumps(rec)
            print(line, flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(line + "\n")
        del mu, noise, ref
    return 0


if __name__ == "__main__":
    sys.exit(main())
