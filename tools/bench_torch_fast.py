"""Side-by-side vocoder timings on one CUDA GPU, in one process: upstream eager, NVIDIA's fused CUDA kernel,
torch.compile of our model, and the torch-fast runtime. One JSON line per (row, mode) on stdout and in --out.

Every mode runs the same weights (ours, loaded into upstream's classes where the mode is upstream code) on the
same random mel; quality is SNR / cosine against our fp32 eager model with TF32 off.

usage (from the repository root, on a GPU machine):
  python tools/bench_torch_fast.py --ref .ref/reference --rows v3:934,v3:100,v4:1000,v4:100 --out bench.jsonl
modes (--modes, comma list): upstream-fp16, upstream-fp32, nvkernel-fp32, nvkernel-fp16 (v3 only; builds with nvcc
at first use), eager-fp16, compile-fp16, ro-fp16 (torch.compile default / reduce-overhead of our model),
fast-<fp16|bf16|fp32>[-ncl|-nlc][-hand|-autotune][-nograph][-fsN][-heur] (this project's torch-fast runtime: by
default torch.compile'd before capture; -hand: hand fusion only; -autotune: max-autotune-no-cudagraphs; fsN: v4
stages of <= N channels run as one fused Triton kernel each, fs0: none; -heur: cuDNN's heuristic conv algorithms
instead of its benchmark search).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gsv_trt.models.vocoder import load_vocoder
from gsv_trt.runtime.vocoder.torch_eager import DTYPES, TorchEagerVocoder
from gsv_trt.runtime.vocoder.torch_fast import DEFAULT_BUCKETS, TorchFastVocoder

DEFAULT_MODES = "upstream-fp16,fast-fp16,fast-fp16-hand,nvkernel-fp32,ro-fp16"
V3_UPSTREAM_CFG = {"resblock": "1", "upsample_rates": [4, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4],
                   "upsample_initial_channel": 1536, "resblock_kernel_sizes": [3, 7, 11],
                   "resblock_dilation_sizes": [[1, 3, 5]] * 3, "use_tanh_at_final": False, "use_bias_at_final": False,
                   "activation": "snakebeta", "snake_logscale": True, "num_mels": 100, "sampling_rate": 24000,
                   "hop_size": 256, "n_fft": 1024, "win_size": 1024, "fmin": 0, "fmax": None}


def cuda_time(fn, x, n: int, warm: int = 3) -> tuple[float, float]:
    """Median and min milliseconds of fn(x), each call bracketed by CUDA events."""
    for _ in range(warm):
        fn(x)
    torch.cuda.synchronize()
    times = []
    for _ in range(n):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn(x)
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times), min(times)


def upstream_model(ref: Path, version: str, state: dict, kernel: bool = False) -> torch.nn.Module:
    """Upstream's own class (GPT-SoVITS, or NVIDIA's with the fused kernel) holding our weights."""
    if kernel:
        sys.path.insert(0, str(ref / "nvidia_bigvgan_kernel"))  # NVIDIA's code imports absolutely
        # its class statement still passes the Hugging Face hub mixin's keywords, but the trimmed copy has no mixin:
        # accept and drop them for the import only
        torch.nn.Module.__init_subclass__ = classmethod(lambda cls, **hub_keywords: None)
        try:
            from bigvgan import BigVGAN as NvBigVGAN
            from env import AttrDict
        finally:
            del torch.nn.Module.__init_subclass__

        model = NvBigVGAN(AttrDict(V3_UPSTREAM_CFG), use_cuda_kernel=True)
    else:
        sys.path.insert(0, str(ref))
        if version == "v3":
            from gpt_sovits.bigvgan.bigvgan import BigVGAN
            from gpt_sovits.bigvgan.env import AttrDict

            model = BigVGAN(AttrDict(V3_UPSTREAM_CFG))
        else:
            from gpt_sovits.v4_vocoder import Generator

            model = Generator()
    model.remove_weight_norm()
    model.load_state_dict(state)
    return model.eval()


def quality(y: torch.Tensor, ref: torch.Tensor) -> dict:
    y, ref = y.double().flatten(), ref.double().flatten()
    err = (y - ref).pow(2).sum()
    snr = 10 * torch.log10(ref.pow(2).sum() / err.clamp_min(1e-30)).item()
    cos = (torch.dot(y, ref) / (y.norm() * ref.norm()).clamp_min(1e-30)).item()
    return {"snr_db": round(snr, 1), "cosine": round(cos, 6), "finite": bool(torch.isfinite(y).all())}


def make_mode(mode: str, loaded, ref_dir: Path):
    """(callable taking a float32 CUDA mel, setup seconds, extra fields) for one mode string."""
    t0 = time.perf_counter()
    extra: dict = {}
    prec = next((p for p in DTYPES if p in mode.split("-")), "fp32")
    dtype = DTYPES[prec]
    if mode.startswith(("upstream-", "nvkernel-")):
        if mode.startswith("nvkernel-") and loaded.spec.version != "v3":
            return None
        model = upstream_model(ref_dir, loaded.spec.version, loaded.model.state_dict(),
                               kernel=mode.startswith("nvkernel-")).cuda().to(dtype)

        def fn(mel, model=model, dtype=dtype):
            with torch.inference_mode():
                return model(mel.to(dtype)).float()
    elif mode in ("eager-fp16", "eager-bf16", "eager-fp32"):
        fn = TorchEagerVocoder(loaded, prec, "cuda").forward_tensor
    elif mode.startswith(("compile-", "ro-")):
        model = TorchEagerVocoder(loaded, prec, "cuda").model
        compiled = torch.compile(model, mode="reduce-overhead" if mode.startswith("ro-") else None, dynamic=False)

        def fn(mel, compiled=compiled, dtype=dtype):
            with torch.inference_mode():
                return compiled(mel.to(dtype)).float()
    elif mode.startswith("fast-"):
        parts = mode.split("-")
        compile_mode = ("none" if "hand" in parts else
                        "max-autotune-no-cudagraphs" if "autotune" in parts else "default")
        fs = [int(p[2:]) for p in parts if p.startswith("fs") and p[2:].isdigit()]
        vocoder = TorchFastVocoder(loaded, prec, "cuda", buckets=() if "nograph" in parts else DEFAULT_BUCKETS,
                                   use_compile=compile_mode, layout="ncl" if "ncl" in parts else "nlc",
                                   cudnn_benchmark="heur" not in parts,
                                   **({"fused_stage_channels": fs[0]} if fs else {}))
        fn = vocoder.forward_tensor
        extra["vocoder"] = vocoder
    else:
        raise SystemExit(f"unknown mode {mode}")
    return fn, time.perf_counter() - t0, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", type=Path, default=REPO / ".ref" / "reference",
                        help="a copy of shared/reference (upstream code; NVIDIA's kernel builds inside it)")
    parser.add_argument("--rows", default="v3:934,v3:100,v4:1000,v4:100", help="version:frames list")
    parser.add_argument("--modes", default=DEFAULT_MODES)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None, help="append JSON lines here too")
    args = parser.parse_args()
    import triton

    env = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
           "cudnn": torch.backends.cudnn.version(), "python": platform.python_version(),
           "date": time.strftime("%Y-%m-%d")}
    print(json.dumps(env), flush=True)
    records = []
    rows = [(r.split(":")[0], int(r.split(":")[1])) for r in args.rows.split(",")]
    modes = args.modes.split(",")
    torch.manual_seed(0)
    for version in dict.fromkeys(v for v, _ in rows):
        loaded = load_vocoder(version)
        hop, sr = loaded.spec.hop, loaded.spec.sample_rate
        ref_model = TorchEagerVocoder(loaded, "fp32", "cuda")
        mels = {f: torch.randn(args.batch, 100, f, device="cuda") for v, f in rows if v == version}
        refs = {}
        with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True, allow_tf32=False):
            for f, mel in mels.items():
                refs[f] = ref_model.forward_tensor(mel)
        del ref_model
        for mode in modes:
            made = make_mode(mode, loaded, args.ref)
            if made is None:
                continue
            fn, setup_s, extra = made
            for frames, mel in mels.items():
                t0 = time.perf_counter()
                with torch.backends.cudnn.flags(enabled=True, benchmark=True):
                    y = fn(mel)
                    torch.cuda.synchronize()
                    first = time.perf_counter() - t0
                    med, mn = cuda_time(fn, mel, args.iters)
                audio_s = frames * hop / sr
                rec = dict(version=version, frames=frames, batch=args.batch, mode=mode, median_ms=round(med, 3),
                           min_ms=round(mn, 3), x_realtime=round(args.batch * audio_s / (med / 1000), 1),
                           setup_s=round(setup_s, 1), first_call_s=round(first, 2), **quality(y, refs[frames]),
                           weights=loaded.provenance)
                if "vocoder" in extra:
                    rec["capture_s"] = {f"b{b}x{t}": round(s, 2) for (b, t), s in extra["vocoder"].capture_seconds.items()}
                records.append(rec)
                print(json.dumps(rec), flush=True)
                if args.out:
                    with open(args.out, "a") as out:
                        out.write(json.dumps(rec) + "\n")
            del fn, extra
            torch.cuda.empty_cache()
    row = "{:<4} {:>6} {:<28} {:>9} {:>8} {:>8}"
    print("\n" + row.format("ver", "frames", "mode", "median_ms", "xRT", "SNR_dB"))
    for r in records:
        print(row.format(r["version"], r["frames"], r["mode"], r["median_ms"], r["x_realtime"], r["snr_db"]))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
