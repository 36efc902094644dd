"""gsv-trt export: vocoder checkpoint or SoVITS CFM -> ONNX (dynamic batch/frames, fp32 I/O).

The CFM is two graphs: ``--out`` names the step graph, the conditioner goes beside it (``...cfm-step...`` ->
``...cfm-condition...``, any other name ``<stem>-condition.onnx``); each names the other in its metadata.
"""

from __future__ import annotations

import argparse

from ._common import (PRECISIONS, add_cfm_weights_options, add_command, add_weights_options, load_cfm_from_args,
                      load_from_args, output_file)


def register(sub) -> None:
    p = add_command(sub, "export", "export a vocoder or the CFM to ONNX", run)
    add_weights_options(p)
    add_cfm_weights_options(p, beside_vocoder=True)
    p.add_argument("--stage", choices=("vocoder", "cfm"), default="vocoder",
                   help="what to export: the vocoder, or the CFM's two graphs (conditioner and step)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="compute precision inside the graph")
    p.add_argument("--no-fp32-islands", dest="fp32_islands", action="store_false",
                   help="fp16/bf16: no fp32 islands (vocoder: SnakeBeta and the output conv are kept fp32 by "
                        "default; CFM: see --cfm-fp32-islands)")
    p.add_argument("--cfm-fp32-islands", default=None, metavar="LIST",
                   help="fp16/bf16: the CFM's fp32 islands, from norm,adaln,rope,softmax,grn,mish "
                        "(default: all but mish at fp16, all at bf16; 'none' for none)")
    p.add_argument("--out", type=output_file(".onnx"), required=True,
                   help="output .onnx file (the CFM: its step graph; the conditioner is written beside it)")
    p.add_argument("--force", action="store_true", help="replace an .onnx exported from other weights")


def run(args: argparse.Namespace) -> int:
    from ..export.metadata import read_metadata
    from ..build.engines import guard_replacement
    from .engine import cfm_islands

    if args.stage == "cfm":
        return export_cfm(args, cfm_islands(args))
    loaded = load_from_args(args)
    guard_replacement(args.out, loaded.weights, loaded.weights_sha256, args.force)
    from ..export.vocoder.exporter import export_onnx

    path = export_onnx(loaded, args.out, args.precision, args.fp32_islands)
    meta = read_metadata(path)
    size_mb = path.stat().st_size / 2**20
    print(f"wrote {path} ({size_mb:.1f} MiB): {meta['vocoder']} {meta['precision']}, "
          f"fp32 islands: {meta['fp32_islands'] or 'none'}, opset {meta['opset']}, {loaded.provenance}")
    return 0


def export_cfm(args: argparse.Namespace, islands: tuple[str, ...]) -> int:
    from ..export.cfm.exporter import export_cfm as export, pair_paths
    from ..export.metadata import CFM_COMPONENTS, read_metadata
    from ..build.engines import guard_replacement

    pair_paths(args.out)  # a bad name fails before the model loads
    loaded = load_cfm_from_args(args, args.vocoder)
    for path in pair_paths(args.out):
        guard_replacement(path, loaded.weights, loaded.weights_sha256, args.force)
    for path in export(loaded, args.out, args.precision, islands):
        meta = read_metadata(path, CFM_COMPONENTS)
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB): {meta['version']} {meta['component']} "
              f"{meta['precision']}, fp32 islands: {meta['fp32_islands'] or 'none'}, opset {meta['opset']}, "
              f"{loaded.provenance}")
    return 0
