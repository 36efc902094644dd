"""``gsv-trt engine --version v3|v4 --precision fp32|fp16|bf16``: export -> check -> build in one step, cached.

Leaves ``OUT_DIR/gpt-sovits-VERSION-vocoder-PRECISION.{onnx,plan,json}``. The ONNX is reused when its metadata
says it holds the same weights, precision and fp32 islands from this gsv-trt version (a graph that fails the
check is deleted, so a reused one passed it, unless it was exported with --no-check); the engine is reused when
its sidecar's build inputs match. ``make engine`` calls this.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import GsvTrtError
from ._common import PRECISIONS, add_command, add_weights_options, load_from_args
from .build import add_build_options, build_from_args, check_build_options


def engine_stem(version: str, precision: str) -> str:
    return f"gpt-sovits-{version}-vocoder-{precision}"


def onnx_is_current(onnx: Path, wanted: dict[str, str]) -> bool:
    """Whether ``onnx`` was exported from the same weights, precision and islands by this gsv-trt version."""
    from ..export.metadata import read_metadata

    if not onnx.exists():
        return False
    try:
        meta = read_metadata(onnx)
    except GsvTrtError:
        return False
    return all(meta.get(k) == v for k, v in wanted.items())


def run(args: argparse.Namespace) -> int:
    from .. import __version__
    from ..export.vocoder.check import check_onnx
    from ..export.vocoder.exporter import export_onnx
    from ..export.vocoder.precision import islands_for

    out_dir = Path(args.out_dir)
    stem = engine_stem(args.vocoder, args.precision)
    onnx, plan = out_dir / f"{stem}.onnx", out_dir / f"{stem}.plan"
    check_build_options(args, plan, "vocoder", args.vocoder)
    loaded = load_from_args(args)
    wanted = {"gsv_trt_version": __version__, "vocoder": args.vocoder, "precision": args.precision,
              "fp32_islands": ",".join(islands_for(args.vocoder, args.precision, args.fp32_islands)),
              "weights_sha256": loaded.weights_sha256}
    if onnx_is_current(onnx, wanted) and not args.force:
        print(f"reusing exported {onnx} (same weights, precision and fp32 islands)", file=sys.stderr)
    else:
        print(f"exporting {onnx}", file=sys.stderr)
        export_onnx(loaded, onnx, args.precision, args.fp32_islands)
        if args.no_check:
            print("note: --no-check: the graph was not compared with PyTorch", file=sys.stderr)
        elif not check_onnx(onnx, log=lambda line: print(line, file=sys.stderr)):
            onnx.unlink()
            raise GsvTrtError(f"{onnx}: the exported graph does not match the PyTorch model (see above); "
                              "no engine built")
    sidecar = build_from_args(args, onnx, plan)
    if loaded.is_random:
        print(f"note: this engine holds {loaded.provenance}; pass --weights or --gpt-sovits-root for a real one",
              file=sys.stderr)
    print(f"engine: {plan}")
    print(f"sidecar: {plan.with_suffix('.json')}")
    print(f"tensorrt: {sidecar['tensorrt']['flavour']} {sidecar['tensorrt']['version']}, compute capability "
          f"{', '.join(sidecar['targets']['compute_capabilities'])}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_command(sub, "engine", "export -> check -> build a vocoder engine (cached; what `make engine` runs)",
                         run)
    add_weights_options(parser)
    parser.add_argument("--precision", choices=PRECISIONS, default="fp16", help="compute precision of the engine")
    parser.add_argument("--no-fp32-islands", dest="fp32_islands", action="store_false",
                        help="fp16/bf16: cast SnakeBeta and the output conv too (default keeps them fp32)")
    parser.add_argument("--out-dir", default="engines", help="where the .onnx, .plan and .json go")
    parser.add_argument("--no-check", action="store_true",
                        help="skip comparing the exported graph with PyTorch (ONNX-Runtime on the CPU)")
    add_build_options(parser)
