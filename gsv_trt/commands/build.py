"""``gsv-trt build X.onnx --out engines/NAME.plan``: a TensorRT engine and its sidecar from an exported ONNX.

Also home of the build options ``gsv-trt engine`` shares (profiles, TensorRT flavour, targets, workspace).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..errors import GsvTrtError
from ._common import add_command

UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20,
         "g": 2**30, "gb": 2**30, "gib": 2**30}


def parse_size(text: str) -> int:
    """``4GiB``, ``512M``, ``1073741824`` -> bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 4GiB, 512MiB or a byte count")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


def add_build_options(parser: argparse.ArgumentParser) -> None:
    """Options that shape the engine (all part of its cache key) and how it is built."""
    from ..build import profiles as p

    group = parser.add_argument_group("engine build")
    group.add_argument("--trt", choices=("auto", "tensorrt", "rtx"), default="auto",
                       help="TensorRT flavour: full TensorRT (builds on the GPU it targets), TensorRT-RTX (builds "
                            "ahead of time, no GPU needed), or auto: full TensorRT on a GPU if installed, else RTX")
    group.add_argument("--min-frames", type=int, default=None,
                       help=f"smallest T accepted (default {p.DEFAULT_MIN_FRAMES})")
    group.add_argument("--opt-frames", type=int, default=None,
                       help="T the engine is tuned for (default: one CFM chunk, 934 v3 / 1000 v4: the sequential "
                            "path's vocoder call and the CFM's chunk)")
    group.add_argument("--max-frames", type=int, default=None,
                       help=f"largest T accepted (default: vocoder {p.DEFAULT_MAX_FRAMES}, as GPT-SoVITS's batched "
                            f"path sends all chunks in one call; CFM {p.CFM_MAX_FRAMES}, one chunk, at most "
                            f"{p.CFM_POSITIONS})")
    group.add_argument("--max-batch", type=int, default=None,
                       help=f"largest batch (default {p.DEFAULT_MAX_BATCH}; GPT-SoVITS's tensorrt_max_batch_size): the "
                            "vocoder's 'short' profile, the CFM's 'batched' one")
    group.add_argument("--split-frames", type=int, default=None,
                       help=f"vocoder only: T at which the 'short' profile (batch up to --max-batch) hands over to the "
                            f"'long' one (batch 1); 0 = a single profile (default {p.DEFAULT_SPLIT_FRAMES})")
    group.add_argument("--workspace", type=parse_size, default=None, metavar="SIZE",
                       help="builder workspace memory-pool limit, e.g. 4GiB (default: TensorRT's)")
    group.add_argument("--target-cc", default="", metavar="LIST",
                       help="TensorRT-RTX target compute capabilities, e.g. 8.6,8.9 or 7.5 (Turing) or current "
                            "(default: TensorRT-RTX's own set 8.0/8.6/8.9/12.x)")
    group.add_argument("--tf32", action="store_true", help="let fp32 layers use TF32 (faster, less exact)")
    group.add_argument("--timing-cache", type=Path, default=None, metavar="PATH",
                       help="full TensorRT's persistent timing cache (default: tensorrt.timing.cache beside the "
                            "engine); TensorRT-RTX has none")
    group.add_argument("--no-timing-cache", action="store_true", help="build without a persistent timing cache")
    group.add_argument("--device", type=int, default=0, help="GPU index, when there is one")
    group.add_argument("--force", action="store_true",
                       help="rebuild (`engine`: and re-export) even when a matching engine exists, and replace files "
                            "made from other weights")
    group.add_argument("--verbose", action="store_true", help="show TensorRT's full log")


def profiles_from_args(args: argparse.Namespace, component: str, version: str):
    """The optimization profiles the frame and batch options select for an engine of ``component``."""
    from ..build import profiles as p

    def given(value, default):
        return default if value is None else value

    min_frames, max_batch = given(args.min_frames, p.DEFAULT_MIN_FRAMES), given(args.max_batch, p.DEFAULT_MAX_BATCH)
    if component == "vocoder":
        return p.make_profiles(min_frames, args.opt_frames, given(args.max_frames, p.DEFAULT_MAX_FRAMES), max_batch,
                               given(args.split_frames, p.DEFAULT_SPLIT_FRAMES))
    from ..models.cfm.config import CFM_SHAPES

    return p.cfm_profiles(CFM_SHAPES[version][1], min_frames, args.opt_frames, given(args.max_frames,
                          p.CFM_MAX_FRAMES), max_batch)


def options_from_args(args: argparse.Namespace, plan: Path, component: str, version: str):
    from ..build.builder import BuildOptions

    profiles = profiles_from_args(args, component, version)
    timing_cache = None if args.no_timing_cache else (args.timing_cache or plan.parent / "tensorrt.timing.cache")
    targets = tuple(cc.strip() for cc in args.target_cc.split(",") if cc.strip())
    return BuildOptions(trt=args.trt, profiles=tuple(profiles), workspace_bytes=args.workspace, target_ccs=targets,
                        tf32=args.tf32, timing_cache=timing_cache)


def check_build_options(args: argparse.Namespace, plan: Path, component: str, version: str):
    """The BuildOptions and GPU the arguments select; bad options and a missing TensorRT fail here, before any
    slow step."""
    from ..build.flavour import choose
    from ..runtime.cuda import gpu_info

    options = options_from_args(args, plan, component, version)
    gpu = gpu_info(args.device)
    choose(options.trt, gpu is not None)
    return options, gpu


def build_from_args(args: argparse.Namespace, onnx: Path, plan: Path) -> dict:
    """Build (or reuse) ``plan`` from ``onnx`` as the options say; warn when the result cannot run on this GPU."""
    from ..build.builder import cannot_run_note, ensure_engine
    from ..build.progress import BuildConsole
    from ..export.metadata import ANY, model_version, read_metadata

    meta = read_metadata(onnx, ANY)
    options, gpu = check_build_options(args, plan, meta["component"], model_version(meta))
    console = BuildConsole(verbose=args.verbose)
    sidecar, _ = ensure_engine(onnx, plan, options, gpu, console, force=args.force)
    note = cannot_run_note(sidecar, gpu)
    if note:
        console.say(note)
    return sidecar


def run(args: argparse.Namespace) -> int:
    onnx = Path(args.onnx)
    if not onnx.exists():
        raise GsvTrtError(f"{onnx}: no such file")
    plan = Path(args.out) if args.out else Path("engines") / onnx.with_suffix(".plan").name
    if plan.suffix != ".plan":
        raise GsvTrtError(f"{plan}: the engine file must end in .plan")
    build_from_args(args, onnx, plan)
    print(plan)
    print(plan.with_suffix(".json"))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_command(sub, "build", "build a TensorRT engine (.plan + .json sidecar) from an exported ONNX", run)
    parser.add_argument("onnx", help="ONNX written by `gsv-trt export`")
    parser.add_argument("--out", default=None, help="engine path (default: engines/<onnx name>.plan)")
    add_build_options(parser)
