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


STAGES = ("vocoder", "cfm", "synthesis")


def add_stage_options(parser: argparse.ArgumentParser, stages: tuple[str, ...] = STAGES) -> None:
    """--stage and what the CFM and synthesis suites take (bench/cfm.py, bench/synthesis.py)."""
    from ._common import add_cfm_weights_options

    group = parser.add_argument_group("CFM and synthesis stages")
    group.add_argument("--stage", choices=stages, default="vocoder",
                       help="what to measure: the vocoder (default), the CFM mel generator, or the whole v3/v4 "
                            "synthesis stage (front end, CFM, vocoder, crossfade); for these, --gpt-sovits-root is "
                            "the GPT-SoVITS checkout whose own code the upstream rows run, the weights come from "
                            "--sovits-weights and --weights (random by default)" + (
                                "; all: the vocoder and the CFM" if "all" in stages else ""))
    group.add_argument("--rows", default=None, metavar="LIST",
                       help="cfm: version:batch:frames:steps (default v4:1:1000:32,v3:1:934:32,v4:1:1000:8,"
                            "v4:4:1000:32); synthesis: version:seconds:steps (default v3 and v4, 10 and 30 s, 8 and 32 "
                            "steps); --version keeps the default rows of that version")
    group.add_argument("--modes", default=None, metavar="LIST",
                       help="cfm: upstream-fp16, upstream-fp32, upstream-compile-bf16, eager-fp32, eager-fp16, "
                            "torch-fast-fp16, torch-fast-bf16 (default all but eager-fp32; torch-fast-<precision> may end in "
                            "-cudnn, -cudnn-nlc, -unfold, -cudnnattn, -efficient, -noepi, -nograph); synthesis: "
                            "upstream-sequential, upstream-batched, sequential, batched, stream (default all)")
    group.add_argument("--upstream-repeats", type=positive_int, default=None, metavar="N",
                       help="timed calls of the eager modes (cfm: upstream's and ours, default 5; synthesis: "
                            "upstream's, default 3); torch-fast and our stage take --repeats")
    add_cfm_weights_options(parser, beside_vocoder=True)


def stage_version_rows(args: argparse.Namespace, default_rows: str) -> str:
    """--rows, or the default rows (of --version only, when given)."""
    if args.rows:
        return args.rows
    if args.vocoder is None:
        return default_rows
    return ",".join(r for r in default_rows.split(",") if r.startswith(args.vocoder + ":"))


def cfm_options(args: argparse.Namespace):
    """The CFM suite's options (bench/cfm.py), checked: one-line errors before any model loads."""
    from ..bench.cfm import DEFAULT_MODES, DEFAULT_ROWS, CfmBenchOptions, parse_modes, parse_rows

    return CfmBenchOptions(rows=parse_rows(stage_version_rows(args, DEFAULT_ROWS)),
                           modes=parse_modes(args.modes) if args.modes else DEFAULT_MODES,
                           sovits_weights=args.sovits_weights, lora_base=args.lora_base,
                           gpt_sovits_root=args.gpt_sovits_root, device=args.device, repeats=args.repeats,
                           upstream_repeats=args.upstream_repeats)


def synthesis_options(args: argparse.Namespace):
    """The synthesis suite's options (bench/synthesis.py), checked before any model loads."""
    from ..bench.synthesis import DEFAULT_MODES, DEFAULT_ROWS, SynthesisBenchOptions, parse_modes, parse_rows

    return SynthesisBenchOptions(rows=parse_rows(stage_version_rows(args, DEFAULT_ROWS)),
                                 modes=parse_modes(args.modes) if args.modes else DEFAULT_MODES,
                                 sovits_weights=args.sovits_weights, vocoder_weights=args.weights,
                                 lora_base=args.lora_base, gpt_sovits_root=args.gpt_sovits_root, device=args.device,
                                 repeats=args.repeats, upstream_repeats=args.upstream_repeats)


def run_stage_bench(args: argparse.Namespace) -> int:
    """``bench --stage cfm|synthesis``: the table on stdout, JSON lines and markdown in a new report directory."""
    from ..bench.stage_rows import print_rows, write_rows
    from ..errors import GsvTrtError
    from ..report.writer import new_report_dir

    refused = [name for name, given in (("--onnx", getattr(args, "onnx", [])), ("--engine", getattr(args, "engines", [])),
                                        ("--audio", args.audio), ("--lengths", args.lengths)) if given]
    if refused:
        raise GsvTrtError(f"{refused[0]}: applies to --stage vocoder only")
    if args.stage == "cfm":
        from ..bench.cfm import run_cfm_bench

        result = run_cfm_bench(cfm_options(args))
    else:
        from ..bench.synthesis import run_synthesis_bench

        result = run_synthesis_bench(synthesis_options(args))
    directory = new_report_dir(args.out_dir)
    write_rows(directory, args.stage, result)
    print_rows(result["title"], result["rows"], result["columns"], result["header"])
    print(f"report: {directory / (args.stage + '.md')} (+ {args.stage}.jsonl)")
    return 0


def refuse_stage_options(args: argparse.Namespace) -> None:
    """With the vocoder alone, options of the CFM and synthesis suites are refused in one line (not ignored)."""
    from ..errors import GsvTrtError

    for option, value in (("--rows", args.rows), ("--modes", args.modes), ("--upstream-repeats", args.upstream_repeats),
                          ("--sovits-weights", None if args.sovits_weights == "random" else args.sovits_weights),
                          ("--lora-base", args.lora_base)):
        if value is not None:
            raise GsvTrtError(f"{option}: applies to the CFM and synthesis stages only (this run measures the vocoder)")


def add_cfm_rows(report: dict, directory: Path, cfm: dict) -> None:
    """The CFM table beside the vocoder's in an optimize report: cfm.jsonl, cfm.md, a section of report.md and
    ``report.json``'s "cfm" key, and the table on stdout."""
    import json

    from ..bench.stage_rows import markdown_rows, print_rows, write_rows
    from ..report.writer import _json_safe

    write_rows(directory, "cfm", cfm)
    report["cfm"] = cfm
    (directory / "report.json").write_text(json.dumps(_json_safe(report), indent=1) + "\n")
    with open(directory / "report.md", "a") as f:
        f.write("\n" + "\n".join(markdown_rows("CFM mel generator", cfm["rows"], cfm["columns"], cfm["header"],
                                               level="##")))
    print_rows(cfm["title"], cfm["rows"], cfm["columns"], cfm["header"])


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
