"""gsv-trt optimize: export, build, gate with fallback, benchmark and report, in one command."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._bench_options import (add_cfm_rows, add_quality_options, add_stage_options, add_suite_options, cfm_options,
                             finish, forced_onnxruntime, lengths_from, refuse_stage_options, run_stage_bench)
from ._common import PRECISIONS, add_command, add_weights_options


def register(sub) -> None:
    p = add_command(sub, "optimize", "export, build, quality-gate (with fallback), benchmark and report", run,
                    description="Export the vocoder, build a TensorRT engine, check its quality on real speech "
                                "against upstream's fp32 (falling back fp16 -> bf16 -> fp32 until one passes), "
                                "benchmark it beside upstream's eager modes, and write reports/<timestamp>/.")
    add_weights_options(p, version_required=False)
    p.add_argument("--precision", choices=PRECISIONS, default="fp16", help="precision to try first")
    p.add_argument("--no-fp32-islands", dest="islands", action="store_false",
                   help="fp16/bf16 graphs without fp32 islands (SnakeBeta, output conv)")
    p.add_argument("--trt", choices=("auto", "tensorrt", "rtx", "none"), default="auto",
                   help="TensorRT flavour for the engine; none: no engine (ONNX Runtime and PyTorch only)")
    p.add_argument("--work-dir", type=Path, default=Path("engines"),
                   help="where ONNX files and engines are written and reused (default engines/)")
    add_quality_options(p)
    add_suite_options(p)
    add_stage_options(p, stages=("vocoder", "cfm", "all"))


def run(args: argparse.Namespace) -> int:
    """--stage vocoder (default): the vocoder's chain; cfm: the CFM table (bench --stage cfm); all: both, the CFM
    table beside the vocoder's in one report."""
    from ..errors import GsvTrtError

    if args.stage == "cfm":
        return run_stage_bench(args)
    if args.vocoder is None:
        raise GsvTrtError("--version: required for --stage vocoder and all (v3 or v4)")
    if args.stage == "vocoder":
        refuse_stage_options(args)
    from ..bench.optimize import OptimizeOptions, optimize

    opts = OptimizeOptions(
        version=args.vocoder, precision=args.precision, weights=args.weights, gpt_sovits_root=args.gpt_sovits_root,
        audio=args.audio, clip_seconds=args.clip_seconds, work_dir=args.work_dir, device=args.device, bar=args.bar,
        trt=args.trt, islands=args.islands, lengths=lengths_from(args), quick=args.quick, repeats=args.repeats,
        warmup=args.warmup, max_batch=args.max_batch, runtimes=args.runtimes,
        force_onnxruntime=forced_onnxruntime(args))
    cfm = cfm_options(args) if args.stage == "all" else None  # checked before the vocoder's chain runs
    result = optimize(opts)
    report = result.to_dict()
    directory = finish(report, args.out_dir)
    if cfm is not None:
        from ..bench.cfm import run_cfm_bench

        add_cfm_rows(report, directory, run_cfm_bench(cfm))
    return 0 if result.chosen is not None else 1
