"""Options ``gsv-trt quality``, ``bench`` and ``optimize`` share: inputs, device, quality bar, suite sizes."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import non_negative_int, positive_float, positive_int

# bench.suite.RUNTIME_NAMES, spelled out here so that `gsv-trt --help` does not import torch (tests check they agree)
RUNTIMES = ("torch-eager", "onnxruntime", "tensorrt", "torch-fast")
ALIASES = {"torch": "torch-fast", "trt": "tensorrt", "ort": "onnxruntime"}


def runtimes_list(text: str) -> tuple[str, ...]:
    names = tuple(ALIASES.get(n.strip(), n.strip()) for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in RUNTIMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a comma list of {', '.join(RUNTIMES)}")
    return names


def add_quality_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("quality")
    group.add_argument("--audio", type=Path, nargs="+", default=[], metavar="WAV",
                       help="your own speech files (any rate, mono or stereo); default: the bundled LibriTTS clip")
    group.add_argument("--clip-seconds", type=positive_float, default=None, metavar="S",
                       help="use only the first S seconds of each clip (faster on a CPU)")
    group.add_argument("--bar", choices=("auto", "shipped", "live"), default="auto",
                       help="the quality bar: 'live' measures upstream's eager fp16 vs fp32 on the same clips and "
                            "weights now (GPU), 'shipped' uses gsv_trt/data/thresholds.json; auto: live on a GPU")
    group.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                       help="where PyTorch runs (reference and eager modes); auto: the GPU if there is one")


def add_suite_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("benchmark")
    group.add_argument("--lengths", default=None, metavar="LIST",
                       help="audio lengths: short (1 s), chunk (upstream's 934/1000 frames, ~10 s), long (60 s) or "
                            "seconds, e.g. short,chunk,long or 0.5,2; default: short,2,5,chunk,20,long on a GPU, "
                            "short,3,chunk on a CPU")
    group.add_argument("--repeats", type=positive_int, default=None,
                       help="timed calls per length (default 20 GPU, 5 CPU; a verdict needs a difference larger than "
                            "their spread)")
    group.add_argument("--warmup", type=non_negative_int, default=None,
                       help="warm-up calls per length, timed but kept out of the statistics (default 3 GPU, 1 CPU)")
    group.add_argument("--max-batch", type=positive_int, default=None,
                       help="throughput up to this batch (default 8 GPU, 1 CPU)")
    group.add_argument("--runtimes", type=runtimes_list, default=RUNTIMES, metavar="LIST",
                       help=f"which runtimes to run (default all: {','.join(RUNTIMES)}; 'torch' = torch-fast, "
                            "'trt' = tensorrt); naming onnxruntime on a "
                            "GPU machine runs it even without its CUDA provider")
    group.add_argument("--quick", action="store_true",
                       help="smoke run: one 0.25 s length, 2 repeats, 1 s quality clips")
    group.add_argument("--out-dir", type=Path, default=Path("reports"), help="reports go to OUT_DIR/<timestamp>/")


def lengths_from(args: argparse.Namespace):
    from ..bench.suite import parse_lengths

    return parse_lengths(args.lengths) if args.lengths else None


def forced_onnxruntime(args: argparse.Namespace) -> bool:
    """--runtimes given explicitly with onnxruntime in it: the user asked for it even where it is CPU-only."""
    return args.runtimes is not RUNTIMES and "onnxruntime" in args.runtimes


def finish(report: dict, out_dir: Path) -> Path:
    """Write the report files and print the terminal summary; the report directory."""
    from ..report.summary import print_summary
    from ..report.writer import write_report

    directory = write_report(report, out_dir)
    print_summary(report)
    print(f"report: {directory / 'report.md'} (+ report.json, {', '.join(report['plots']) or 'no plots'})")
    return directory
