"""gsv-trt export: vocoder checkpoint -> ONNX (dynamic batch/frames, fp32 I/O)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import PRECISIONS, add_command, add_weights_options, load_from_args


def register(sub) -> None:
    p = add_command(sub, "export", "export a vocoder to ONNX", run)
    add_weights_options(p)
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="compute precision inside the graph")
    p.add_argument("--no-fp32-islands", dest="fp32_islands", action="store_false",
                   help="fp16/bf16: cast SnakeBeta and the output conv too (default keeps them fp32)")
    p.add_argument("--out", type=Path, required=True, help="output .onnx file")


def run(args: argparse.Namespace) -> int:
    from ..export.vocoder.exporter import export_onnx
    from ..export.metadata import read_metadata

    loaded = load_from_args(args)
    path = export_onnx(loaded, args.out, args.precision, args.fp32_islands)
    meta = read_metadata(path)
    size_mb = path.stat().st_size / 2**20
    print(f"wrote {path} ({size_mb:.1f} MiB): {meta['vocoder']} {meta['precision']}, "
          f"fp32 islands: {meta['fp32_islands'] or 'none'}, opset {meta['opset']}, {loaded.provenance}")
    return 0
