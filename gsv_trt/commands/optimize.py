"""gsv-trt optimize: export, build, gate with fallback, benchmark and report, in one command."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._bench_options import add_quality_options, add_suite_options, finish, forced_onnxruntime, lengths_from
from ._common import PRECISIONS, add_command, add_weights_options


def register(sub) -> None:
    p = add_command(sub, "optimize", "export, build, quality-gate (with fallback), benchmark and report", run,
                    description="Export the vocoder, build a TensorRT engine, check its quality on real speech "
                                "against upstream's fp32 (falling back fp16 -> bf16 -> fp32 until one passes), "
                                "benchmark it beside upstream's eager modes, and write reports/<timestamp>/.")
    add_weights_options(p)
    p.add_argument("--precision", choices=PRECISIONS, default="fp16", help="precision to try first")
    p.add_argument("--no-fp32-islands", dest="islands", action="store_false",
                   help="fp16/bf16 graphs without fp32 islands (SnakeBeta, output conv)")
    p.add_argument("--trt", choices=("auto", "tensorrt", "rtx", "none"), default="auto",
                   help="TensorRT flavour for the engine; none: no engine (ONNX Runtime and PyTorch only)")
    p.add_argument("--work-dir", type=Path, default=Path("engines"),
                   help="where ONNX files and engines are written and reused (default engines/)")
    add_quality_options(p)
    add_suite_options(p)


def run(args: argparse.Namespace) -> int:
    from ..bench.optimize import OptimizeOptions, optimize

    opts = OptimizeOptions(
        version=args.vocoder, precision=args.precision, weights=args.weights, gpt_sovits_root=args.gpt_sovits_root,
        audio=args.audio, clip_seconds=args.clip_seconds, work_dir=args.work_dir, device=args.device, bar=args.bar,
        trt=args.trt, islands=args.islands, lengths=lengths_from(args), quick=args.quick, repeats=args.repeats,
        warmup=args.warmup, max_batch=args.max_batch, runtimes=args.runtimes,
        force_onnxruntime=forced_onnxruntime(args))
    result = optimize(opts)
    finish(result.to_dict(), args.out_dir)
    return 0 if result.chosen is not None else 1
