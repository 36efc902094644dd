"""gsv-trt bench: upstream's eager modes against ONNX files, engines and the fused PyTorch runtime, side by side;
``--stage cfm`` / ``--stage synthesis``: the CFM and the whole synthesis stage against upstream's own code."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._bench_options import (add_quality_options, add_stage_options, add_suite_options, finish, forced_onnxruntime,
                             lengths_from, refuse_stage_options, run_stage_bench)
from ._common import PRECISIONS, add_command, add_weights_options


def precisions_list(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names or any(n not in PRECISIONS for n in names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a comma list of {', '.join(PRECISIONS)}")
    return names


def register(sub) -> None:
    p = add_command(sub, "bench", "benchmark upstream eager vs every optimised runtime that runs here", run,
                    description="Latency (p50/p95), x real time, throughput over batch sizes, peak GPU memory, "
                                "load/build time and size, for upstream's eager fp32/fp16 and each given ONNX, "
                                "engine and the fused PyTorch runtime, in one process on the same inputs. Each "
                                "optimised runtime is also scored against the fp32 reference. --stage cfm / "
                                "synthesis: the CFM mel generator / the whole v3/v4 synthesis stage, upstream's own "
                                "code (from --gpt-sovits-root) against ours, with a quality gate.")
    add_weights_options(p, version_required=False)
    p.add_argument("--onnx", type=Path, nargs="+", default=[], help="exported graphs to run with ONNX Runtime")
    p.add_argument("--engine", type=Path, nargs="+", default=[], dest="engines", help="TensorRT engines (.plan)")
    p.add_argument("--torch-fast", type=precisions_list, default=("fp16",), metavar="LIST",
                   help="precisions of the fused PyTorch runtime (GPU only; default fp16)")
    p.add_argument("--no-quality", dest="quality", action="store_false", help="speed only, no quality scores")
    add_quality_options(p)
    add_suite_options(p)
    add_stage_options(p)


def run(args: argparse.Namespace) -> int:
    if args.stage != "vocoder":
        return run_stage_bench(args)
    if args.vocoder is None:
        from ..errors import GsvTrtError

        raise GsvTrtError("--version: required for --stage vocoder (v3 or v4)")
    refuse_stage_options(args)
    from ..bench.run import BenchOptions, bench

    opts = BenchOptions(
        version=args.vocoder, weights=args.weights, gpt_sovits_root=args.gpt_sovits_root, onnx=args.onnx,
        engines=args.engines, torch_fast=args.torch_fast, runtimes=args.runtimes, audio=args.audio,
        clip_seconds=args.clip_seconds, device=args.device, bar=args.bar, quality=args.quality,
        lengths=lengths_from(args), quick=args.quick, repeats=args.repeats, warmup=args.warmup,
        max_batch=args.max_batch, force_onnxruntime=forced_onnxruntime(args))
    finish(bench(opts), args.out_dir)
    return 0
